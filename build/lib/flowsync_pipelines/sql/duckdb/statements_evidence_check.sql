-- Statements of a window that cite nothing: no event id, an event id absent from signals, or no
-- URL. Empty when every statement names its evidence.
WITH w AS (
    SELECT * FROM statements
    WHERE as_of_date >= CAST($window_start AS DATE) AND as_of_date < CAST($window_end AS DATE)
),
cited AS (SELECT statement_id, unnest(evidence) AS event_id FROM w),
missing AS (
    SELECT c.statement_id, list(c.event_id ORDER BY c.event_id) AS event_ids
    FROM cited AS c ANTI JOIN signals AS s ON s.event_id = c.event_id
    GROUP BY c.statement_id
)
SELECT w.statement_id, w.kind, w.subject_id,
    CASE
        WHEN len(w.evidence) = 0 THEN 'no evidence event'
        WHEN len(list_filter(w.citations, c -> c IS NOT NULL AND c <> '')) = 0 THEN 'no citation URL'
        ELSE 'evidence not in signals: ' || array_to_string(m.event_ids, ', ')
    END AS problem
FROM w LEFT JOIN missing AS m USING (statement_id)
WHERE len(w.evidence) = 0
   OR len(list_filter(w.citations, c -> c IS NOT NULL AND c <> '')) = 0
   OR m.event_ids IS NOT NULL
ORDER BY w.statement_id
