-- Every incident event before $window_end (its count so far is a feature of
-- incident_slow_to_restore), and successful production deployments by the Sentry project whose
-- repository they ship (st_project_repository): kind 'event' or 'deployment'.
SELECT 'event' AS kind, entity_id AS key, occurred_at
FROM signals
WHERE entity_type = 'incident' AND occurred_at < CAST($window_end AS TIMESTAMPTZ)
UNION ALL
SELECT 'deployment', p.project, d.succeeded_at
FROM st_deployment AS d
JOIN st_project_repository AS p ON p.repository = d.repository
WHERE d.succeeded_at IS NOT NULL AND d.succeeded_at < CAST($window_end AS TIMESTAMPTZ)
  AND lower(coalesce(d.environment, '')) LIKE 'prod%'
ORDER BY kind, key, occurred_at
