-- Inferred: an incident open at the end of the day (or first seen during it) was caused by a
-- production deployment (object); the confidence is the graph's incident_deployment link, the
-- most likely deployment per incident.
WITH best AS (
    SELECT dst_id AS incident_id,
        arg_max(src_id, (confidence, src_id)) AS deployment_id,
        max(confidence) AS confidence,
        arg_max(evidence, (confidence, src_id)) AS evidence
    FROM st_edge
    WHERE link_type = 'incident_deployment'
    GROUP BY dst_id
)
SELECT
    d.as_of_date,
    t.team,
    'incident' AS subject_type, i.entity_id AS subject_id,
    'deployment' AS object_type, b.deployment_id AS object_id,
    to_json({first_seen_at: strftime(i.first_seen_at, '%Y-%m-%dT%H:%M:%SZ'),
             deployed_at: strftime(p.succeeded_at, '%Y-%m-%dT%H:%M:%SZ')}) AS params,
    b.confidence,
    list_distinct(list_concat([i.first_event], b.evidence)) AS evidence,
    list_filter([i.url, p.url], x -> x IS NOT NULL) AS citations
FROM best AS b
JOIN st_incident AS i ON i.entity_id = b.incident_id
LEFT JOIN st_deployment AS p ON p.entity_id = b.deployment_id
JOIN st_days AS d ON i.first_seen_at < d.as_of
    AND (i.closed_at >= d.as_of OR i.first_seen_at >= d.day_start)
LEFT JOIN st_repo_team AS t ON t.repository = p.repository
