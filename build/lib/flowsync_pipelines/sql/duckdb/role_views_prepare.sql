-- Inputs the role views share, as temporary tables, on top of statements_prepare.sql's st_*
-- tables (which this reads and never changes). Parameters: $min_link_confidence.

-- Successful production deployments, with the team owning their repository.
CREATE OR REPLACE TEMP TABLE rv_prod AS
SELECT p.entity_id AS deployment_id, p.repository, t.team, p.succeeded_at, p.url
FROM st_deployment AS p
JOIN st_repo_team AS t ON t.repository = p.repository
WHERE p.environment = 'production' AND p.succeeded_at IS NOT NULL;

-- Each pull request's commits (graph links at least $min_link_confidence).
CREATE OR REPLACE TEMP TABLE rv_pr_commit AS
SELECT e.dst_id AS pr_id, e.src_id AS commit_id, min(c.occurred_at) AS committed_at
FROM st_edge AS e
JOIN signals AS c ON c.entity_type = 'commit' AND c.entity_id = e.src_id
WHERE e.link_type = 'commit_pr' AND e.confidence >= $min_link_confidence
GROUP BY ALL;

-- A change: a merged pull request, from its first commit to the first successful production
-- deployment that carried one of its commits. The points are clamped into order so the four
-- parts (coding, pickup, review, deploy) add up to the whole.
CREATE OR REPLACE TEMP TABLE rv_change AS
WITH first_deploy AS (
    SELECT pc.pr_id, arg_min(p.deployment_id, (p.succeeded_at, p.deployment_id)) AS deployment_id,
        min(p.succeeded_at) AS deployed_at
    FROM rv_pr_commit AS pc
    JOIN st_edge AS dc ON dc.link_type = 'deployment_commit' AND dc.dst_id = pc.commit_id
        AND dc.confidence >= $min_link_confidence
    JOIN rv_prod AS p ON p.deployment_id = dc.src_id
    GROUP BY pc.pr_id
),
first_review AS (SELECT pr_id, min(occurred_at) AS first_review_at FROM st_review GROUP BY pr_id),
points AS (
    SELECT pr.entity_id AS pr_id, pr.repository, pr.author, t.team, fd.deployment_id,
        least(coalesce((SELECT min(committed_at) FROM rv_pr_commit AS c WHERE c.pr_id = pr.entity_id),
                       pr.opened_at), pr.opened_at) AS first_commit_at,
        pr.opened_at, r.first_review_at, pr.merged_at,
        CASE WHEN fd.deployed_at IS NOT NULL THEN greatest(fd.deployed_at, pr.merged_at) END AS deployed_at
    FROM st_pr AS pr
    JOIN st_repo_team AS t ON t.repository = pr.repository
    LEFT JOIN first_deploy AS fd ON fd.pr_id = pr.entity_id
    LEFT JOIN first_review AS r ON r.pr_id = pr.entity_id
    WHERE pr.merged_at IS NOT NULL AND pr.opened_at IS NOT NULL
)
SELECT *,
    -- a review after the merge does not count as picking the pull request up
    least(greatest(coalesce(first_review_at, merged_at), opened_at), merged_at) AS picked_up_at
FROM points;

-- Incident -> deployment links (calibrated confidence), with the incident's times.
CREATE OR REPLACE TEMP TABLE rv_incident_link AS
SELECT e.src_id AS deployment_id, e.dst_id AS incident_id, e.confidence,
    i.first_seen_at, i.closed_at, p.repository, p.team, p.succeeded_at AS deployed_at
FROM st_edge AS e
JOIN st_incident AS i ON i.entity_id = e.dst_id
JOIN rv_prod AS p ON p.deployment_id = e.src_id
WHERE e.link_type = 'incident_deployment' AND i.first_seen_at IS NOT NULL;

