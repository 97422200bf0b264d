-- Product manager: each sprint / cycle active during the day (started, not finished before the
-- day began) and each epic / project with work, with scope change. A container belongs to the
-- team owning most of its tickets. Parameters: none beyond the prepared temp tables.
INSERT INTO pm_progress
WITH members AS (
    SELECT d.as_of_date, c.container_type, c.container_id, c.name, c.starts_at, c.ends_at,
        t.ticket_id, t.team, t.created_at, td.category, lower(td.status) AS status
    FROM rv_container AS c
    JOIN rv_ticket_container AS tc USING (container_type, container_id)
    JOIN rv_ticket AS t ON t.ticket_id = tc.ticket_id
    JOIN st_days AS d ON t.created_at < d.as_of AND coalesce(c.starts_at, t.created_at) < d.as_of
        AND (c.container_type = 'epic' OR c.ends_at IS NULL OR c.ends_at >= d.day_start)
    JOIN rv_ticket_day AS td ON td.ticket_id = t.ticket_id AND td.as_of_date = d.as_of_date
),
owner AS (
    -- the team with most of the container's tickets (a tie goes to the last by name)
    SELECT as_of_date, container_type, container_id, arg_max(team, (n, team)) AS team
    FROM (SELECT as_of_date, container_type, container_id, team, count(*) AS n
          FROM members WHERE team IS NOT NULL GROUP BY ALL)
    GROUP BY ALL
),
counted AS (
    SELECT as_of_date, container_type, container_id, any_value(name) AS name,
        any_value(starts_at) AS starts_at, any_value(ends_at) AS ends_at,
        count(*) FILTER (WHERE starts_at IS NULL OR created_at <= starts_at) AS scope_at_start,
        count(*) FILTER (WHERE created_at > starts_at) AS added,
        count(*) FILTER (WHERE category = 'done' AND status IN ('canceled', 'cancelled', 'won''t do', 'duplicate')) AS removed,
        count(*) FILTER (WHERE category = 'done' AND status NOT IN ('canceled', 'cancelled', 'won''t do', 'duplicate')) AS done
    FROM members
    GROUP BY ALL
)
SELECT o.team, c.as_of_date, c.container_type, c.container_id, c.name,
    CAST(c.starts_at AS DATE), CAST(c.ends_at AS DATE), c.scope_at_start, c.added, c.removed, c.done,
    c.scope_at_start + c.added - c.removed - c.done,
    c.done / nullif(c.scope_at_start + c.added - c.removed, 0)
FROM counted AS c
JOIN owner AS o USING (as_of_date, container_type, container_id);
