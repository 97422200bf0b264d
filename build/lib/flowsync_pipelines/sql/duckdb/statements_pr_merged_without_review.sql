-- Fact: a pull request merged during the day with no human review (other than its author's)
-- before the merge.
SELECT
    d.as_of_date,
    t.team,
    'pull_request' AS subject_type, p.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({merged_at: strftime(p.merged_at, '%Y-%m-%dT%H:%M:%SZ'), author: p.author}) AS params,
    1.0 AS confidence,
    [p.merged_event, p.opened_event] AS evidence,
    [p.url] AS citations
FROM st_pr AS p
JOIN st_days AS d ON p.merged_at >= d.day_start AND p.merged_at < d.as_of
LEFT JOIN st_repo_team AS t ON t.repository = p.repository
WHERE p.opened_event IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM st_review AS r WHERE r.pr_id = p.entity_id AND r.occurred_at <= p.merged_at)
