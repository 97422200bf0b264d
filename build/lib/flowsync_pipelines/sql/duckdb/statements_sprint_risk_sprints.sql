-- Sprints (Jira sprints, Linear cycles) as sprint_at_risk reads them: when each started, the end
-- date it was planned to end on (Jira's endDate, Linear's endsAt), the board or team whose
-- sprints it continues (for the team's past completion rate), when its scope was set (its
-- start: tickets created later are scope added), its start event and URL, and the
-- team owning most of its tickets. Only events before $window_end are read.
WITH sprint AS (
    SELECT entity_id,
        any_value(source) AS source,
        min(occurred_at) FILTER (WHERE action = 'started') AS started_at,
        min(event_id) FILTER (WHERE action = 'started') AS start_event,
        arg_max(url, (occurred_at, event_id)) AS url,
        max(coalesce(TRY_CAST(attributes->>'endDate' AS TIMESTAMPTZ),
                     TRY_CAST(attributes->>'ends_at' AS TIMESTAMPTZ))) AS ends_at,
        any_value(coalesce(attributes->>'originBoardId',
                           CAST(attributes->'components' AS VARCHAR[])[1])) AS board
    FROM signals
    WHERE entity_type = 'sprint' AND occurred_at < CAST($window_end AS TIMESTAMPTZ)
    GROUP BY entity_id
)
SELECT s.entity_id, s.source, s.started_at, s.started_at AS scoped_at, s.ends_at, CAST(s.ends_at AS DATE) AS ends_on,
    s.start_event, s.url,
    s.source || ':' || coalesce(s.board, '') AS board,
    (SELECT min(tt.team) FROM st_edge AS e JOIN st_ticket_team AS tt ON tt.entity_id = e.src_id
     WHERE e.link_type = 'ticket_sprint' AND e.dst_id = s.entity_id) AS team
FROM sprint AS s
WHERE s.started_at IS NOT NULL AND s.ends_at IS NOT NULL AND s.ends_at > s.started_at
ORDER BY s.entity_id
