-- After statements_prepare (the statements' own inputs; role views do not read it).
-- Each pull request's activity: its own events, its reviews, and the commits the
-- graph links to it with at least $min_link_confidence.
CREATE OR REPLACE TEMP TABLE st_pr_activity AS
SELECT p.entity_id AS pr_id, s.occurred_at, s.event_id
FROM st_pr AS p
JOIN signals AS s ON (s.entity_type = 'pull_request' AND s.entity_id = p.entity_id)
    OR (s.entity_type = 'review' AND s.repository = p.repository AND s.pr_number = p.pr_number)
UNION ALL
SELECT e.dst_id, c.occurred_at, c.event_id
FROM st_edge AS e JOIN signals AS c ON c.entity_type = 'commit' AND c.entity_id = e.src_id
WHERE e.link_type = 'commit_pr' AND e.confidence >= $min_link_confidence;
