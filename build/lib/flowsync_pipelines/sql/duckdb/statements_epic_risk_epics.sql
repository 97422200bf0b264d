-- Epics with a due date as epic_at_risk reads them: Jira epics (issues of type Epic, their
-- duedate) and Linear projects (their targetDate), from events before $window_end. A plan
-- starts at its first event (the epic's creation, the project's start) and is due at the end of
-- its due date (UTC); ends_on is that date; its scope as planned is what it held a week after
-- it started (scoped_at: children filed later are scope added). The board is the tracker's epics (for their past
-- misses); the team owns the epic's components (Linear: the project's teams).
WITH epic AS (
    SELECT entity_id,
        any_value(source) AS source,
        min(occurred_at) AS started_at,
        arg_min(event_id, (occurred_at, event_id)) AS start_event,
        arg_max(url, (occurred_at, event_id)) AS url,
        arg_max(coalesce(attributes->>'due_date', attributes->>'target_date'),
                (occurred_at, event_id)) AS due_on,
        arg_max(CAST(attributes->'components' AS VARCHAR[]), (occurred_at, event_id)) AS components
    FROM signals
    WHERE ((entity_type = 'ticket' AND (attributes->>'issue_type') = 'Epic')
           OR entity_type = 'project')
      AND occurred_at < CAST($window_end AS TIMESTAMPTZ)
    GROUP BY entity_id
), due AS (
    SELECT *, TRY_CAST(due_on AS DATE) AS ends_on,
        CAST(TRY_CAST(due_on AS DATE) + INTERVAL 1 DAY AS TIMESTAMPTZ) AS ends_at
    FROM epic
)
SELECT d.entity_id, d.source, d.started_at, d.started_at + INTERVAL 7 DAY AS scoped_at,
    d.ends_at, d.ends_on, d.start_event, d.url,
    d.source || ':epics' AS board,
    (SELECT min(s.team) FROM team_ticket_scopes AS s
     WHERE s.source = d.source AND list_contains(d.components, s.scope)) AS team
FROM due AS d
WHERE d.ends_at IS NOT NULL AND d.ends_at > d.started_at
ORDER BY d.entity_id
