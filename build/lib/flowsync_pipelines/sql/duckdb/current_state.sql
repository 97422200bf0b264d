-- Current state of each entity, rebuilt from the whole signals table after every signals write.
-- Order-insensitive by construction: every column is an aggregate over the entity's event set
-- with a total order (occurred_at, event_id), so any arrival order, or duplicated
-- deliveries, give the same rows.

CREATE OR REPLACE TABLE pull_requests AS
SELECT
    entity_id,
    any_value(source) AS source,
    any_value(repository) AS repository,
    max(pr_number) AS pr_number,
    arg_max(title, (occurred_at, event_id)) AS title,
    arg_max(url, (occurred_at, event_id)) AS url,
    arg_min(actor, (occurred_at, event_id)) FILTER (WHERE action = 'opened') AS author,
    CASE
        WHEN bool_or(action = 'deleted') THEN 'deleted'
        WHEN bool_or(action = 'merged') THEN 'merged'
        WHEN max(occurred_at) FILTER (WHERE action = 'closed')
             >= coalesce(max(occurred_at) FILTER (WHERE action = 'reopened'), TIMESTAMPTZ '0001-01-01')
             THEN 'closed'
        ELSE 'open'
    END AS state,
    min(occurred_at) FILTER (WHERE action = 'opened') AS opened_at,
    min(occurred_at) FILTER (WHERE action = 'merged') AS merged_at,
    max(occurred_at) FILTER (WHERE action = 'closed') AS closed_at,
    list_distinct(flatten(list(ticket_keys))) AS ticket_keys,
    count(*) AS events,
    max(occurred_at) AS last_event_at
FROM signals
WHERE entity_type = 'pull_request'
GROUP BY entity_id;

CREATE OR REPLACE TABLE tickets AS
SELECT
    entity_id,
    any_value(source) AS source,
    arg_max(title, (occurred_at, event_id)) AS title,
    arg_max(url, (occurred_at, event_id)) AS url,
    arg_max(state, (occurred_at, event_id)) AS status,
    arg_max(attributes->>'status_category', (occurred_at, event_id)) AS status_category,
    arg_max(attributes->>'assignee', (occurred_at, event_id)) AS assignee,
    min(occurred_at) FILTER (WHERE action = 'created') AS created_at,
    max(occurred_at) AS last_event_at,
    count(*) AS events
FROM signals
WHERE entity_type = 'ticket'
GROUP BY entity_id;

CREATE OR REPLACE TABLE ci_runs AS
SELECT
    entity_id,
    any_value(source) AS source,
    any_value(repository) AS repository,
    any_value(commit_sha) AS commit_sha,
    max(pr_number) AS pr_number,
    arg_max(state, (occurred_at, event_id)) AS state,
    min(occurred_at) FILTER (WHERE action = 'started') AS started_at,
    max(occurred_at) FILTER (WHERE action = 'completed') AS completed_at,
    arg_max(url, (occurred_at, event_id)) AS url
FROM signals
WHERE entity_type = 'ci_run'
GROUP BY entity_id;

CREATE OR REPLACE TABLE deployments AS
SELECT
    entity_id,
    any_value(source) AS source,
    any_value(repository) AS repository,
    max(deployment_id) AS deployment_id,
    max(environment) AS environment,
    max(commit_sha) AS commit_sha,
    min(occurred_at) FILTER (WHERE action = 'created') AS created_at,
    arg_max(state, (occurred_at, event_id)) FILTER (WHERE action LIKE 'status_%') AS state,
    max(occurred_at) FILTER (WHERE action = 'status_success') AS succeeded_at
FROM signals
WHERE entity_type = 'deployment'
GROUP BY entity_id;

CREATE OR REPLACE TABLE incidents AS
SELECT
    entity_id,
    any_value(source) AS source,
    arg_max(title, (occurred_at, event_id)) AS title,
    arg_max(url, (occurred_at, event_id)) AS url,
    arg_max(state, (occurred_at, event_id)) AS state,
    max(release) AS release,
    min(occurred_at) AS first_seen_at,
    max(occurred_at) AS last_seen_at
FROM signals
WHERE entity_type = 'incident'
GROUP BY entity_id;

CREATE OR REPLACE TABLE design_comments AS
SELECT
    entity_id,
    any_value(source) AS source,
    arg_max(title, (occurred_at, event_id)) AS title,
    arg_max(url, (occurred_at, event_id)) AS url,
    list_distinct(flatten(list(ticket_keys))) AS ticket_keys,
    min(occurred_at) AS created_at,
    bool_or(action = 'resolved') AS resolved,
    bool_or(action = 'deleted') AS deleted
FROM signals
WHERE entity_type = 'design_comment'
GROUP BY entity_id;
