-- Production deployment -> incident it caused. Every successful production deployment in the
-- week before the incident was first seen is a candidate when it is of a service like the
-- incident's (Sentry project slug vs repository name, by shared name tokens), changed a file
-- of the incident's culprit or stack frames, or is named by the incident's release; not only
-- the last deployment before it (a bug shipped on Monday can first fire after Tuesday's
-- unrelated deploy). Changed files come from the deployment's shipped commits
-- (g_link_deployment_commit, the calibrated deployment -> commit links).
WITH
prod AS (
    SELECT d.*, list_filter(string_split_regex(lower(d.service), '[^a-z0-9]+'),
                            x -> length(x) > 1) AS tokens
    FROM g_deploy AS d
    WHERE d.succeeded AND lower(coalesce(d.environment, '')) LIKE 'prod%'
),
shipped_files AS (
    SELECT substr(l.src, length('deployment:') + 1) AS dep_id, unnest(c.files) AS path,
           c.event_id
    FROM g_link_deployment_commit AS l
    JOIN g_commit AS c ON l.dst = 'commit:' || c.repository || '@' || c.sha
    WHERE l.confidence >= 0.5
),
inc AS (
    SELECT i.*,
        list_filter(string_split_regex(lower(i.service), '[^a-z0-9]+'), x -> length(x) > 1)
            AS tokens,
        coalesce(i.first_release, i.release) AS named_release,
        -- "app/payments/refunds.py in process_refund" or "app.payments.refunds in charge":
        -- the module part, as a path without extension.
        nullif(replace(regexp_replace(split_part(coalesce(i.culprit, ''), ' in ', 1),
                                      '\.(py|go|ts|tsx|js|jsx|java|kt|rb|php|cs|swift)$', ''),
                       '.', '/'), '') AS culprit_path,
        NOT EXISTS (SELECT 1 FROM g_incident AS o
                    WHERE o.service = i.service AND o.title = i.title
                      AND o.first_seen_at < i.first_seen_at) AS novel
    FROM g_incident AS i
),
inc_files AS (
    SELECT entity_id AS inc_id, unnest(files) AS path FROM inc
),
-- Deployments in the week before each incident: the only pairs the file evidence is read for
-- (matching every stack frame against every shipped file of all time grew with the square of
-- the history).
window_pairs AS (
    SELECT i.entity_id AS inc_id, d.entity_id AS dep_id
    FROM inc AS i
    JOIN prod AS d
      ON d.succeeded_at <= i.first_seen_at
     AND d.succeeded_at >= i.first_seen_at - INTERVAL 7 DAY
),
-- A stack frame's file and a changed path match when one ends the other at a '/' boundary
-- (frames carry paths relative to the app root or absolute ones).
file_hits AS (
    SELECT f.inc_id, s.dep_id, count(DISTINCT f.path) AS n, min(s.event_id) AS commit_event
    FROM window_pairs AS w
    JOIN inc_files AS f ON f.inc_id = w.inc_id
    JOIN shipped_files AS s ON s.dep_id = w.dep_id
     AND (s.path = f.path OR ends_with(f.path, '/' || s.path) OR ends_with(s.path, '/' || f.path))
    GROUP BY f.inc_id, s.dep_id
),
culprit_hits AS (
    SELECT DISTINCT i.entity_id AS inc_id, s.dep_id
    FROM window_pairs AS w
    JOIN inc AS i ON i.entity_id = w.inc_id
    JOIN shipped_files AS s ON s.dep_id = w.dep_id
     AND i.culprit_path IS NOT NULL AND length(i.culprit_path) >= 3
     AND (regexp_replace(s.path, '\.[A-Za-z0-9]+$', '') = i.culprit_path
          OR ends_with(regexp_replace(s.path, '\.[A-Za-z0-9]+$', ''), '/' || i.culprit_path))
),
-- Which deployed service is named most like the incident's project: how alike the names are
-- is a naming habit (payments-api vs payments-backend, acme-payments-api…), being the closest
-- of the organisation's services is not.
service_match AS (
    SELECT i.entity_id AS inc_id, s.service,
        len(list_intersect(i.tokens, s.tokens))
            / greatest(len(list_distinct(i.tokens || s.tokens)), 1) AS sim
    FROM inc AS i, (SELECT DISTINCT service, tokens FROM prod) AS s
),
closest AS (
    SELECT m.inc_id, m.service, m.sim,
        m.sim > 0 AND m.sim = max(m.sim) OVER (PARTITION BY m.inc_id) AS is_closest,
        count(*) FILTER (WHERE m.sim > 0) OVER (PARTITION BY m.inc_id, m.sim) AS tied
    FROM service_match AS m
),
pairs AS (
    SELECT i.entity_id AS inc_id, d.entity_id AS dep_id, d.service AS dep_service,
        d.succeeded_at,
        cm.sim AS service_sim,
        cm.is_closest,
        cm.tied,
        length(coalesce(nullif(split_part(i.named_release, '@', 2), ''), i.named_release, '')) >= 7
            AND (starts_with(d.sha, coalesce(nullif(split_part(i.named_release, '@', 2), ''),
                                             i.named_release))
                 OR i.named_release = d.sha) AS release_match,
        (epoch(i.first_seen_at) - epoch(d.succeeded_at)) / 3600.0 AS hours_since
    FROM inc AS i
    JOIN prod AS d
      ON d.succeeded_at <= i.first_seen_at
     AND d.succeeded_at >= i.first_seen_at - INTERVAL 7 DAY
    JOIN closest AS cm ON cm.inc_id = i.entity_id AND cm.service = d.service
),
-- Same-named paths exist in many repositories of one stack (app/api/views.py): a changed file
-- is evidence only for a deployment of a service like the incident's, or one its release names.
candidates AS (
    SELECT p.*, coalesce(fh.n, 0) AS file_hits, fh.commit_event,
           ch.dep_id IS NOT NULL AS culprit_hit
    FROM pairs AS p
    LEFT JOIN file_hits AS fh ON fh.inc_id = p.inc_id AND fh.dep_id = p.dep_id
    LEFT JOIN culprit_hits AS ch ON ch.inc_id = p.inc_id AND ch.dep_id = p.dep_id
    WHERE p.service_sim > 0 OR p.release_match
),
ranked AS (
    SELECT c.*,
        -- Deployments of this service between this one and the incident.
        count(*) OVER (PARTITION BY inc_id, dep_service ORDER BY succeeded_at DESC
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS later_deploys,
        -- Later deployments that also changed the culprit's file: the newest change of the
        -- failing file is the likelier cause.
        count(*) FILTER (WHERE culprit_hit) OVER (
            PARTITION BY inc_id ORDER BY succeeded_at DESC
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS later_culprit_changes,
        count(*) FILTER (WHERE culprit_hit OR file_hits > 0) OVER (PARTITION BY inc_id)
            AS file_candidates
    FROM candidates AS c
),
features AS (
    SELECT r.*,
        i.novel,
        len(i.files) > 0 OR i.culprit_path IS NOT NULL AS has_files,
        -- Whether the tool said which release was running (Sentry's issue webhooks do not).
        i.named_release IS NOT NULL AS has_release,
        -- Events per hour since first seen, where the tool told how many (a polled issue, a
        -- later delivery); a freshly created issue's count of 1 says nothing yet.
        CASE WHEN i.event_count IS NOT NULL AND i.last_seen_at > i.first_seen_at
             THEN i.event_count / greatest((epoch(i.last_seen_at) - epoch(i.first_seen_at)) / 3600.0, 1.0)
        END AS per_hour,
        CASE WHEN i.level IS NULL THEN 0.5
             WHEN lower(i.level) IN ('error', 'fatal', 'critical') THEN 1.0 ELSE 0.0 END
            AS level_error,
        [d.success_event, i.first_event, r.commit_event] AS evidence
    FROM ranked AS r
    JOIN inc AS i ON i.entity_id = r.inc_id
    JOIN prod AS d ON d.entity_id = r.dep_id
)
SELECT
    'deployment:' || dep_id AS src,
    'incident:' || inc_id AS dst,
    CASE WHEN culprit_hit THEN 'changed_culprit_file'
         WHEN file_hits > 0 THEN 'changed_stack_file'
         WHEN release_match THEN 'release_match'
         ELSE 'first_seen_after_deploy' END AS method,
    list_filter(evidence, x -> x IS NOT NULL) AS evidence,
    CAST(file_hits > 0 AS DOUBLE) AS f_file_match,
    CAST(culprit_hit AS DOUBLE) AS f_culprit_match,
    CAST(culprit_hit AND later_culprit_changes = 0 AS DOUBLE) AS f_latest_culprit_change,
    CAST(release_match AS DOUBLE) AS f_release_match,
    CAST(has_release AS DOUBLE) AS f_has_release,
    CAST(is_closest AS DOUBLE) AS f_same_service,
    CASE WHEN is_closest THEN ln(tied) ELSE 0.0 END AS f_service_ties,
    ln(1 + least(greatest(hours_since, 0), 168)) AS f_hours_since,
    CAST(later_deploys = 0 AS DOUBLE) AS f_is_latest,
    ln(1 + later_deploys) AS f_later_deploys,
    CAST(novel AS DOUBLE) AS f_novel,
    level_error AS f_level_error,
    CAST(has_files AS DOUBLE) AS f_has_files,
    ln(1 + coalesce(per_hour, 0)) AS f_intensity,
    CAST(per_hour IS NOT NULL AS DOUBLE) AS f_has_count,
    CAST(NOT (file_hits > 0 OR culprit_hit) AND file_candidates > 0 AS DOUBLE)
        AS f_other_file_match
FROM features