-- The fix of a resolved incident: the first successful production deployment of the same
-- repository more than an hour after the incident was first seen (one started sooner was already
-- under way). Sentry dates an issue's errors, not its resolution, so an incident is restored
-- when its fix is in production (when it has none within 30 days, when its errors stopped).
CREATE OR REPLACE TEMP TABLE rv_incident_fix AS
SELECT i.entity_id AS incident_id, i.first_seen_at, i.closed_at,
    arg_min(p.deployment_id, (p.succeeded_at, p.deployment_id)) AS fix_deployment_id,
    coalesce(min(p.succeeded_at), i.closed_at) AS restored_at
FROM st_incident AS i
LEFT JOIN (SELECT DISTINCT incident_id, repository FROM rv_incident_link) AS l ON l.incident_id = i.entity_id
LEFT JOIN rv_prod AS p ON p.repository = l.repository
    AND p.succeeded_at > i.first_seen_at + INTERVAL 1 HOUR AND p.succeeded_at <= i.closed_at + INTERVAL 30 DAY
WHERE i.first_seen_at IS NOT NULL AND i.closed_at < TIMESTAMPTZ '9999-12-31'
GROUP BY i.entity_id, i.first_seen_at, i.closed_at;

-- Rework: a fix is an unplanned deployment made because of a production incident, with the
-- probability that the incident came from an earlier deployment of the same repository (the
-- calibrated link); a deployment fixing several incidents is rework with 1 - prod(1 - c).
CREATE OR REPLACE TEMP TABLE rv_rework AS
SELECT f.fix_deployment_id AS deployment_id, 1 - product(1 - l.confidence) AS p_rework
FROM rv_incident_fix AS f
JOIN rv_incident_link AS l ON l.incident_id = f.incident_id
JOIN rv_prod AS p ON p.deployment_id = f.fix_deployment_id AND p.repository = l.repository
WHERE l.deployed_at < f.first_seen_at
GROUP BY f.fix_deployment_id;

-- Each incident's most likely deployment (for restore times and team attribution), else the
-- repository whose name is the incident's project; restored_at from rv_incident_fix.
CREATE OR REPLACE TEMP TABLE rv_incident AS
SELECT i.entity_id AS incident_id, i.first_seen_at, f.restored_at, i.url,
    coalesce(b.team, (SELECT min(t.team) FROM st_repo_team AS t
                      WHERE split_part(t.repository, '/', 2) = i.project)) AS team,
    b.deployment_id, b.confidence
FROM st_incident AS i
LEFT JOIN rv_incident_fix AS f ON f.incident_id = i.entity_id
LEFT JOIN (SELECT incident_id, arg_max(deployment_id, (confidence, deployment_id)) AS deployment_id,
                  max(confidence) AS confidence, arg_max(team, (confidence, deployment_id)) AS team
           FROM rv_incident_link GROUP BY incident_id) AS b ON b.incident_id = i.entity_id
WHERE i.first_seen_at IS NOT NULL;

-- Tickets: creation, the team whose scope they are in, their type, and each status change.
CREATE OR REPLACE TEMP TABLE rv_ticket AS
SELECT s.entity_id AS ticket_id, any_value(s.source) AS source,
    min(s.occurred_at) AS created_at,
    arg_max(s.title, (s.occurred_at, s.event_id)) AS title,
    arg_max(s.url, (s.occurred_at, s.event_id)) AS url,
    arg_max(s.attributes->>'issue_type', (s.occurred_at, s.event_id)) AS issue_type,
    lower(arg_max(CAST(s.attributes->'labels' AS VARCHAR), (s.occurred_at, s.event_id))) AS labels,
    (SELECT min(team) FROM st_ticket_team AS tt WHERE tt.entity_id = s.entity_id) AS team
FROM signals AS s
WHERE s.entity_type = 'ticket'
GROUP BY s.entity_id;

