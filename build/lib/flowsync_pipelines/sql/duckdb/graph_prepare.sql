-- The entities the linkers read, one row each, as temporary tables of this connection.
-- Built from the current-state tables and signals. Expects these inputs registered by
-- flowsync_pipelines.graph.linking: g_actor_person (actor, person, confidence, method),
-- g_team_repo (team, repository), g_team_scope (team, source, scope),
-- g_ticket_parent (ticket_key, parent_key, event_id), g_ticket_sprint (ticket_key, sprint_id, event_id).
-- Column names follow the signals conventions of every source (entity_type pull_request,
-- commit, ci_run, deployment, ticket, incident, design_comment), so new normalisers are
-- picked up without changes here.

CREATE OR REPLACE TEMP TABLE g_pr AS
WITH ev AS (
    SELECT
        entity_id,
        arg_max(coalesce(attributes->>'head_ref', attributes->>'source_branch'),
                (occurred_at, event_id)) AS head_ref,
        arg_max(coalesce(attributes->>'head_sha', attributes->>'sha'), (occurred_at, event_id))
            AS head_sha,
        max(commit_sha) FILTER (WHERE action = 'merged') AS merge_sha,
        arg_min(event_id, (occurred_at, event_id)) FILTER (WHERE action = 'opened')
            AS opened_event,
        arg_min(event_id, (occurred_at, event_id)) FILTER (WHERE action = 'merged')
            AS merged_event,
        arg_max(event_id, (occurred_at, event_id)) AS last_event,
        min(occurred_at) AS first_at,
        max(occurred_at) AS last_at
    FROM signals
    WHERE entity_type = 'pull_request'
    GROUP BY entity_id
)
SELECT
    p.entity_id,
    p.source,
    p.repository,
    p.pr_number,
    coalesce(p.title, '') AS title,
    p.url,
    p.author,
    coalesce(ap.person, p.author) AS author_person,
    p.state,
    coalesce(p.opened_at, ev.first_at) AS opened_at,
    p.merged_at,
    p.closed_at,
    coalesce(p.ticket_keys, []) AS ticket_keys,
    coalesce(ev.head_ref, '') AS head_ref,
    ev.head_sha,
    ev.merge_sha,
    coalesce(ev.opened_event, ev.last_event) AS opened_event,
    ev.merged_event,
    ev.last_event,
    ev.last_at,
    tr.team AS repo_team
FROM pull_requests AS p
JOIN ev USING (entity_id)
LEFT JOIN g_actor_person AS ap ON ap.actor = p.author
LEFT JOIN (SELECT repository, min(team) AS team FROM g_team_repo GROUP BY repository) AS tr
    ON tr.repository = p.repository;

CREATE OR REPLACE TEMP TABLE g_commit AS
SELECT
    min(entity_id) AS entity_id,
    repository,
    commit_sha AS sha,
    arg_min(title, (occurred_at, event_id)) AS title,
    arg_min(url, (occurred_at, event_id)) AS url,
    arg_min(actor, (occurred_at, event_id)) AS actor,
    min(occurred_at) AS committed_at,
    list_distinct(flatten(list(coalesce(ticket_keys, [])))) AS ticket_keys,
    arg_min(event_id, (occurred_at, event_id)) AS event_id,
    max(occurred_at) AS last_at,
    bool_or(coalesce(try_cast(attributes->>'parents' AS INTEGER), 1) > 1
            OR title LIKE 'Merge pull request #%' OR title LIKE 'Merge branch %') AS is_merge,
    coalesce(max(pr_number), max(try_cast(
        regexp_extract(title, '^Merge pull request #([0-9]+)', 1) AS BIGINT))) AS merge_pr_number,
    -- The paths a commit changed, where a tool reported them (commit details, push deliveries).
    list_distinct(flatten(list(coalesce(CAST(attributes->'files' AS VARCHAR[]), [])))) AS files
FROM signals
WHERE entity_type = 'commit' AND commit_sha IS NOT NULL AND repository IS NOT NULL
GROUP BY repository, commit_sha;

ALTER TABLE g_commit ADD COLUMN person VARCHAR;
UPDATE g_commit SET person = coalesce(
    (SELECT ap.person FROM g_actor_person AS ap WHERE ap.actor = g_commit.actor), g_commit.actor);

CREATE OR REPLACE TEMP TABLE g_ci AS
SELECT
    entity_id,
    min(source) AS source,
    min(repository) AS repository,
    min(commit_sha) AS sha,
    max(pr_number) AS pr_number,
    arg_max(attributes->>'head_branch', (occurred_at, event_id)) AS head_branch,
    arg_max(attributes->>'event', (occurred_at, event_id)) AS trigger,
    arg_max(title, (occurred_at, event_id)) AS title,
    arg_max(url, (occurred_at, event_id)) AS url,
    min(occurred_at) AS started_at,
    max(occurred_at) AS last_at,
    arg_min(event_id, (occurred_at, event_id)) AS first_event,
    arg_max(event_id, (occurred_at, event_id)) AS last_event
FROM signals
WHERE entity_type = 'ci_run'
GROUP BY entity_id;

CREATE OR REPLACE TEMP TABLE g_deploy AS
SELECT
    entity_id,
    min(source) AS source,
    min(repository) AS repository,
    string_split(min(repository), '/')[-1] AS service,
    max(environment) AS environment,
    max(commit_sha) AS sha,
    coalesce(min(occurred_at) FILTER (WHERE action = 'created'), min(occurred_at)) AS created_at,
    min(occurred_at) FILTER (WHERE action = 'status_success') AS succeeded_at,
    bool_or(action = 'status_success') AS succeeded,
    arg_min(url, (occurred_at, event_id)) AS url,
    arg_min(event_id, (occurred_at, event_id)) AS first_event,
    arg_min(event_id, (occurred_at, event_id)) FILTER (WHERE action = 'status_success')
        AS success_event,
    max(occurred_at) AS last_at
