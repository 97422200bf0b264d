-- CI run -> the commit it built: the run reports its head sha. The commit may be known only
-- from the run (a branch commit never merged), then the commit node is a stub.
SELECT
    'ci_run:' || ci.entity_id AS src,
    'commit:' || ci.repository || '@' || ci.sha AS dst,
    'head_sha' AS method,
    list_filter([ci.first_event, c.event_id], x -> x IS NOT NULL) AS evidence,
    CAST(c.sha IS NOT NULL AS DOUBLE) AS f_commit_seen
FROM g_ci AS ci
LEFT JOIN g_commit AS c ON c.repository = ci.repository AND c.sha = ci.sha
WHERE ci.sha IS NOT NULL AND ci.repository IS NOT NULL
