-- Product manager: what shipped (ticket_shipped), predicted and inferred risks to delivery, and
-- design feedback with its ticket, per team and day. Statement text is left out: it may name a
-- pseudonym, and this view holds no person.
INSERT INTO pm_items
WITH shipped AS (
    SELECT s.team, s.as_of_date, s.subject_id,
        max(s.confidence) AS confidence,
        arg_max(s.band, (s.confidence, s.statement_id)) AS band,
        arg_max(s.statement_id, (s.confidence, s.statement_id)) AS statement_id
    FROM statements AS s JOIN st_days AS d ON d.as_of_date = s.as_of_date
    WHERE s.kind = 'ticket_shipped' AND s.team IS NOT NULL
    GROUP BY ALL
),
risks AS (
    -- One risk per subject, the most confident: an epic is a ticket too, so it can be both
    -- at risk (epic_at_risk) and stalled (ticket_blocked) on a day.
    SELECT s.team, s.as_of_date, s.subject_id,
        arg_max(s.subject_type, (s.confidence, s.statement_id)) AS subject_type,
        arg_max(s.kind, (s.confidence, s.statement_id)) AS kind,
        max(s.confidence) AS confidence,
        arg_max(s.band, (s.confidence, s.statement_id)) AS band,
        arg_max(s.statement_id, (s.confidence, s.statement_id)) AS statement_id,
        arg_max(s.citations[1], (s.confidence, s.statement_id)) AS url
    FROM statements AS s JOIN st_days AS d ON d.as_of_date = s.as_of_date
    WHERE s.team IS NOT NULL
      AND s.kind IN ('sprint_at_risk', 'epic_at_risk', 'ticket_blocked', 'ticket_reopened')
    GROUP BY s.team, s.as_of_date, s.subject_id
),
feedback AS (
    SELECT d.as_of_date, e.src_id AS comment_id, e.dst_id AS ticket_id, e.confidence, c.url
    FROM signals AS c
    JOIN st_days AS d ON c.occurred_at >= d.day_start AND c.occurred_at < d.as_of
    JOIN st_edge AS e ON e.link_type = 'design_ticket' AND e.src_id = c.entity_id
    WHERE c.entity_type = 'design_comment' AND c.action = 'commented'
)
SELECT s.team, s.as_of_date, 'shipped', s.subject_id, s.subject_id, t.title, t.url,
    'ticket_shipped', s.confidence, s.band, s.statement_id
FROM shipped AS s LEFT JOIN rv_ticket AS t ON t.ticket_id = s.subject_id
UNION ALL
SELECT r.team, r.as_of_date, 'risk', r.subject_id,
    CASE WHEN r.subject_type = 'ticket' THEN r.subject_id END,
    coalesce(t.title, n.title), coalesce(t.url, r.url), r.kind, r.confidence, r.band, r.statement_id
FROM risks AS r
LEFT JOIN rv_ticket AS t ON t.ticket_id = r.subject_id
LEFT JOIN graph_nodes AS n ON n.node_id = r.subject_type || ':' || r.subject_id
UNION ALL
SELECT t.team, f.as_of_date, 'design_feedback', any_value(f.comment_id), f.ticket_id, any_value(t.title),
    any_value(f.url), 'design_comment', max(f.confidence),
    CASE WHEN max(f.confidence) >= $band_high THEN 'high'
        WHEN max(f.confidence) >= $band_medium THEN 'medium' ELSE 'low' END,
    NULL
FROM feedback AS f JOIN rv_ticket AS t ON t.ticket_id = f.ticket_id
WHERE t.team IS NOT NULL
GROUP BY t.team, f.as_of_date, f.ticket_id, f.comment_id;
