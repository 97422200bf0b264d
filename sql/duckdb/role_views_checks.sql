-- Checks on one window of the role views: rows breaking a promise the views make.
-- Parameters: $window_start, $window_end (UTC day boundaries, end exclusive).
SELECT 'cycle_time_parts_add_up' AS check_name, count(*) AS failing
FROM em_cycle_time
WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
  AND (abs(coding_hours + pickup_hours + review_hours + deploy_hours - cycle_hours) > 1e-6
       OR least(coding_hours, pickup_hours, review_hours, deploy_hours) < 0)
UNION ALL
SELECT 'no_person_in_pm_and_exec_views', count(*)
FROM (
    SELECT to_json(t) AS j FROM pm_progress AS t WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
    UNION ALL SELECT to_json(t) FROM pm_items AS t WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
    UNION ALL SELECT to_json(t) FROM exec_team_weekly AS t WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
    UNION ALL SELECT to_json(t) FROM exec_investment AS t WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
    UNION ALL SELECT to_json(t) FROM dora AS t WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
)
WHERE regexp_matches(CAST(j AS VARCHAR), '\bp_[0-9a-f]{24}\b')
UNION ALL
SELECT 'engineer_items_one_row_per_item', count(*)
FROM (
    SELECT 1 FROM engineer_items
    WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
    GROUP BY team, as_of_date, person, item_kind, entity_id
    HAVING count(*) > 1
)
