-- Ticket -> sprint: the tracker's sprint field (every sprint the ticket was planned into).
WITH sprints AS (
    SELECT entity_id, min(occurred_at) AS started_at, arg_min(event_id, (occurred_at, event_id)) AS event_id
    FROM signals WHERE entity_type = 'sprint' GROUP BY entity_id
)
SELECT
    'ticket:' || ts.ticket_key AS src,
    'sprint:' || ts.sprint_id AS dst,
    'sprint_field' AS method,
    list_filter([ts.event_id, s.event_id], x -> x IS NOT NULL) AS evidence,
    1.0 AS f_sprint_field,
    CAST(s.entity_id IS NOT NULL AS DOUBLE) AS f_sprint_seen,
    CAST(coalesce(s.started_at, TIMESTAMPTZ '9999-01-01') = max(coalesce(s.started_at,
         TIMESTAMPTZ '9999-01-01')) OVER (PARTITION BY ts.ticket_key) AS DOUBLE) AS f_latest_sprint
FROM g_ticket_sprint AS ts
LEFT JOIN sprints AS s ON s.entity_id = ts.sprint_id
