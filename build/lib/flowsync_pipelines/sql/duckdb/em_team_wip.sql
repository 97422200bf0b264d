-- Engineering manager role view, team level: the counts behind each team's daily digest,
-- computed from the item-level view so every number can list its items and their evidence.
-- Parameters: $window_start, $window_end (UTC day boundaries, end exclusive).
INSERT INTO em_team_wip
WITH days AS (
    SELECT CAST(d AS DATE) AS as_of_date
    FROM range(CAST($window_start AS TIMESTAMPTZ), CAST($window_end AS TIMESTAMPTZ), INTERVAL 1 DAY) AS t(d)
),
teams AS (SELECT DISTINCT team FROM team_members UNION SELECT DISTINCT team FROM team_ticket_scopes)
SELECT
    teams.team,
    days.as_of_date,
    count(*) FILTER (WHERE i.item_kind = 'open_pull_request'),
    count(*) FILTER (WHERE i.item_kind = 'open_pull_request' AND i.review_state = 'none'),
    count(*) FILTER (WHERE i.item_kind = 'open_pull_request' AND i.age_days > 3),
    count(*) FILTER (WHERE i.item_kind = 'merged_pull_request'),
    count(*) FILTER (WHERE i.item_kind = 'ticket_in_progress'),
    count(*) FILTER (WHERE i.item_kind = 'ticket_done')
FROM teams
CROSS JOIN days
LEFT JOIN em_team_wip_items i ON i.team = teams.team AND i.as_of_date = days.as_of_date
GROUP BY teams.team, days.as_of_date;
