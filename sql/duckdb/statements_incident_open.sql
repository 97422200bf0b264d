-- Fact: an incident first seen before the end of the day and not resolved or ignored by then
-- (a resolution without a time counts from the last time the incident was seen), with activity
-- (a sighting, an alert, a change) within $stale_days days: an issue dormant longer is not news
-- every day. History imported later knows only the sightings the tool kept (Sentry: first and
-- last seen), so a long-running issue's middle days are not stated from it; daily polling
-- records each new last sighting.
SELECT
    d.as_of_date,
    t.team,
    'incident' AS subject_type, i.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({first_seen_at: strftime(i.first_seen_at, '%Y-%m-%dT%H:%M:%SZ'), level: i.level,
             project: i.project}) AS params,
    1.0 AS confidence,
    [i.first_event] AS evidence,
    [i.url] AS citations
FROM st_incident AS i
JOIN st_days AS d ON i.first_seen_at < d.as_of AND i.closed_at >= d.as_of
ASOF JOIN st_incident_activity AS s ON s.entity_id = i.entity_id AND s.occurred_at < d.as_of
LEFT JOIN st_project_repository AS pr ON pr.project = i.project
LEFT JOIN st_repo_team AS t ON t.repository = pr.repository
WHERE s.occurred_at >= d.as_of - to_days(CAST($stale_days AS INTEGER))
