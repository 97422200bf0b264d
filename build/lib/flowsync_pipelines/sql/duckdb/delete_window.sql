-- Remove one window's rows from the role views before they are recomputed (re-runnable writes).
DELETE FROM em_team_wip_items WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE);
DELETE FROM em_team_wip WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE);
