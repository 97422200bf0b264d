-- Engineer: per person (pseudonym) and day, their open pull requests and review state, reviews
-- waiting on them, their failing CI, their tickets with linked work, and statements about their
-- work. Parameters: $min_link_confidence.
-- Signals carry no review-request events, so a pull request without a review is waiting on every
-- teammate of its author (same team, same tool) until someone reviews it.
INSERT INTO engineer_items
-- A pull request's title, review state and latest CI run at the end of each day it is open: each
-- is a span from one event to the next, joined to the days by range (as st_ticket_day), not every
-- earlier event joined to every day.
WITH open_pr AS (
    SELECT d.as_of_date, d.as_of, p.*, m.team
    FROM st_pr AS p
    JOIN team_members AS m ON m.source = p.source AND m.actor = p.author
    JOIN st_days AS d ON p.opened_at < d.as_of
        AND coalesce(p.merged_at, p.closed_at, TIMESTAMPTZ '9999-12-31') >= d.as_of
),
title_span AS (
    SELECT entity_id, title, occurred_at,
        lead(occurred_at) OVER (PARTITION BY entity_id ORDER BY occurred_at, event_id) AS next_at
    FROM signals
    WHERE entity_type = 'pull_request' AND title IS NOT NULL
),
pr_title AS (
    SELECT o.as_of_date, o.entity_id, t.title
    FROM open_pr AS o
    JOIN title_span AS t ON t.entity_id = o.entity_id AND t.occurred_at < o.as_of
        AND (t.next_at IS NULL OR t.next_at >= o.as_of)
),
titled_pr AS (
    SELECT o.*, t.title
    FROM open_pr AS o LEFT JOIN pr_title AS t USING (as_of_date, entity_id)
),
review_event AS (
    SELECT p.entity_id, r.occurred_at,
        count(*) OVER running AS reviews,
        last_value(r.state IGNORE NULLS) OVER running AS state,
        lead(r.occurred_at) OVER (PARTITION BY p.entity_id ORDER BY r.occurred_at, r.event_id) AS next_at
    FROM st_pr AS p
    JOIN signals AS r ON r.entity_type = 'review' AND r.repository = p.repository
        AND r.pr_number = p.pr_number AND r.actor_kind <> 'bot'
        AND r.actor IS DISTINCT FROM p.author
    WINDOW running AS (PARTITION BY p.entity_id ORDER BY r.occurred_at, r.event_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
review_state AS (
    SELECT o.as_of_date, o.entity_id, r.state, r.reviews
    FROM open_pr AS o
    JOIN review_event AS r ON r.entity_id = o.entity_id AND r.occurred_at < o.as_of
        AND (r.next_at IS NULL OR r.next_at >= o.as_of)
),
ci_event AS (
    SELECT e.dst_id AS pr_id, c.occurred_at,
        last_value(c.entity_id IGNORE NULLS) OVER running AS run_id,
        last_value(c.state IGNORE NULLS) OVER running AS state,
        last_value(c.url IGNORE NULLS) OVER running AS url,
        lead(c.occurred_at) OVER (PARTITION BY e.dst_id ORDER BY c.occurred_at, c.event_id) AS next_at
    FROM st_edge AS e
    JOIN signals AS c ON c.entity_type = 'ci_run' AND c.action = 'completed' AND c.entity_id = e.src_id
    WHERE e.link_type = 'ci_pr' AND e.confidence >= $min_link_confidence
    WINDOW running AS (PARTITION BY e.dst_id ORDER BY c.occurred_at, c.event_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
ci_latest AS (
    SELECT o.as_of_date, o.entity_id AS pr_id, c.run_id, c.state, c.url, c.occurred_at AS at
    FROM open_pr AS o
    JOIN ci_event AS c ON c.pr_id = o.entity_id AND c.occurred_at < o.as_of
        AND (c.next_at IS NULL OR c.next_at >= o.as_of)
),
-- A ticket's assignee at the end of a day: its latest assignee set before then, held until the
-- next change (spans joined to days by range, as st_ticket_day).
assignee_change AS (
    SELECT entity_id AS ticket_id, source, occurred_at, person,
        lead(occurred_at) OVER (PARTITION BY entity_id ORDER BY occurred_at, event_id) AS next_at
    FROM (SELECT entity_id, source, occurred_at, event_id, attributes->>'assignee' AS person
          FROM signals WHERE entity_type = 'ticket' AND (attributes->>'assignee') IS NOT NULL)
),
assignee AS (
    SELECT d.as_of_date, d.as_of, a.ticket_id, a.source, a.person
    FROM assignee_change AS a
    JOIN st_days AS d ON d.as_of > a.occurred_at AND (a.next_at IS NULL OR d.as_of <= a.next_at)
    WHERE a.next_at IS NULL OR a.next_at > a.occurred_at
),
my_ticket AS (
    SELECT a.as_of_date, a.as_of, a.ticket_id, a.person, m.team, t.title, t.url, td.status,
        td.category, td.last_change_at
    FROM assignee AS a
    JOIN team_members AS m ON m.source = a.source AND m.actor = a.person
    JOIN rv_ticket AS t ON t.ticket_id = a.ticket_id
    JOIN rv_ticket_day AS td ON td.ticket_id = a.ticket_id AND td.as_of_date = a.as_of_date
    WHERE td.category <> 'done' OR td.last_change_at >= td.day_start
),
ticket_prs AS (
    SELECT dst_id AS ticket_id, list(DISTINCT src_id ORDER BY src_id) AS prs
    FROM st_edge
    WHERE link_type = 'pr_ticket' AND confidence >= $min_link_confidence
    GROUP BY dst_id
)
SELECT o.team, o.as_of_date, o.author, 'open_pull_request', o.entity_id, o.title, o.url,
    coalesce(r.state, 'none'), o.opened_at, (epoch(o.as_of) - epoch(o.opened_at)) / 3600, NULL
FROM titled_pr AS o LEFT JOIN review_state AS r USING (as_of_date, entity_id)
UNION ALL
SELECT o.team, o.as_of_date, m.actor, 'review_requested', o.entity_id, o.title, o.url,
    'none', o.opened_at, (epoch(o.as_of) - epoch(o.opened_at)) / 3600, NULL
FROM titled_pr AS o
JOIN team_members AS m ON m.team = o.team AND m.source = o.source AND m.actor <> o.author
WHERE NOT EXISTS (SELECT 1 FROM review_state AS r WHERE r.as_of_date = o.as_of_date AND r.entity_id = o.entity_id)
UNION ALL
SELECT o.team, o.as_of_date, o.author, 'failing_ci', c.run_id, o.title, c.url, c.state, c.at,
    (epoch(o.as_of) - epoch(c.at)) / 3600, [o.entity_id]
FROM titled_pr AS o JOIN ci_latest AS c ON c.as_of_date = o.as_of_date AND c.pr_id = o.entity_id
WHERE c.state IN ('failure', 'failed', 'unstable', 'error', 'timed_out')
UNION ALL
SELECT t.team, t.as_of_date, t.person, 'ticket', t.ticket_id, t.title, t.url, t.status,
    t.last_change_at, (epoch(t.as_of) - epoch(t.last_change_at)) / 3600,
    coalesce(l.prs, [])
FROM my_ticket AS t LEFT JOIN ticket_prs AS l USING (ticket_id)
UNION ALL
-- One subject can be claimed of several objects (a ticket shipped by two deployments).
SELECT owner.team, s.as_of_date, owner.person, 'statement',
    s.subject_id || ' ' || s.kind || coalesce(' ' || s.object_id, ''), s.text,
    s.citations[1], s.kind, CAST(s.first_stated_on AS TIMESTAMPTZ), NULL, [s.statement_id, s.band]
FROM statements AS s
JOIN st_days AS d ON d.as_of_date = s.as_of_date
JOIN (SELECT DISTINCT as_of_date, entity_id AS subject_id, author AS person, team FROM open_pr
      UNION SELECT DISTINCT as_of_date, ticket_id, person, team FROM my_ticket) AS owner
  ON owner.as_of_date = s.as_of_date AND owner.subject_id = s.subject_id;
