-- One node per entity seen in signals, with the time of its latest event (its partition).
-- Node ids are "<kind namespace>:<entity id>", except people: a person node's id is the person's
-- bare pseudonym (from identities, flowsync.yaml, or the account itself), so that erasing a
-- person (flowsync gdpr forget) removes their node and edges from DuckDB and Neo4j.
SELECT 'pull_request:' || entity_id AS node_id, 'pull_request' AS kind, title, url,
       last_at AS changed_at
FROM g_pr
UNION ALL
SELECT 'commit:' || repository || '@' || sha, 'commit', title, url, last_at FROM g_commit
UNION ALL
SELECT 'ci_run:' || entity_id, 'ci_run', title, url, last_at FROM g_ci
UNION ALL
SELECT 'deployment:' || entity_id, 'deployment', service || ' to ' || coalesce(environment, '?'),
       url, last_at
FROM g_deploy
UNION ALL
SELECT 'ticket:' || ticket_key, CASE WHEN lower(issue_type) = 'epic' THEN 'epic' ELSE 'ticket' END,
       title, url, last_at
FROM g_ticket
UNION ALL
SELECT 'incident:' || entity_id, 'incident', title, url, last_at FROM g_incident
UNION ALL
SELECT 'design_comment:' || entity_id, 'design_comment', left(message, 200), url, last_at
FROM g_design
UNION ALL
SELECT 'sprint:' || entity_id, 'sprint', arg_max(title, (occurred_at, event_id)), arg_max(url, (occurred_at, event_id)),
       max(occurred_at)
FROM signals WHERE entity_type = 'sprint'
GROUP BY entity_id
UNION ALL
-- Linear projects play the part of epics.
SELECT 'epic:' || entity_id, 'epic', arg_max(title, (occurred_at, event_id)), arg_max(url, (occurred_at, event_id)),
       max(occurred_at)
FROM signals WHERE entity_type = 'project'
GROUP BY entity_id
UNION ALL
SELECT person, 'person', NULL, NULL, NULL
FROM (SELECT author_person AS person FROM g_pr
      UNION SELECT person FROM g_commit
      UNION SELECT person FROM g_ticket_move
      UNION SELECT person FROM g_team_member
      UNION SELECT coalesce(ap.person, s.actor) FROM signals AS s
            LEFT JOIN g_actor_person AS ap ON ap.actor = s.actor
            WHERE s.entity_type = 'review')
WHERE person IS NOT NULL
UNION ALL
SELECT 'team:' || team, 'team', team, NULL, NULL
FROM (SELECT team FROM g_team_repo UNION SELECT team FROM g_team_scope
      UNION SELECT team FROM g_team_member)
UNION ALL
SELECT 'repo:' || repository, 'repo', repository, NULL, NULL
FROM (SELECT repository FROM g_pr UNION SELECT repository FROM g_team_repo)
WHERE repository IS NOT NULL
