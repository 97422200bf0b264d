-- Fact: a pull request open at the end of the day with no human first review after
-- $review_wait_hours working hours (Monday to Friday, UTC) since it was opened. A pull request
-- without activity (st_pr_activity) for $stale_days days is abandoned, not waiting: not stated.
SELECT
    d.as_of_date,
    t.team,
    'pull_request' AS subject_type, p.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({working_hours: round((st_working_s(d.as_of) - st_working_s(p.opened_at)) / 3600.0, 1),
             opened_at: strftime(p.opened_at, '%Y-%m-%dT%H:%M:%SZ'), author: p.author}) AS params,
    1.0 AS confidence,
    [p.opened_event] AS evidence,
    [p.url] AS citations
FROM st_pr AS p
JOIN st_days AS d ON p.opened_at < d.as_of
    AND coalesce(p.merged_at, p.closed_at, TIMESTAMPTZ '9999-12-31') >= d.as_of
ASOF JOIN st_pr_activity AS a ON a.pr_id = p.entity_id AND a.occurred_at < d.as_of
LEFT JOIN st_repo_team AS t ON t.repository = p.repository
WHERE a.occurred_at >= d.as_of - to_days(CAST($stale_days AS INTEGER))
  AND (st_working_s(d.as_of) - st_working_s(p.opened_at)) >= $review_wait_hours * 3600
  AND NOT EXISTS (SELECT 1 FROM st_review AS r WHERE r.pr_id = p.entity_id AND r.occurred_at < d.as_of)