FROM signals
WHERE entity_type = 'deployment'
GROUP BY entity_id
-- A deployment names the sha it ships; records without one (Sentry's echo of a deploy) are
-- another tool's view of a deployment the CI/CD tool reports itself.
HAVING max(commit_sha) IS NOT NULL;

CREATE OR REPLACE TEMP TABLE g_ticket AS
SELECT
    entity_id AS ticket_key,
    min(source) AS source,
    arg_max(title, (occurred_at, event_id)) AS title,
    arg_max(url, (occurred_at, event_id)) AS url,
    arg_max(attributes->>'issue_type', (occurred_at, event_id)) AS issue_type,
    arg_max(CAST(attributes->'components' AS VARCHAR[]), (occurred_at, event_id)) AS components,
    list_distinct(list(attributes->>'assignee') FILTER (WHERE (attributes->>'assignee') IS NOT NULL))
        AS assignees,
    min(occurred_at) AS created_at,
    arg_min(event_id, (occurred_at, event_id)) AS first_event,
    max(occurred_at) AS last_at
FROM signals
WHERE entity_type = 'ticket'
GROUP BY entity_id;

-- Status moves of tickets, with the person who moved them.
CREATE OR REPLACE TEMP TABLE g_ticket_move AS
SELECT
    s.entity_id AS ticket_key,
    s.occurred_at,
    s.state,
    coalesce(s.attributes->>'status_category', '') AS category,
    lower(coalesce(s.state, '')) LIKE '%review%' AS to_review,
    (s.attributes->>'status_category') = 'done' OR lower(coalesce(s.state, '')) IN ('done', 'closed')
        AS to_done,
    coalesce(ap.person, s.actor) AS person,
    s.event_id
FROM signals AS s
LEFT JOIN g_actor_person AS ap ON ap.actor = s.actor
WHERE s.entity_type = 'ticket' AND s.action <> 'created';

-- The team owning each ticket, through the components (or Linear teams) teams declare.
CREATE OR REPLACE TEMP TABLE g_ticket_team AS
SELECT DISTINCT t.ticket_key, sc.team
FROM g_ticket AS t, g_team_scope AS sc
WHERE list_contains(t.components, sc.scope)
   OR (sc.source = t.source AND starts_with(t.ticket_key, sc.scope || '-'));

-- Distinct ticket keys seen per key prefix: a project prefix many keys share is a real project,
-- a one-off like ANDROID-15 (from "crash-on-android-15") is not.
CREATE OR REPLACE TEMP TABLE g_key_prefix AS
WITH keys AS (
    SELECT ticket_key AS k FROM g_ticket
    UNION SELECT unnest(ticket_keys) FROM g_pr
    UNION SELECT unnest(ticket_keys) FROM g_commit
    UNION SELECT unnest(ticket_keys) FROM signals WHERE entity_type = 'design_comment'
)
SELECT split_part(k, '-', 1) AS prefix, count(DISTINCT k) AS n_keys
FROM keys WHERE k IS NOT NULL
GROUP BY 1;

CREATE OR REPLACE TEMP TABLE g_incident AS
SELECT
    entity_id,
    min(source) AS source,
    arg_max(title, (occurred_at, event_id)) AS title,
    arg_max(url, (occurred_at, event_id)) AS url,
    max(release) AS release,
    coalesce(max(environment), 'production') AS environment,
    coalesce(
        min(attributes->>'project'),
        nullif(split_part(max(release), '@', 1), ''),
        string_split(min(repository), '/')[-1]) AS service,
    min(occurred_at) AS first_seen_at,
    greatest(max(occurred_at), max(try_cast(attributes->>'last_seen' AS TIMESTAMPTZ)))
        AS last_seen_at,
    arg_max(attributes->>'level', (occurred_at, event_id)) AS level,
    max(try_cast(attributes->>'count' AS DOUBLE)) AS event_count,
    max(attributes->>'first_release') AS first_release,
    arg_max(attributes->>'culprit', (occurred_at, event_id))
        FILTER (WHERE (attributes->>'culprit') IS NOT NULL) AS culprit,
    -- The files of the error's stack frames the tool reported, any event.
    list_distinct(flatten(list(coalesce(CAST(attributes->'files' AS VARCHAR[]), [])))) AS files,
    arg_min(event_id, (occurred_at, event_id)) AS first_event,
    max(occurred_at) AS last_at
FROM signals
WHERE entity_type = 'incident'
GROUP BY entity_id;

CREATE OR REPLACE TEMP TABLE g_design AS
SELECT
    entity_id,
    min(source) AS source,
    arg_min(coalesce(title, attributes->>'message', ''), (occurred_at, event_id)) AS message,
    list_distinct(flatten(list(coalesce(ticket_keys, [])))) AS ticket_keys,
    bool_or(coalesce(attributes->>'parent_id', '') <> '') AS is_reply,
    arg_min(url, (occurred_at, event_id)) AS url,
    min(occurred_at) AS created_at,
    arg_min(event_id, (occurred_at, event_id)) AS first_event,
    max(occurred_at) AS last_at
FROM signals
WHERE entity_type = 'design_comment'
GROUP BY entity_id;
