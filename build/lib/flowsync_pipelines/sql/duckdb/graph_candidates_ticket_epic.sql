-- Ticket -> epic: the tracker's parent field (Jira parent epic, Linear project), g_ticket_parent
-- holding the parent's node id.
WITH epics AS (
    SELECT 'ticket:' || ticket_key AS node_id, lower(issue_type) = 'epic' AS is_epic, first_event
    FROM g_ticket
    UNION ALL
    SELECT 'epic:' || entity_id, true, arg_min(event_id, (occurred_at, event_id))
    FROM signals WHERE entity_type = 'project'
    GROUP BY entity_id
)
SELECT
    'ticket:' || tp.ticket_key AS src,
    tp.parent_key AS dst,
    'parent_field' AS method,
    list_filter([tp.event_id, e.first_event], x -> x IS NOT NULL) AS evidence,
    1.0 AS f_parent_field,
    CAST(coalesce(e.is_epic, false) AS DOUBLE) AS f_parent_is_epic,
    CAST(e.node_id IS NOT NULL AS DOUBLE) AS f_parent_seen
FROM g_ticket_parent AS tp
LEFT JOIN epics AS e ON e.node_id = tp.parent_key
WHERE tp.parent_key IS NOT NULL AND tp.parent_key <> 'ticket:' || tp.ticket_key
