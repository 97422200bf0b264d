-- Human reviews by someone other than the author, before $window_end (pr_will_stall features).
SELECT pr_id, occurred_at FROM st_review
WHERE occurred_at < CAST($window_end AS TIMESTAMPTZ)
ORDER BY pr_id, occurred_at
