-- Engineering manager, team level: work in progress at each day's end (em_team_wip's counts),
-- time to first review and review time of the pull requests merged, and cycle time, over the 28 days ending with it, and the day's blocked items and
-- risks (em_attention). Run after em_team_wip, em_cycle_time and em_attention.
INSERT INTO em_team_flow
WITH teams AS (SELECT DISTINCT team FROM st_repo_team UNION SELECT DISTINCT team FROM team_members),
grid AS (SELECT t.team, d.* FROM teams AS t CROSS JOIN st_days AS d),
reviews AS (
    -- pull requests merged in the 28 days, a review after the merge is no pickup
    SELECT g.team, g.as_of_date,
        quantile_cont((epoch(c.picked_up_at) - epoch(c.opened_at)) / 3600, 0.5) FILTER (WHERE c.first_review_at <= c.merged_at) AS fr50,
        quantile_cont((epoch(c.picked_up_at) - epoch(c.opened_at)) / 3600, 0.9) FILTER (WHERE c.first_review_at <= c.merged_at) AS fr90,
        quantile_cont((epoch(c.merged_at) - epoch(c.picked_up_at)) / 3600, 0.5) FILTER (WHERE c.first_review_at <= c.merged_at) AS rv50,
        quantile_cont((epoch(c.merged_at) - epoch(c.picked_up_at)) / 3600, 0.9) FILTER (WHERE c.first_review_at <= c.merged_at) AS rv90
    FROM grid AS g JOIN rv_change AS c ON c.team = g.team AND c.merged_at < g.as_of
        AND c.merged_at >= g.as_of - INTERVAL 28 DAY
    GROUP BY ALL
),
cycles AS (
    SELECT g.team, g.as_of_date,
        quantile_cont(c.cycle_hours, 0.5) AS c50, quantile_cont(c.cycle_hours, 0.9) AS c90,
        -- ordered: a float sum's last bits depend on the order DuckDB's threads add in
        round(avg(c.coding_hours ORDER BY c.pull_request, c.as_of_date), 6) AS coding,
        round(avg(c.pickup_hours ORDER BY c.pull_request, c.as_of_date), 6) AS pickup,
        round(avg(c.review_hours ORDER BY c.pull_request, c.as_of_date), 6) AS review,
        round(avg(c.deploy_hours ORDER BY c.pull_request, c.as_of_date), 6) AS deploy,
        round(avg(c.cycle_hours ORDER BY c.pull_request, c.as_of_date), 6) AS cycle
    FROM grid AS g JOIN em_cycle_time AS c ON c.team = g.team
        AND c.as_of_date > g.as_of_date - 28 AND c.as_of_date <= g.as_of_date
    GROUP BY ALL
)
SELECT g.team, g.as_of_date,
    coalesce(w.open_pull_requests, 0), coalesce(w.tickets_in_progress, 0),
    r.fr50, r.fr90, r.rv50, r.rv90, c.c50, c.c90, c.coding, c.pickup, c.review, c.deploy, c.cycle,
    (SELECT count(*) FROM em_attention AS a WHERE a.team = g.team AND a.as_of_date = g.as_of_date AND a.item_kind = 'blocked'),
    (SELECT count(*) FROM em_attention AS a WHERE a.team = g.team AND a.as_of_date = g.as_of_date AND a.item_kind = 'risk')
FROM grid AS g
LEFT JOIN em_team_wip AS w ON w.team = g.team AND w.as_of_date = g.as_of_date
LEFT JOIN reviews AS r ON r.team = g.team AND r.as_of_date = g.as_of_date
LEFT JOIN cycles AS c ON c.team = g.team AND c.as_of_date = g.as_of_date;
