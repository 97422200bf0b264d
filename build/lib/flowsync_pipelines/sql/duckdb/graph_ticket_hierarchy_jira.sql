-- Parent (epic) and sprints of each Jira issue from its newest landed record (_jira_issues,
-- registered by the caller: polled issues, or issue webhook deliveries, whose issue sits under
-- "issue"), with the issue's latest event as evidence. $sprint_field is the Jira field id of
-- Sprint.
WITH issue AS (
    SELECT coalesce(payload->'issue', payload) AS doc FROM _jira_issues
),
doc AS (
    SELECT
        doc->>'key' AS ticket_key,
        'ticket:' || (doc->'fields'->'parent'->>'key') AS parent_key,
        CAST(json_extract_string(doc->'fields'->$sprint_field, '$[*].id') AS VARCHAR[])
            AS sprints
    FROM issue
    WHERE doc->>'key' IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY doc->>'key' ORDER BY doc->'fields'->>'updated' DESC NULLS LAST) = 1
),
latest AS (
    SELECT entity_id, arg_max(event_id, (occurred_at, event_id)) AS event_id
    FROM signals WHERE entity_type = 'ticket' GROUP BY entity_id
)
SELECT d.ticket_key, d.parent_key, d.sprints, l.event_id
FROM doc AS d
LEFT JOIN latest AS l ON l.entity_id = d.ticket_key
WHERE d.ticket_key IS NOT NULL
