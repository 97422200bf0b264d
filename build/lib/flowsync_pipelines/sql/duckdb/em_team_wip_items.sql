-- Engineering manager role view, item level: for each team and each day of the window, the pull
-- requests open at the end of the day, those merged that day, and the tickets in progress or done.
-- Parameters: $window_start, $window_end (UTC day boundaries, end exclusive).
INSERT INTO em_team_wip_items
WITH days AS (
    SELECT CAST(d AS DATE) AS as_of_date, d AS day_start, d + INTERVAL 1 DAY AS as_of
    FROM range(CAST($window_start AS TIMESTAMPTZ), CAST($window_end AS TIMESTAMPTZ), INTERVAL 1 DAY) AS t(d)
),
pull_requests AS (
    -- A deletion (a tombstone names only the entity) ends a pull request like a close.
    SELECT
        entity_id, any_value(source) AS source, max(repository) AS repository,
        max(pr_number) AS pr_number,
        min(occurred_at) FILTER (WHERE action = 'opened') AS opened_at,
        min(occurred_at) FILTER (WHERE action = 'merged') AS merged_at,
        min(occurred_at) FILTER (WHERE action IN ('closed', 'deleted')) AS closed_at,
        any_value(actor) FILTER (WHERE action = 'opened') AS author,
        any_value(title) AS title,
        any_value(url) AS url,
        min(event_id) FILTER (WHERE action = 'opened') AS opened_event,
        min(event_id) FILTER (WHERE action = 'merged') AS merged_event
    FROM signals
    WHERE entity_type = 'pull_request'
    GROUP BY entity_id
),
reviews AS (
    SELECT repository, pr_number, occurred_at, state, event_id
    FROM signals
    WHERE entity_type = 'review' AND actor_kind <> 'bot'
),
open_at_day AS (
    SELECT m.team, d.as_of_date, d.as_of, p.*
    FROM pull_requests p
    JOIN team_members m ON m.source = p.source AND m.actor = p.author
    JOIN days d ON p.opened_at < d.as_of
        AND coalesce(p.merged_at, p.closed_at, TIMESTAMPTZ '9999-12-31') >= d.as_of
),
review_state AS (
    SELECT o.team, o.as_of_date, o.entity_id,
        arg_max(r.state, r.occurred_at) AS last_review_state,
        list(r.event_id ORDER BY r.occurred_at) AS review_events
    FROM open_at_day o
    JOIN reviews r ON r.repository = o.repository AND r.pr_number = o.pr_number
        AND r.occurred_at < o.as_of
    GROUP BY ALL
),
ticket_events AS (
    SELECT entity_id, source, occurred_at, state, title, url, event_id,
        attributes->>'status_category' AS category,
        CAST(attributes->'components' AS VARCHAR[]) AS components,
        attributes->>'assignee' AS assignee
    FROM signals
    WHERE entity_type = 'ticket'
),
-- Each ticket's state after each of its events (the latest value of each field), held until its
-- next event: days join these spans by range, not every earlier event (a year's window made
-- that quadratic).
ticket_change AS (
    SELECT entity_id, source, occurred_at, event_id,
        last_value(category IGNORE NULLS) OVER upto AS category,
        last_value(title IGNORE NULLS) OVER upto AS title,
        last_value(url IGNORE NULLS) OVER upto AS url,
        last_value(components IGNORE NULLS) OVER upto AS components,
        last_value(assignee IGNORE NULLS) OVER upto AS assignee,
        lead(occurred_at) OVER upto AS next_at
    FROM ticket_events
    WINDOW upto AS (PARTITION BY entity_id ORDER BY occurred_at, event_id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
ticket_at_day AS (
    SELECT d.as_of_date, d.day_start, t.entity_id, t.source, t.category, t.title, t.url,
        t.components, t.assignee, t.occurred_at AS since, t.event_id AS last_event
    FROM ticket_change AS t
    JOIN days AS d ON d.as_of > t.occurred_at AND (t.next_at IS NULL OR d.as_of <= t.next_at)
    WHERE t.next_at IS NULL OR t.next_at > t.occurred_at
),
team_tickets AS (
    SELECT DISTINCT s.team, t.* EXCLUDE (source)
    FROM ticket_at_day t
    JOIN team_ticket_scopes s ON s.source = t.source AND list_contains(t.components, s.scope)
)
SELECT o.team, o.as_of_date, 'open_pull_request', o.entity_id, o.title, o.url, o.author,
    o.opened_at, date_diff('second', o.opened_at, o.as_of) / 86400.0,
    coalesce(r.last_review_state, 'none'),
    list_concat([o.opened_event], coalesce(r.review_events, []))
FROM open_at_day o
LEFT JOIN review_state r USING (team, as_of_date, entity_id)
UNION ALL
SELECT m.team, d.as_of_date, 'merged_pull_request', p.entity_id, p.title, p.url, p.author,
    p.merged_at, date_diff('second', p.opened_at, p.merged_at) / 86400.0, NULL,
    [p.opened_event, p.merged_event]
FROM pull_requests p
JOIN team_members m ON m.source = p.source AND m.actor = p.author
JOIN days d ON p.merged_at >= d.day_start AND p.merged_at < d.as_of
UNION ALL
SELECT team, as_of_date,
    CASE WHEN category = 'done' THEN 'ticket_done' ELSE 'ticket_in_progress' END,
    entity_id, title, url, assignee, since, NULL, NULL, [last_event]
FROM team_tickets
WHERE category = 'indeterminate' OR (category = 'done' AND since >= day_start);
