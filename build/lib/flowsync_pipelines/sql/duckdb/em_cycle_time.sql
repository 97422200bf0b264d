-- Engineering manager: each pull request whose cycle ended (first successful production
-- deployment) during a day of the window; the parts add up to the whole by construction.
INSERT INTO em_cycle_time
SELECT c.team, d.as_of_date, c.pr_id, c.author, c.first_commit_at, c.opened_at,
    c.first_review_at, c.merged_at, c.deployed_at,
    (epoch(c.opened_at) - epoch(c.first_commit_at)) / 3600,
    (epoch(c.picked_up_at) - epoch(c.opened_at)) / 3600,
    (epoch(c.merged_at) - epoch(c.picked_up_at)) / 3600,
    (epoch(c.deployed_at) - epoch(c.merged_at)) / 3600,
    (epoch(c.deployed_at) - epoch(c.first_commit_at)) / 3600
FROM rv_change AS c
JOIN st_days AS d ON c.deployed_at >= d.day_start AND c.deployed_at < d.as_of;
