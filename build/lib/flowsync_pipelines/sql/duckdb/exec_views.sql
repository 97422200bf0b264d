-- Executive: per team, the 7 days ending with each day (throughput, deployments, incidents and
-- restore times, investment by category), and the 28-day investment mix by category and epic.
INSERT INTO exec_team_weekly
WITH teams AS (SELECT DISTINCT team FROM st_repo_team UNION SELECT DISTINCT team FROM team_members),
grid AS (SELECT t.team, d.*, d.as_of - INTERVAL 7 DAY AS since FROM teams AS t CROSS JOIN st_days AS d),
done AS (
    SELECT g.team, g.as_of_date, c.category
    FROM grid AS g
    JOIN rv_ticket_day AS td ON td.as_of_date = g.as_of_date AND td.category = 'done'
        AND td.first_done_at >= g.since
    JOIN rv_ticket_category AS c ON c.ticket_id = td.ticket_id AND c.team = g.team
)
SELECT g.team, g.as_of_date,
    (SELECT count(*) FROM rv_change AS c WHERE c.team = g.team AND c.merged_at >= g.since AND c.merged_at < g.as_of),
    (SELECT count(*) FROM done AS x WHERE x.team = g.team AND x.as_of_date = g.as_of_date),
    (SELECT count(*) FROM rv_prod AS p WHERE p.team = g.team AND p.succeeded_at >= g.since AND p.succeeded_at < g.as_of),
    (SELECT count(*) FROM rv_incident AS i WHERE i.team = g.team AND i.first_seen_at >= g.since AND i.first_seen_at < g.as_of),
    (SELECT count(*) FROM rv_incident AS i WHERE i.team = g.team AND i.restored_at >= g.since AND i.restored_at < g.as_of),
    (SELECT quantile_cont((epoch(i.restored_at) - epoch(i.first_seen_at)) / 3600, 0.5) FROM rv_incident AS i
     WHERE i.team = g.team AND i.restored_at >= g.since AND i.restored_at < g.as_of),
    (SELECT count(*) FROM done AS x WHERE x.team = g.team AND x.as_of_date = g.as_of_date AND x.category = 'features'),
    (SELECT count(*) FROM done AS x WHERE x.team = g.team AND x.as_of_date = g.as_of_date AND x.category = 'defects'),
    (SELECT count(*) FROM done AS x WHERE x.team = g.team AND x.as_of_date = g.as_of_date AND x.category = 'maintenance'),
    (SELECT count(*) FROM done AS x WHERE x.team = g.team AND x.as_of_date = g.as_of_date AND x.category = 'unplanned')
FROM grid AS g;

INSERT INTO exec_investment
WITH done AS (
    SELECT c.team, td.as_of_date, c.category, coalesce(c.epic_id, '') AS epic_id
    FROM rv_ticket_day AS td
    JOIN rv_ticket_category AS c ON c.ticket_id = td.ticket_id
    WHERE td.category = 'done' AND td.first_done_at >= td.as_of - INTERVAL 28 DAY AND c.team IS NOT NULL
)
SELECT d.team, d.as_of_date, d.category, d.epic_id, any_value(c.name), count(*),
    count(*) / sum(count(*)) OVER (PARTITION BY d.team, d.as_of_date)
FROM done AS d LEFT JOIN rv_container AS c ON c.container_type = 'epic' AND c.container_id = d.epic_id
GROUP BY d.team, d.as_of_date, d.category, d.epic_id;
