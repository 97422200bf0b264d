-- Production deployment -> incident first seen after it: same service (Sentry project, release
-- prefix or repository name), within 72 hours, or the incident's release names the deployed sha.
WITH
prod AS (
    SELECT *,
        lead(succeeded_at) OVER (PARTITION BY service ORDER BY succeeded_at) AS next_at
    FROM g_deploy
    WHERE succeeded AND lower(coalesce(environment, '')) LIKE 'prod%'
),
inc AS (
    SELECT i.*,
        nullif(split_part(i.release, '@', 2), '') AS version,
        NOT EXISTS (SELECT 1 FROM g_incident AS o
                    WHERE o.service = i.service AND o.title = i.title
                      AND o.first_seen_at < i.first_seen_at) AS novel
    FROM g_incident AS i
),
pairs AS (
    SELECT i.entity_id AS inc_id, d.entity_id AS dep_id
    FROM inc AS i JOIN prod AS d ON d.service = i.service
     AND d.succeeded_at <= i.first_seen_at
     AND d.succeeded_at >= i.first_seen_at - INTERVAL 72 HOUR
    UNION
    SELECT i.entity_id, d.entity_id
    FROM inc AS i JOIN prod AS d
      ON length(coalesce(i.version, i.release, '')) >= 7
     AND (starts_with(d.sha, coalesce(i.version, i.release)) OR i.release = d.sha)
),
features AS (
    SELECT
        p.inc_id, p.dep_id,
        length(coalesce(i.version, i.release, '')) >= 7
            AND (starts_with(d.sha, coalesce(i.version, i.release)) OR i.release = d.sha)
            AS release_match,
        epoch(i.first_seen_at - d.succeeded_at) / 3600.0 AS hours_since,
        i.first_seen_at < coalesce(d.next_at, TIMESTAMPTZ '9999-01-01') AS before_next,
        i.novel,
        CASE WHEN i.level IS NULL THEN 0.5
             WHEN lower(i.level) IN ('error', 'fatal', 'critical') THEN 1.0 ELSE 0.0 END
            AS level_error,
        i.event_count / greatest(epoch(i.last_seen_at - i.first_seen_at) / 3600.0, 1.0)
            AS per_hour,
        [d.success_event, i.first_event] AS evidence
    FROM pairs AS p
    JOIN inc AS i ON i.entity_id = p.inc_id
    JOIN prod AS d ON d.entity_id = p.dep_id
)
SELECT
    'deployment:' || dep_id AS src,
    'incident:' || inc_id AS dst,
    CASE WHEN release_match THEN 'release_match' ELSE 'first_seen_after_deploy' END AS method,
    list_filter(evidence, x -> x IS NOT NULL) AS evidence,
    CAST(release_match AS DOUBLE) AS f_release_match,
    ln(1 + least(greatest(hours_since, 0), 168)) AS f_hours_since,
    CAST(hours_since >= 0 AND hours_since = min(hours_since) FILTER (WHERE hours_since >= 0)
         OVER (PARTITION BY inc_id) AS DOUBLE) AS f_is_latest,
    CAST(before_next AND hours_since >= 0 AS DOUBLE) AS f_before_next,
    CAST(novel AS DOUBLE) AS f_novel,
    level_error AS f_level_error,
    ln(1 + coalesce(per_hour, 0)) AS f_intensity,
    CAST(per_hour IS NOT NULL AS DOUBLE) AS f_has_count
FROM features
