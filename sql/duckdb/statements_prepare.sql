-- Inputs every statement kind reads, as temporary tables for one window of as-of days.
-- Parameters: $window_start, $window_end (UTC day boundaries, end exclusive).
-- A statement "as of" a day speaks about the end of that UTC day (as_of = day + 1 day) and reads
-- only events that occurred before it.
CREATE OR REPLACE TEMP TABLE st_days AS
SELECT CAST(d AS DATE) AS as_of_date, d AS day_start, d + INTERVAL 1 DAY AS as_of
FROM range(CAST($window_start AS TIMESTAMPTZ), CAST($window_end AS TIMESTAMPTZ), INTERVAL 1 DAY) AS t(d);

-- Which team owns which repository (flowsync.yaml, as the graph's OWNS edges).
CREATE OR REPLACE TEMP TABLE st_repo_team AS
SELECT DISTINCT substr(dst, 6) AS repository, substr(src, 6) AS team
FROM graph_edges WHERE edge_type = 'OWNS';

CREATE OR REPLACE TEMP TABLE st_pr AS
SELECT
    p.entity_id,
    any_value(p.source) AS source,
    max(p.repository) AS repository,
    max(p.pr_number) AS pr_number,
    arg_min(p.actor, (p.occurred_at, p.event_id)) FILTER (WHERE p.action = 'opened') AS author,
    arg_max(p.url, (p.occurred_at, p.event_id)) AS url,
    min(p.occurred_at) FILTER (WHERE p.action = 'opened') AS opened_at,
    min(p.occurred_at) FILTER (WHERE p.action = 'merged') AS merged_at,
    min(p.occurred_at) FILTER (WHERE p.action IN ('closed', 'deleted')) AS closed_at,
    min(p.event_id) FILTER (WHERE p.action = 'opened') AS opened_event,
    min(p.event_id) FILTER (WHERE p.action = 'merged') AS merged_event
FROM signals AS p
WHERE p.entity_type = 'pull_request'
GROUP BY p.entity_id;

-- Human reviews by someone other than the author (bots and self-reviews are not reviews). A
-- comment on a merge request is GitLab's review (approvals are its only other kind).
CREATE OR REPLACE TEMP TABLE st_review AS
SELECT p.entity_id AS pr_id, r.occurred_at, r.event_id, r.url
FROM signals AS r
JOIN st_pr AS p ON p.repository = r.repository AND p.pr_number = r.pr_number
WHERE r.entity_type IN ('review', 'comment') AND r.actor_kind NOT IN ('bot')
  AND (p.author IS NULL OR r.actor IS DISTINCT FROM p.author);

-- Each ticket's status category after every event, and the team whose scope it is in.
CREATE OR REPLACE TEMP TABLE st_ticket_event AS
SELECT
    entity_id, source, occurred_at, event_id, url, action,
    attributes->>'status_category' AS category,
    state AS status,
    CAST(attributes->'components' AS VARCHAR[]) AS components
FROM signals
WHERE entity_type = 'ticket' AND (attributes->>'status_category') IS NOT NULL;

-- Each ticket's state at the end of every day of the window: the latest event strictly before
-- the day's end (ties by event id), its status category and status, and the first time it was
-- done. Each instant's state holds until the ticket's next instant, so days join the spans by
-- range: joining every event to every later day and aggregating costs events x days, which
-- made a year's import quadratic.
CREATE OR REPLACE TEMP TABLE st_ticket_day AS
WITH running AS (
    SELECT entity_id, occurred_at, event_id, category,
        last_value(status IGNORE NULLS) OVER upto AS status,
        last_value(url IGNORE NULLS) OVER upto AS url,
        min(CASE WHEN category = 'done' THEN occurred_at END) OVER upto AS first_done_at,
        lead(occurred_at) OVER upto AS next_at
    FROM st_ticket_event
    WINDOW upto AS (PARTITION BY entity_id ORDER BY occurred_at, event_id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
spans AS (  -- the last event of each instant, valid until the next instant
    SELECT * FROM running WHERE next_at IS NULL OR next_at > occurred_at
)
SELECT d.as_of_date, d.as_of, d.day_start, s.entity_id AS ticket_id, s.category, s.status,
    s.occurred_at AS last_change_at, s.event_id AS last_event, s.url, s.first_done_at
FROM spans AS s
JOIN st_days AS d ON d.as_of > s.occurred_at AND (s.next_at IS NULL OR d.as_of <= s.next_at);

CREATE OR REPLACE TEMP TABLE st_ticket_team AS
SELECT DISTINCT t.entity_id, s.team
FROM (SELECT entity_id, source, arg_max(components, (occurred_at, event_id)) AS components
      FROM st_ticket_event GROUP BY ALL) AS t
JOIN (SELECT team, source, scope FROM team_ticket_scopes
      UNION ALL SELECT team, NULL, repository FROM st_repo_team) AS s
  ON (s.source IS NULL OR s.source = t.source) AND list_contains(t.components, s.scope);

-- Graph node id -> entity id, for the kinds the statements name.
CREATE OR REPLACE TEMP TABLE st_edge AS
SELECT
    link_type, edge_type,
    regexp_replace(src, '^[a-z_]+:', '') AS src_id, split_part(src, ':', 1) AS src_kind,
    regexp_replace(dst, '^[a-z_]+:', '') AS dst_id, split_part(dst, ':', 1) AS dst_kind,
    confidence, evidence
FROM graph_edges
WHERE link_type <> 'fact';

CREATE OR REPLACE TEMP TABLE st_deployment AS
SELECT
    entity_id,
    any_value(source) AS source,
    max(repository) AS repository,
    max(environment) AS environment,
    -- Its citation: a page of this deployment a status names (its log, its target), else the
    -- commit it deploys (its created event's link), else its latest event's link.
    coalesce(
        arg_max(url, (occurred_at, event_id))
            FILTER (WHERE attributes->>'url_is' IN ('log', 'target')),
        arg_min(url, (occurred_at, event_id)) FILTER (WHERE action = 'created'),
        arg_max(url, (occurred_at, event_id))
    ) AS url,
    min(occurred_at) FILTER (WHERE action = 'status_success') AS succeeded_at,
    min(event_id) FILTER (WHERE action = 'status_success') AS success_event,
    min(event_id) FILTER (WHERE action = 'created') AS created_event
FROM signals
WHERE entity_type = 'deployment' AND source <> 'sentry'
GROUP BY entity_id;

-- Incidents: first seen, and until when they are open (a resolution the tool dates, else the
-- last time a resolved or ignored incident was seen).
CREATE OR REPLACE TEMP TABLE st_incident AS
SELECT *, coalesce(resolved_at, CASE WHEN status IN ('resolved', 'ignored') THEN last_seen_at END,
                   TIMESTAMPTZ '9999-12-31') AS closed_at
FROM (
        SELECT entity_id,
            arg_max(url, (occurred_at, event_id)) AS url,
            min(occurred_at) FILTER (WHERE action IN ('first_seen', 'alert_triggered', 'error_seen', 'critical', 'warning')) AS first_seen_at,
            max(occurred_at) AS last_seen_at,
            arg_min(event_id, (occurred_at, event_id)) AS first_event,
            min(occurred_at) FILTER (WHERE action IN ('resolved', 'ignored')) AS resolved_at,
            arg_max(attributes->>'status', (occurred_at, event_id)) FILTER (WHERE (attributes->>'status') IS NOT NULL) AS status,
            any_value(attributes->>'project') AS project,
            any_value(attributes->>'level') AS level
        FROM signals
        WHERE entity_type = 'incident'
        GROUP BY entity_id

);

-- The repository each Sentry project reports errors of: the one of the same name, else the one
-- whose deployments the graph links most of the project's incidents to, else the one named most
-- alike (shared name tokens). Projects are often not named as their repository is
-- (payments-backend for acme/payments-api), and an incident's team and deployments go by it.
CREATE OR REPLACE TEMP TABLE st_project_repository AS
WITH project AS (
    SELECT DISTINCT project,
        list_filter(string_split_regex(lower(project), '[^a-z0-9]+'), x -> length(x) > 1) AS tokens
    FROM st_incident WHERE project IS NOT NULL
),
repository AS (
    SELECT repository, list_filter(string_split_regex(lower(split_part(repository, '/', -1)),
                                                      '[^a-z0-9]+'), x -> length(x) > 1) AS tokens
    FROM (SELECT repository FROM st_repo_team
          UNION SELECT repository FROM st_deployment WHERE repository IS NOT NULL)
),
linked AS (
    SELECT i.project, d.repository, count(*) AS links
    FROM st_edge AS e
    JOIN st_incident AS i ON i.entity_id = e.dst_id
    JOIN st_deployment AS d ON d.entity_id = e.src_id
    WHERE e.link_type = 'incident_deployment' AND e.confidence >= 0.5
    GROUP BY ALL
),
scored AS (
    SELECT p.project, r.repository, split_part(r.repository, '/', -1) = p.project AS same_name,
        coalesce(l.links, 0) AS links,
        len(list_intersect(p.tokens, r.tokens))
            / greatest(len(list_distinct(p.tokens || r.tokens)), 1) AS alike
    FROM project AS p CROSS JOIN repository AS r
    LEFT JOIN linked AS l ON l.project = p.project AND l.repository = r.repository
)
SELECT project, arg_max(repository, (same_name, links, alike, repository)) AS repository
FROM scored
WHERE same_name OR links > 0 OR alike > 0
GROUP BY project;

-- Every dated event of each incident: sightings, alerts, changes.
CREATE OR REPLACE TEMP TABLE st_incident_activity AS
SELECT entity_id, occurred_at FROM signals WHERE entity_type = 'incident';

-- Working seconds from Monday 1970-01-05 00:00 UTC to t: Monday to Friday count, weekends do
-- not. Working time between a and b is st_working_s(b) - st_working_s(a).
CREATE OR REPLACE TEMP MACRO st_working_s(t) AS
    floor((epoch(t) - 345600) / 604800) * 432000
    + least((epoch(t) - 345600) - floor((epoch(t) - 345600) / 604800) * 604800, 432000)
