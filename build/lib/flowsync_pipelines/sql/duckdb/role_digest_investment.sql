-- Executive digests: the investment mix by category over the 28 days ending with $day.
SELECT team, category, sum(tickets_done) AS tickets_done, sum(share) AS share
FROM exec_investment WHERE as_of_date = CAST($day AS DATE)
GROUP BY ALL ORDER BY team, share DESC, category;
