-- Edges read straight off events (confidence 1.0): who authored and reviewed what, where a pull
-- request lives, which team owns which repository (flowsync.yaml). People are nodes keyed by
-- their bare pseudonym (see graph_entity_nodes.sql).
SELECT 'AUTHORED' AS edge_type, author_person AS src, 'pull_request:' || entity_id AS dst,
       'event_actor' AS method, [opened_event] AS evidence
FROM g_pr WHERE author_person IS NOT NULL
UNION ALL
SELECT 'AUTHORED', person, 'commit:' || repository || '@' || sha, 'event_actor',
       [event_id]
FROM g_commit WHERE person IS NOT NULL AND NOT is_merge
UNION ALL
SELECT 'REVIEWED', coalesce(ap.person, s.actor),
       'pull_request:' || s.repository || '#' || CAST(s.pr_number AS VARCHAR), 'event_actor',
       list(s.event_id ORDER BY s.occurred_at, s.event_id)
FROM signals AS s
LEFT JOIN g_actor_person AS ap ON ap.actor = s.actor
WHERE s.entity_type = 'review' AND s.actor IS NOT NULL AND s.pr_number IS NOT NULL
  AND EXISTS (SELECT 1 FROM g_pr AS pr
              WHERE pr.entity_id = s.repository || '#' || CAST(s.pr_number AS VARCHAR))
GROUP BY ALL
UNION ALL
SELECT 'IN_REPO', 'pull_request:' || entity_id, 'repo:' || repository, 'event_field', [opened_event]
FROM g_pr WHERE repository IS NOT NULL
UNION ALL
SELECT 'OWNS', 'team:' || team, 'repo:' || repository, 'configured', []
FROM g_team_repo
