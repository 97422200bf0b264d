-- Fact: a ticket moved out of a done status during the day (reopened).
WITH moves AS (
    SELECT entity_id, occurred_at, event_id, url, status, category,
        lag(category) OVER (PARTITION BY entity_id ORDER BY occurred_at, event_id) AS previous
    FROM st_ticket_event
)
SELECT
    d.as_of_date,
    any_value(t.team) AS team,
    'ticket' AS subject_type, m.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({reopened_at: strftime(max(m.occurred_at), '%Y-%m-%dT%H:%M:%SZ'),
             status: arg_max(m.status, m.occurred_at)}) AS params,
    1.0 AS confidence,
    list(m.event_id ORDER BY m.occurred_at, m.event_id) AS evidence,
    [any_value(m.url)] AS citations
FROM moves AS m
JOIN st_days AS d ON m.occurred_at >= d.day_start AND m.occurred_at < d.as_of
LEFT JOIN st_ticket_team AS t ON t.entity_id = m.entity_id
WHERE m.previous = 'done' AND m.category <> 'done'
GROUP BY d.as_of_date, m.entity_id
