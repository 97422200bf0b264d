-- Tickets of plans -- sprints (link $link_type = 'ticket_sprint': the tracker's sprint field) or
-- epics ('ticket_epic': Jira's parent epic, Linear's project) -- as the graph's links of at
-- least $min_link_confidence, each with when it was created, and every status event of those
-- tickets before $window_end: plan_id, ticket_id, created_at, occurred_at, category, event_id,
-- url (one row per status event).
WITH member AS (
    SELECT DISTINCT dst_id AS plan_id, src_id AS ticket_id
    FROM st_edge
    WHERE link_type = $link_type AND confidence >= $min_link_confidence
), ticket AS (
    SELECT entity_id, min(occurred_at) AS created_at
    FROM st_ticket_event
    WHERE occurred_at < CAST($window_end AS TIMESTAMPTZ)
    GROUP BY entity_id
)
SELECT m.plan_id, m.ticket_id, t.created_at, e.occurred_at, e.category, e.event_id, e.url
FROM member AS m
JOIN ticket AS t ON t.entity_id = m.ticket_id
JOIN st_ticket_event AS e ON e.entity_id = m.ticket_id
WHERE e.occurred_at < CAST($window_end AS TIMESTAMPTZ)
ORDER BY m.plan_id, m.ticket_id, e.occurred_at, e.event_id
