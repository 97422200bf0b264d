-- Engineering manager: the day's blocked items (ticket_blocked) and risks (predicted and
-- inferred statements about what may go wrong), one row per statement.
INSERT INTO em_attention
SELECT s.team, s.as_of_date,
    CASE WHEN s.kind = 'ticket_blocked' THEN 'blocked' ELSE 'risk' END,
    s.statement_id, s.kind, s.subject_id, s.confidence, s.band, s.text
FROM statements AS s
JOIN st_days AS d ON d.as_of_date = s.as_of_date
WHERE s.team IS NOT NULL AND s.kind IN ('ticket_blocked', 'pr_will_stall', 'sprint_at_risk',
    'epic_at_risk', 'incident_slow_to_restore', 'incident_caused_by_deployment',
    'ci_failing_default_branch', 'pr_waiting_for_review');
