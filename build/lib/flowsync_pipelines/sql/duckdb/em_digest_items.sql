-- The items (with their evidence) behind a window's engineering-manager digest numbers.
SELECT * FROM em_team_wip_items
WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
ORDER BY team, as_of_date, item_kind, entity_id
