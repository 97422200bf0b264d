-- Product-manager digests: sprints / cycles and epics of the days $since … $day (the previous
-- digest's day is among them, to say what changed). Parameters: $since, $day.
SELECT team, as_of_date, container_type, container_id, name, ends_on, scope_at_start, added,
    removed, done, remaining, progress
FROM pm_progress
WHERE as_of_date BETWEEN CAST($since AS DATE) AND CAST($day AS DATE)
ORDER BY team, container_type, container_id, as_of_date;
