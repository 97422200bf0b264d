-- Deployment -> the commits it shipped: the default-branch merges after the highest position an
-- earlier successful deploy of the same repository and environment reached, up to the deployed
-- sha, plus the commits of those merges' pull requests (through g_link_commit_pr).
WITH
dep AS (
    SELECT d.*, c.committed_at AS pos
    FROM g_deploy AS d
    JOIN g_commit AS c ON c.repository = d.repository AND c.sha = d.sha
    WHERE d.sha IS NOT NULL
),
high_water AS (
    SELECT d.entity_id, max(p.pos) AS prev_pos, count(p.entity_id) AS n_prev
    FROM dep AS d
    LEFT JOIN dep AS p
      ON p.repository = d.repository AND p.environment = d.environment AND p.succeeded
     AND p.created_at < d.created_at
    GROUP BY d.entity_id
),
merges AS (
    SELECT d.entity_id AS dep_id, m.repository, m.sha, m.event_id,
           h.n_prev = 0 AS first_deploy, d.succeeded, d.first_event, d.success_event
    FROM dep AS d
    JOIN high_water AS h USING (entity_id)
    JOIN g_commit AS m
      ON m.repository = d.repository AND m.is_merge AND m.committed_at <= d.pos
     AND (h.prev_pos IS NULL OR m.committed_at > h.prev_pos)
),
sized AS (
    SELECT *, count(*) OVER (PARTITION BY dep_id) AS range_size FROM merges
),
shipped AS (
    SELECT dep_id, repository, sha, true AS direct, 1.0 AS commit_pr_conf, first_deploy,
           succeeded, range_size, [first_event, success_event, event_id] AS evidence
    FROM sized
    UNION ALL
    SELECT s.dep_id, c.repository, c.sha, false, lc.confidence, s.first_deploy, s.succeeded,
           s.range_size, [s.first_event, s.success_event, s.event_id, c.event_id]
    FROM sized AS s
    JOIN g_link_commit_pr AS lm ON lm.src = 'commit:' || s.repository || '@' || s.sha
    JOIN g_link_commit_pr AS lc ON lc.dst = lm.dst AND lc.src <> lm.src
    JOIN g_commit AS c ON lc.src = 'commit:' || c.repository || '@' || c.sha
    WHERE NOT c.is_merge
)
SELECT
    'deployment:' || dep_id AS src,
    'commit:' || repository || '@' || sha AS dst,
    CASE WHEN direct THEN 'deploy_range' ELSE 'deploy_range_via_pull_request' END AS method,
    list_filter(min(evidence), x -> x IS NOT NULL) AS evidence,
    CAST(bool_or(direct) AS DOUBLE) AS f_direct,
    max(commit_pr_conf) AS f_commit_pr_conf,
    CAST(bool_or(first_deploy) AS DOUBLE) AS f_first_deploy,
    CAST(bool_or(succeeded) AS DOUBLE) AS f_success,
    ln(max(range_size)) AS f_range_size
FROM shipped
GROUP BY dep_id, repository, sha, direct
