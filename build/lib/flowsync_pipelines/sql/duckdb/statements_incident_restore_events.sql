-- Every incident event before $window_end (its count so far is a feature of
-- incident_slow_to_restore), and successful deployments by the project they ship (the last part
-- of the repository, as Sentry projects are named): kind 'event' or 'deployment'.
SELECT 'event' AS kind, entity_id AS key, occurred_at
FROM signals
WHERE entity_type = 'incident' AND occurred_at < CAST($window_end AS TIMESTAMPTZ)
UNION ALL
SELECT 'deployment', split_part(repository, '/', -1), succeeded_at
FROM st_deployment
WHERE succeeded_at IS NOT NULL AND succeeded_at < CAST($window_end AS TIMESTAMPTZ)
ORDER BY kind, key, occurred_at
