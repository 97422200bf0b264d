-- Fact: a production deployment succeeded during the day; with the pull requests and tickets it
-- carried, read through the graph (deployment -DEPLOYED-> commit -PART_OF-> pull request
-- -REFERENCES-> ticket), each link at least $min_link_confidence.
WITH shipped AS (
    SELECT d.as_of_date, p.*
    FROM st_deployment AS p
    JOIN st_days AS d ON p.succeeded_at >= d.day_start AND p.succeeded_at < d.as_of
    WHERE p.environment = 'production'
),
prs AS (
    SELECT DISTINCT dc.src_id AS deployment_id, cp.dst_id AS pr_id
    FROM st_edge AS dc
    JOIN st_edge AS cp ON cp.link_type = 'commit_pr' AND cp.src_id = dc.dst_id
    WHERE dc.link_type = 'deployment_commit' AND dc.confidence >= $min_link_confidence
      AND cp.confidence >= $min_link_confidence
),
tickets AS (
    SELECT DISTINCT p.deployment_id, pt.dst_id AS ticket_id
    FROM prs AS p
    JOIN st_edge AS pt ON pt.link_type = 'pr_ticket' AND pt.src_id = p.pr_id
    WHERE pt.confidence >= $min_link_confidence
)
SELECT
    s.as_of_date,
    any_value(t.team) AS team,
    'deployment' AS subject_type, s.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({environment: any_value(s.environment), repository: any_value(s.repository),
             succeeded_at: strftime(any_value(s.succeeded_at), '%Y-%m-%dT%H:%M:%SZ'),
             pull_requests: coalesce((SELECT list(pr_id ORDER BY pr_id) FROM prs WHERE deployment_id = s.entity_id), []),
             tickets: coalesce((SELECT list(ticket_id ORDER BY ticket_id) FROM tickets WHERE deployment_id = s.entity_id), [])}) AS params,
    1.0 AS confidence,
    [any_value(s.success_event), any_value(s.created_event)] AS evidence,
    [any_value(s.url)] AS citations
FROM shipped AS s
LEFT JOIN st_repo_team AS t ON t.repository = s.repository
GROUP BY s.as_of_date, s.entity_id
