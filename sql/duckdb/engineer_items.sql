-- Engineer: per person (pseudonym) and day, their open pull requests and review state, reviews
-- waiting on them, their failing CI, their tickets with linked work, and statements about their
-- work. Parameters: $min_link_confidence.
-- Signals carry no review-request events, so a pull request without a review is waiting on every
-- teammate of its author (same team, same tool) until someone reviews it.
INSERT INTO engineer_items
WITH open_pr AS (
    SELECT d.as_of_date, d.as_of, p.*, m.team,
        (SELECT arg_max(s.title, (s.occurred_at, s.event_id)) FROM signals AS s
         WHERE s.entity_type = 'pull_request' AND s.entity_id = p.entity_id AND s.occurred_at < d.as_of) AS title
    FROM st_pr AS p
    JOIN team_members AS m ON m.source = p.source AND m.actor = p.author
    JOIN st_days AS d ON p.opened_at < d.as_of
        AND coalesce(p.merged_at, p.closed_at, TIMESTAMPTZ '9999-12-31') >= d.as_of
),
review_state AS (
    SELECT o.as_of_date, o.entity_id,
        arg_max(r.state, (r.occurred_at, r.event_id)) AS state, count(*) AS reviews
    FROM open_pr AS o
    JOIN signals AS r ON r.entity_type = 'review' AND r.repository = o.repository
        AND r.pr_number = o.pr_number AND r.occurred_at < o.as_of AND r.actor_kind <> 'bot'
        AND r.actor IS DISTINCT FROM o.author
    GROUP BY ALL
),
ci_latest AS (
    SELECT o.as_of_date, o.entity_id AS pr_id,
        arg_max(c.entity_id, (c.occurred_at, c.event_id)) AS run_id,
        arg_max(c.state, (c.occurred_at, c.event_id)) AS state,
        arg_max(c.url, (c.occurred_at, c.event_id)) AS url,
        max(c.occurred_at) AS at
    FROM open_pr AS o
    JOIN st_edge AS e ON e.link_type = 'ci_pr' AND e.dst_id = o.entity_id AND e.confidence >= $min_link_confidence
    JOIN signals AS c ON c.entity_type = 'ci_run' AND c.action = 'completed' AND c.entity_id = e.src_id
        AND c.occurred_at < o.as_of
    GROUP BY ALL
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
)
SELECT o.team, o.as_of_date, o.author, 'open_pull_request', o.entity_id, o.title, o.url,
    coalesce(r.state, 'none'), o.opened_at, epoch(o.as_of - o.opened_at) / 3600, NULL
FROM open_pr AS o LEFT JOIN review_state AS r USING (as_of_date, entity_id)
UNION ALL
SELECT o.team, o.as_of_date, m.actor, 'review_requested', o.entity_id, o.title, o.url,
    'none', o.opened_at, epoch(o.as_of - o.opened_at) / 3600, NULL
FROM open_pr AS o
JOIN team_members AS m ON m.team = o.team AND m.source = o.source AND m.actor <> o.author
WHERE NOT EXISTS (SELECT 1 FROM review_state AS r WHERE r.as_of_date = o.as_of_date AND r.entity_id = o.entity_id)
UNION ALL
SELECT o.team, o.as_of_date, o.author, 'failing_ci', c.run_id, o.title, c.url, c.state, c.at,
    epoch(o.as_of - c.at) / 3600, [o.entity_id]
FROM open_pr AS o JOIN ci_latest AS c ON c.as_of_date = o.as_of_date AND c.pr_id = o.entity_id
WHERE c.state IN ('failure', 'failed', 'unstable', 'error', 'timed_out')
UNION ALL
SELECT t.team, t.as_of_date, t.person, 'ticket', t.ticket_id, t.title, t.url, t.status,
    t.last_change_at, epoch(t.as_of - t.last_change_at) / 3600,
    coalesce((SELECT list(DISTINCT e.src_id ORDER BY e.src_id) FROM st_edge AS e
              WHERE e.link_type = 'pr_ticket' AND e.dst_id = t.ticket_id
                AND e.confidence >= $min_link_confidence), [])
FROM my_ticket AS t
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
