-- Inferred: a ticket's work is merged and in a production deployment that succeeded during the
-- day (object = the deployment). Confidence along the best path deployment -> commit -> pull
-- request -> ticket: P(deployed) x P(commit in pull request) x P(pull request implements ticket);
-- the deployment's success is a fact (only successful deployments are read).
WITH shipped AS (
    SELECT d.as_of_date, p.*
    FROM st_deployment AS p
    JOIN st_days AS d ON p.succeeded_at >= d.day_start AND p.succeeded_at < d.as_of
    WHERE p.environment = 'production'
),
paths AS (
    SELECT s.as_of_date, s.entity_id AS deployment_id, s.repository, s.url AS deployment_url,
        s.success_event, pt.dst_id AS ticket_id, cp.dst_id AS pr_id,
        dc.confidence * cp.confidence * pt.confidence AS confidence,
        list_concat(pt.evidence, cp.evidence[1:2], dc.evidence[1:2]) AS path_evidence
    FROM shipped AS s
    JOIN st_edge AS dc ON dc.link_type = 'deployment_commit' AND dc.src_id = s.entity_id
    JOIN st_edge AS cp ON cp.link_type = 'commit_pr' AND cp.src_id = dc.dst_id
    JOIN st_edge AS pt ON pt.link_type = 'pr_ticket' AND pt.src_id = cp.dst_id
    WHERE pt.dst_kind = 'ticket'
),
best AS (
    SELECT as_of_date, deployment_id, ticket_id,
        any_value(repository) AS repository,
        any_value(deployment_url) AS deployment_url,
        any_value(success_event) AS success_event,
        max(confidence) AS confidence,
        arg_max(pr_id, (confidence, pr_id)) AS pr_id,
        arg_max(path_evidence, (confidence, pr_id)) AS path_evidence,
        list(DISTINCT pr_id ORDER BY pr_id) AS pull_requests
    FROM paths
    GROUP BY as_of_date, deployment_id, ticket_id
)
SELECT
    b.as_of_date,
    coalesce(tt.team, (SELECT min(team) FROM st_repo_team AS rt WHERE rt.repository = b.repository)) AS team,
    'ticket' AS subject_type, b.ticket_id AS subject_id,
    'deployment' AS object_type, b.deployment_id AS object_id,
    to_json({pull_request: b.pr_id, pull_requests: b.pull_requests}) AS params,
    b.confidence,
    list_distinct(list_concat([b.success_event], b.path_evidence)) AS evidence,
    list_filter([(SELECT arg_max(url, occurred_at) FROM st_ticket_event WHERE entity_id = b.ticket_id),
                 b.deployment_url], x -> x IS NOT NULL) AS citations
FROM best AS b
LEFT JOIN (SELECT entity_id, min(team) AS team FROM st_ticket_team GROUP BY 1) AS tt ON tt.entity_id = b.ticket_id
