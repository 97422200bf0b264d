-- Inferred: a ticket in progress at the end of the day that is blocked: a Jira "blocks" link from
-- a ticket not done yet (reason blocked_by, confidence 1.0), or no linked activity for
-- $blocked_days days (reason idle): none of its own events, nor of the pull requests the graph
-- links to it with at least $min_link_confidence (their events, reviews, commits). An idle
-- ticket's confidence is the probability that no weaker candidate pull request active in that
-- time is really its work, prod(1 - p), times $unseen_link_prior. Idle for $stale_days days or
-- more, the ticket is abandoned rather than blocked: it is no longer stated.
-- Input: st_jira_link (jira_issue_links.sql, registered by the caller).
WITH state AS (
    SELECT as_of_date, as_of, ticket_id AS entity_id, category, last_change_at AS last_ticket_at,
        last_event, url
    FROM st_ticket_day
),
in_progress AS (SELECT * FROM state WHERE category = 'indeterminate'),
linked AS (
    SELECT i.as_of_date, i.entity_id, l.confidence, max(a.occurred_at) AS last_at,
        arg_max(a.event_id, a.occurred_at) AS last_event
    FROM in_progress AS i
    JOIN st_edge AS l ON l.link_type = 'pr_ticket' AND l.dst_id = i.entity_id
    JOIN st_pr_activity AS a ON a.pr_id = l.src_id AND a.occurred_at < i.as_of
    GROUP BY i.as_of_date, i.entity_id, l.src_id, l.confidence
),
idle_links AS (
    SELECT i.as_of_date, i.entity_id,
        max(l.last_at) FILTER (WHERE l.confidence >= $min_link_confidence) AS last_linked_at,
        list(l.confidence) FILTER (WHERE l.confidence < $min_link_confidence
            AND l.last_at >= i.as_of - to_days(CAST($blocked_days AS INTEGER))) AS weak
    FROM in_progress AS i
    LEFT JOIN linked AS l USING (as_of_date, entity_id)
    GROUP BY i.as_of_date, i.entity_id, i.as_of
),
idle AS (
    SELECT i.*, greatest(i.last_ticket_at, x.last_linked_at) AS last_activity, x.weak
    FROM in_progress AS i JOIN idle_links AS x USING (as_of_date, entity_id)
),
blockers AS (
    SELECT i.as_of_date, i.entity_id, j.source_key AS blocker, j.linked_event_id, j.source_url,
        b.last_event AS blocker_event
    FROM in_progress AS i
    JOIN st_jira_link AS j ON j.destination_key = i.entity_id AND lower(j.outward) = 'blocks'
        AND j.linked_at < i.as_of
    JOIN state AS b ON b.as_of_date = i.as_of_date AND b.entity_id = j.source_key
    WHERE b.category <> 'done'
)
SELECT
    i.as_of_date, (SELECT min(team) FROM st_ticket_team AS t WHERE t.entity_id = i.entity_id) AS team,
    'ticket' AS subject_type, i.entity_id AS subject_id,
    'ticket' AS object_type, b.blocker AS object_id,
    to_json({reason: 'blocked_by', blocker: b.blocker}) AS params,
    1.0 AS confidence,
    [b.linked_event_id, b.blocker_event, i.last_event] AS evidence,
    [i.url, b.source_url] AS citations
FROM blockers AS b
JOIN in_progress AS i USING (as_of_date, entity_id)
UNION ALL
SELECT
    i.as_of_date, (SELECT min(team) FROM st_ticket_team AS t WHERE t.entity_id = i.entity_id) AS team,
    'ticket' AS subject_type, i.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({reason: 'idle', idle_days: CAST(floor(date_diff('second', i.last_activity, i.as_of) / 86400) AS INTEGER),
             last_activity_at: strftime(i.last_activity, '%Y-%m-%dT%H:%M:%SZ')}) AS params,
    $unseen_link_prior * coalesce(list_product(list_transform(i.weak, x -> 1 - x)), 1.0) AS confidence,
    [i.last_event] AS evidence,
    [i.url] AS citations
FROM idle AS i
WHERE i.last_activity < i.as_of - to_days(CAST($blocked_days AS INTEGER))
  AND i.last_activity >= i.as_of - to_days(CAST($stale_days AS INTEGER))
  AND NOT EXISTS (SELECT 1 FROM blockers AS b WHERE b.as_of_date = i.as_of_date AND b.entity_id = i.entity_id)
