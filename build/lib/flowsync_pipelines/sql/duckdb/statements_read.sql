-- The statements of a window, in a stable order.
SELECT * FROM statements
WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
ORDER BY as_of_date, team, kind, subject_id, object_id
