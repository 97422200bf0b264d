-- Replace one window's statements (input _statements_window, registered by the caller), then
-- move first_stated_on earlier on later days' rows that this window now states first.
DELETE FROM statements
WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE);

INSERT INTO statements BY NAME SELECT * FROM _statements_window;

UPDATE statements AS s SET first_stated_on = w.first
FROM (SELECT kind, subject_id, coalesce(object_id, '') AS object_key, min(first_stated_on) AS first
      FROM _statements_window GROUP BY ALL) AS w
WHERE s.as_of_date >= CAST($window_end AS DATE)
  AND s.kind = w.kind AND s.subject_id = w.subject_id AND coalesce(s.object_id, '') = w.object_key
  AND w.first < s.first_stated_on
