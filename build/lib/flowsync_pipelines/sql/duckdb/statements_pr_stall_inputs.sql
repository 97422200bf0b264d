-- Pull requests as the pr_will_stall model reads them: when each opened and ended (merged or
-- closed), its author, repository, draft flag, the distinct files its commits (links of at least
-- $min_link_confidence) changed by the time it opened, and its opening event and URL. Reviews
-- come from st_review. Only events before $window_end are read.
SELECT
    p.entity_id, p.repository, p.author, p.opened_at,
    CASE WHEN least(p.merged_at, p.closed_at) < CAST($window_end AS TIMESTAMPTZ)
         THEN least(p.merged_at, p.closed_at) END AS ended_at,
    coalesce((SELECT bool_or(CAST(s.attributes->>'draft' AS BOOLEAN)) FROM signals AS s
              WHERE s.event_id = p.opened_event), false) AS draft,
    coalesce((SELECT len(list_distinct(flatten(list(CAST(c.attributes->'files' AS VARCHAR[])))))
              FROM st_edge AS e JOIN signals AS c ON c.entity_type = 'commit' AND c.entity_id = e.src_id
              WHERE e.link_type = 'commit_pr' AND e.dst_id = p.entity_id
                AND e.confidence >= $min_link_confidence AND c.occurred_at <= p.opened_at
                AND (c.attributes->'files') IS NOT NULL), 0) AS files_at_open,
    p.opened_event, p.url,
    (SELECT min(team) FROM st_repo_team AS t WHERE t.repository = p.repository) AS team
FROM st_pr AS p
WHERE p.opened_at IS NOT NULL AND p.opened_at < CAST($window_end AS TIMESTAMPTZ)
ORDER BY p.entity_id
