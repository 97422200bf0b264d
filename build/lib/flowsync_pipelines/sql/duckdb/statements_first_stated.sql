-- When each (kind, subject, object) was first stated before a window.
SELECT kind, subject_id, coalesce(object_id, '') AS object_key, min(first_stated_on) AS prior_first
FROM statements
WHERE as_of_date < CAST($window_start AS DATE)
GROUP BY ALL
