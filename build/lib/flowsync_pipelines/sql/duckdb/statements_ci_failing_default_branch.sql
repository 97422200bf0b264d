-- Fact: the latest finished CI run of a pipeline (repository and workflow / job) on the default
-- branch before the end of the day failed; since = the first failure of the current streak.
WITH runs AS (
    SELECT
        coalesce(repository, 'jenkins:' || (attributes->>'job')) AS repository,
        source || ':' || coalesce(attributes->>'job', attributes->>'name', attributes->>'workflow', '') AS pipeline,
        occurred_at, event_id, url,
        state IN ('failure', 'failed', 'unstable', 'error', 'timed_out') AS failed
    FROM signals
    WHERE entity_type = 'ci_run' AND action = 'completed'
      AND list_contains($default_branches, attributes->>'head_branch')
),
-- The state after each run (a run of unknown outcome is no state), held until the pipeline's
-- next run: days join these spans by range (as st_ticket_day) instead of every earlier run.
run_state AS (
    SELECT repository, pipeline, occurred_at, failed,
        max(CASE WHEN NOT failed THEN occurred_at END) OVER upto AS last_success_at,
        lead(occurred_at) OVER upto AS next_at
    FROM runs
    WHERE failed IS NOT NULL
    WINDOW upto AS (PARTITION BY repository, pipeline ORDER BY occurred_at, event_id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
latest AS (
    SELECT d.as_of_date, d.as_of, r.repository, r.pipeline, r.failed AS failing, r.last_success_at
    FROM run_state AS r
    JOIN st_days AS d ON d.as_of > r.occurred_at AND (r.next_at IS NULL OR d.as_of <= r.next_at)
    WHERE r.next_at IS NULL OR r.next_at > r.occurred_at
),
streak AS (
    SELECT l.as_of_date, l.repository, l.pipeline,
        min(r.occurred_at) AS since,
        list(r.event_id ORDER BY r.occurred_at, r.event_id) AS events,
        arg_max(r.url, r.occurred_at) AS url
    FROM latest AS l
    JOIN runs AS r ON r.repository = l.repository AND r.pipeline = l.pipeline AND r.failed
        AND r.occurred_at < l.as_of
        AND r.occurred_at > coalesce(l.last_success_at, TIMESTAMPTZ '0001-01-01')
    WHERE l.failing
    GROUP BY ALL
)
SELECT
    s.as_of_date,
    any_value(t.team) AS team,
    'repo' AS subject_type, s.repository AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({since: strftime(min(s.since), '%Y-%m-%dT%H:%M:%SZ'),
             pipelines: list(s.pipeline ORDER BY s.pipeline)}) AS params,
    1.0 AS confidence,
    flatten(list(s.events ORDER BY s.pipeline))[1:20] AS evidence,
    list(s.url ORDER BY s.pipeline) AS citations
FROM streak AS s
LEFT JOIN st_repo_team AS t ON t.repository = s.repository
GROUP BY s.as_of_date, s.repository
