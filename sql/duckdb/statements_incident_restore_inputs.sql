-- Incidents as incident_slow_to_restore reads them, from events before $window_end: first seen,
-- its level and project, when it was resolved if an event dates it (Sentry's ``resolved``: the
-- issue-details activity or a webhook), whether it is resolved or ignored with no dated
-- resolution (its restore time is unknown), its first event, URL and team.
WITH incident AS (
    SELECT entity_id,
        min(occurred_at) FILTER (WHERE action IN ('first_seen', 'alert_triggered', 'error_seen', 'critical', 'warning')) AS first_seen_at,
        arg_min(event_id, (occurred_at, event_id)) AS first_event,
        arg_max(url, (occurred_at, event_id)) AS url,
        min(occurred_at) FILTER (WHERE action = 'resolved') AS resolved_at,
        arg_min(event_id, (occurred_at, event_id)) FILTER (WHERE action = 'resolved') AS resolved_event,
        arg_max(attributes->>'status', (occurred_at, event_id)) FILTER (WHERE (attributes->>'status') IS NOT NULL) AS status,
        any_value(attributes->>'project') AS project,
        arg_min(attributes->>'level', (occurred_at, event_id)) FILTER (WHERE (attributes->>'level') IS NOT NULL) AS level
    FROM signals
    WHERE entity_type = 'incident' AND occurred_at < CAST($window_end AS TIMESTAMPTZ)
    GROUP BY entity_id
)
SELECT i.entity_id, i.first_seen_at, i.first_event, i.url, i.resolved_at, i.resolved_event,
    coalesce(i.resolved_at IS NULL AND i.status IN ('resolved', 'ignored'), false) AS undated,
    coalesce(i.project, '') AS project, coalesce(i.level, '') AS level,
    (SELECT min(t.team) FROM st_project_repository AS pr
     JOIN st_repo_team AS t ON t.repository = pr.repository WHERE pr.project = i.project) AS team
FROM incident AS i
WHERE i.first_seen_at IS NOT NULL
ORDER BY i.entity_id
