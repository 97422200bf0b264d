-- The team-level numbers a window's engineering-manager digests state.
SELECT * FROM em_team_wip
WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
ORDER BY team, as_of_date