-- Each ticket's status at the end of every day of the window (statements_prepare.sql).
CREATE OR REPLACE TEMP TABLE rv_ticket_day AS
SELECT as_of_date, as_of, day_start, ticket_id, category, status, last_change_at, first_done_at
FROM st_ticket_day;

-- Containers a ticket belongs to (graph links), sprints and epics with their dates and names.
CREATE OR REPLACE TEMP TABLE rv_container AS
WITH sprints AS (
    SELECT entity_id AS container_id,
        min(occurred_at) FILTER (WHERE action = 'started') AS starts_at,
        coalesce(max(TRY_CAST(coalesce(attributes->>'endDate', attributes->>'ends_at') AS TIMESTAMPTZ)),
                 min(occurred_at) FILTER (WHERE action = 'completed')) AS ends_at
    FROM signals WHERE entity_type = 'sprint' GROUP BY entity_id
),
epics AS (
    SELECT DISTINCT dst_id AS container_id FROM st_edge WHERE link_type = 'ticket_epic'
)
SELECT 'sprint' AS container_type, s.container_id, n.title AS name, s.starts_at, s.ends_at
FROM sprints AS s LEFT JOIN graph_nodes AS n ON n.node_id = 'sprint:' || s.container_id
WHERE s.starts_at IS NOT NULL
UNION ALL
SELECT 'epic', e.container_id,
    coalesce(n.title, (SELECT t.title FROM graph_nodes AS t WHERE t.node_id = 'ticket:' || e.container_id)),
    (SELECT coalesce(min(TRY_CAST(x.attributes->>'start_date' AS TIMESTAMPTZ)), min(x.occurred_at))
     FROM signals AS x WHERE x.entity_id = e.container_id AND x.entity_type IN ('ticket', 'project')),
    -- Due: a Linear project's targetDate, a Jira epic's duedate.
    (SELECT max(TRY_CAST(coalesce(x.attributes->>'target_date', x.attributes->>'due_date') AS TIMESTAMPTZ))
     FROM signals AS x WHERE x.entity_id = e.container_id AND x.entity_type IN ('ticket', 'project'))
FROM epics AS e LEFT JOIN graph_nodes AS n ON n.node_id = 'epic:' || e.container_id;

CREATE OR REPLACE TEMP TABLE rv_ticket_container AS
SELECT DISTINCT CASE link_type WHEN 'ticket_sprint' THEN 'sprint' ELSE 'epic' END AS container_type,
    dst_id AS container_id, src_id AS ticket_id
FROM st_edge
WHERE link_type IN ('ticket_sprint', 'ticket_epic') AND confidence >= $min_link_confidence;

-- Investment category of every ticket: unplanned when it is a defect that joined its sprint
-- after the sprint started (reactive work nobody planned for; a story added mid-sprint is scope
-- change, in pm_progress), else defects (bugs), features (stories, features), or maintenance
-- (tasks, improvements, ops). Epics are containers, not work.
CREATE OR REPLACE TEMP TABLE rv_ticket_category AS
SELECT t.ticket_id, t.team, t.title,
    CASE
        WHEN (t.issue_type = 'Bug' OR t.labels LIKE '%"bug"%') AND EXISTS (SELECT 1 FROM rv_ticket_container AS tc JOIN rv_container AS c USING (container_type, container_id)
                     WHERE tc.ticket_id = t.ticket_id AND tc.container_type = 'sprint'
                       AND t.created_at > c.starts_at) THEN 'unplanned'
        WHEN t.issue_type = 'Bug' OR t.labels LIKE '%"bug"%' THEN 'defects'
        WHEN t.issue_type = 'Story' OR t.labels LIKE '%"feature"%' THEN 'features'
        ELSE 'maintenance'
    END AS category,
    (SELECT min(container_id) FROM rv_ticket_container AS tc
     WHERE tc.ticket_id = t.ticket_id AND tc.container_type = 'epic') AS epic_id
FROM rv_ticket AS t
WHERE t.issue_type IS DISTINCT FROM 'Epic';
