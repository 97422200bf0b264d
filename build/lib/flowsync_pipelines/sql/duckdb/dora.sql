-- DORA per team and service (service = repository, 'all' = the team's services), for each day
-- of the window and the rolling 28 / 84 days ending with it. Parameters: none beyond the temp
-- tables of statements_prepare.sql and role_views_prepare.sql.
-- Change failure rate is an expected value: a deployment failed with probability
-- 1 - prod(1 - c) over the calibrated incident links to it known by the day's end; the count of
-- failures is Poisson-binomial, its 95 % interval the normal approximation (clipped to 0..n).
INSERT INTO dora
WITH win AS (
    SELECT d.as_of_date, d.as_of, w.window_days, d.as_of - to_days(w.window_days) AS since
    FROM st_days AS d CROSS JOIN (VALUES (1), (28), (84)) AS w(window_days)
),
scope AS (
    SELECT team, repository, repository AS service FROM st_repo_team
    UNION ALL SELECT team, repository, 'all' FROM st_repo_team
),
fail AS (
    SELECT d.as_of_date, l.deployment_id,
        1 - product(1 - l.confidence ORDER BY l.incident_id) AS p
    FROM rv_incident_link AS l JOIN st_days AS d ON l.first_seen_at < d.as_of
    GROUP BY ALL
),
deploys AS (
    SELECT s.team, s.service, w.as_of_date, w.window_days,
        count(p.deployment_id) AS deployments,
        -- ordered: a float sum's last bits depend on the order DuckDB's threads add in
        round(coalesce(sum(f.p ORDER BY p.deployment_id), 0), 9) AS failures,
        round(coalesce(sum(f.p * (1 - f.p) ORDER BY p.deployment_id), 0), 9) AS failures_var,
        round(coalesce(sum(r.p_rework ORDER BY p.deployment_id), 0), 9) AS rework
    FROM scope AS s CROSS JOIN win AS w
    LEFT JOIN rv_prod AS p ON p.repository = s.repository AND p.succeeded_at >= w.since
        AND p.succeeded_at < w.as_of
    LEFT JOIN fail AS f ON f.deployment_id = p.deployment_id AND f.as_of_date = w.as_of_date
    LEFT JOIN rv_rework AS r ON r.deployment_id = p.deployment_id
    GROUP BY ALL
),
lead AS (
    SELECT s.team, s.service, w.as_of_date, w.window_days, count(*) AS changes,
        quantile_cont((epoch(c.deployed_at) - epoch(c.first_commit_at)) / 3600, 0.5) AS p50,
        quantile_cont((epoch(c.deployed_at) - epoch(c.first_commit_at)) / 3600, 0.9) AS p90
    FROM scope AS s CROSS JOIN win AS w
    JOIN rv_change AS c ON c.repository = s.repository AND c.deployed_at >= w.since
        AND c.deployed_at < w.as_of
    GROUP BY ALL
),
restore AS (
    SELECT s.team, s.service, w.as_of_date, w.window_days, count(*) AS restored,
        quantile_cont((epoch(i.restored_at) - epoch(i.first_seen_at)) / 3600, 0.5) AS p50,
        quantile_cont((epoch(i.restored_at) - epoch(i.first_seen_at)) / 3600, 0.9) AS p90
    FROM scope AS s CROSS JOIN win AS w
    JOIN rv_incident AS i ON i.confidence >= 0.5 AND i.restored_at >= w.since AND i.restored_at < w.as_of
    JOIN rv_prod AS p ON p.deployment_id = i.deployment_id AND p.repository = s.repository
    GROUP BY ALL
),
figures AS (
    SELECT d.team, d.service, d.as_of_date, d.window_days, d.deployments,
        d.deployments / d.window_days AS deployments_per_day,
        coalesce(l.changes, 0) AS changes, l.p50 AS lead_p50, l.p90 AS lead_p90,
        d.failures,
        d.failures / nullif(d.deployments, 0) AS cfr,
        greatest(d.failures - 1.96 * sqrt(d.failures_var), 0) / nullif(d.deployments, 0) AS cfr_low,
        least(d.failures + 1.96 * sqrt(d.failures_var), d.deployments) / nullif(d.deployments, 0) AS cfr_high,
        coalesce(r.restored, 0) AS restored, r.p50 AS restore_p50, r.p90 AS restore_p90,
        d.rework, d.rework / nullif(d.deployments, 0) AS rework_rate
    FROM deploys AS d
    LEFT JOIN lead AS l USING (team, service, as_of_date, window_days)
    LEFT JOIN restore AS r USING (team, service, as_of_date, window_days)
),
levels AS (
    SELECT f.*,
        (SELECT arg_min(t.level, t.rank) FROM dora_thresholds AS t WHERE t.metric = 'deployment_frequency'
            AND (t.bound IS NULL OR f.deployments_per_day >= t.bound)) AS df_level,
        (SELECT arg_min(t.level, t.rank) FROM dora_thresholds AS t WHERE t.metric = 'lead_time'
            AND f.lead_p50 IS NOT NULL AND (t.bound IS NULL OR f.lead_p50 < t.bound)) AS lt_level,
        (SELECT arg_min(t.level, t.rank) FROM dora_thresholds AS t WHERE t.metric = 'change_failure_rate'
            AND f.cfr IS NOT NULL AND (t.bound IS NULL OR f.cfr <= t.bound)) AS cfr_level,
        (SELECT arg_min(t.level, t.rank) FROM dora_thresholds AS t WHERE t.metric = 'recovery_time'
            AND f.restore_p50 IS NOT NULL AND (t.bound IS NULL OR f.restore_p50 < t.bound)) AS rt_level
    FROM figures AS f
)
SELECT team, service, as_of_date, window_days, deployments, deployments_per_day, changes,
    lead_p50, lead_p90, failures, cfr, cfr_low, cfr_high, restored, restore_p50, restore_p90,
    rework, rework_rate, df_level, lt_level, cfr_level, rt_level,
    (SELECT arg_max(t.level, t.rank) FROM dora_thresholds AS t
     WHERE t.metric = 'deployment_frequency'
       AND t.level IN (df_level, lt_level, cfr_level, rt_level)) AS performance_level
FROM levels;
