-- Person -> team: membership in flowsync.yaml (g_team_member), and where a person's work lands:
-- pull requests, commits and reviews in a team's repositories, moves of a team's tickets.
WITH
activity AS (
    SELECT pr.author_person AS person, tr.team, pr.opened_event AS event_id, pr.opened_at AS happened_at
    FROM g_pr AS pr JOIN g_team_repo AS tr USING (repository)
    UNION ALL
    SELECT c.person, tr.team, c.event_id, c.committed_at
    FROM g_commit AS c JOIN g_team_repo AS tr USING (repository)
    WHERE NOT c.is_merge
    UNION ALL
    SELECT coalesce(ap.person, s.actor), tr.team, s.event_id, s.occurred_at
    FROM signals AS s
    JOIN g_team_repo AS tr USING (repository)
    LEFT JOIN g_actor_person AS ap ON ap.actor = s.actor
    WHERE s.entity_type = 'review'
    UNION ALL
    SELECT m.person, tt.team, m.event_id, m.occurred_at
    FROM g_ticket_move AS m JOIN g_ticket_team AS tt USING (ticket_key)
),
-- Bots and deleted accounts work everywhere and belong to no team.
not_people AS (
    SELECT DISTINCT coalesce(ap.person, s.actor) AS actor
    FROM signals AS s LEFT JOIN g_actor_person AS ap ON ap.actor = s.actor
    WHERE s.actor_kind IN ('bot', 'deleted') AND s.actor IS NOT NULL
),
per_team AS (
    SELECT person, team, count(*) AS n, list(event_id ORDER BY happened_at DESC, event_id)[1:5] AS recent
    FROM activity
    WHERE person IS NOT NULL AND person NOT IN (SELECT actor FROM not_people)
    GROUP BY person, team
),
totals AS (SELECT person, sum(n) AS total, max(n) AS top FROM per_team GROUP BY person),
pairs AS (
    SELECT person, team FROM per_team
    UNION
    SELECT person, team FROM g_team_member
)
SELECT
    p.person AS src,
    'team:' || p.team AS dst,
    CASE WHEN m.person IS NOT NULL THEN 'configured' ELSE 'activity' END AS method,
    coalesce(a.recent, []) AS evidence,
    CAST(m.person IS NOT NULL AS DOUBLE) AS f_configured,
    coalesce(a.n / t.total, 0.0) AS f_activity_share,
    ln(1 + coalesce(a.n, 0)) AS f_log_events,
    CAST(coalesce(a.n = t.top, false) AS DOUBLE) AS f_top_team
FROM pairs AS p
LEFT JOIN g_team_member AS m ON m.person = p.person AND m.team = p.team
LEFT JOIN per_team AS a ON a.person = p.person AND a.team = p.team
LEFT JOIN totals AS t ON t.person = p.person
