-- Trend rows for digests: per team, the 12 weekly points ending with $day (7 days apart) of the
-- executive week, DORA over 28 days (service 'all') and the team's flow. Parameters: $day.
WITH weeks AS (
    SELECT CAST($day AS DATE) - CAST(7 * w AS INTEGER) AS as_of_date, CAST(11 - w AS INTEGER) AS week
    FROM range(12) AS r(w)
)
SELECT x.team, w.week, w.as_of_date, x.merged_pull_requests, x.deployments AS deployments_week,
    x.incidents_opened, x.restore_p50_hours, d.deployments_per_day, d.lead_time_p50_hours,
    d.change_failure_rate, d.change_failure_rate_low, d.change_failure_rate_high,
    d.recovery_time_p50_hours, d.performance_level, d.deployment_frequency_level,
    d.lead_time_level, d.change_failure_level, d.recovery_level, f.cycle_p50_hours,
    f.first_review_p50_hours
FROM weeks AS w
JOIN exec_team_weekly AS x ON x.as_of_date = w.as_of_date
LEFT JOIN dora AS d ON d.team = x.team AND d.as_of_date = w.as_of_date AND d.service = 'all'
    AND d.window_days = 28
LEFT JOIN em_team_flow AS f ON f.team = x.team AND f.as_of_date = w.as_of_date
ORDER BY x.team, w.week;
