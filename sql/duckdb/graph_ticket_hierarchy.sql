-- Parent (epic) node and sprints of each ticket, from ticket events' attributes: "parent" (a key)
-- and "sprints" (sprint ids) where a tracker's normaliser gives them; Linear's "project" (a
-- project name, the project entity is the epic) and "cycle" (a cycle number of the team's
-- cycles, which are sprint entities). A Linear issue's "cycle" names only the cycle it is in
-- now: the closed cycles that held it unfinished (their "unfinished_on_close") are its sprints
-- too, as Jira keeps a carried-over issue's closed sprints.
WITH
latest AS (
    SELECT entity_id, source,
           arg_max(attributes, (occurred_at, event_id)) AS attrs,
           arg_max(event_id, (occurred_at, event_id)) AS event_id
    FROM signals WHERE entity_type = 'ticket'
    GROUP BY entity_id, source
),
projects AS (
    SELECT entity_id, arg_max(title, (occurred_at, event_id)) AS name,
           arg_max(CAST(attributes->'components' AS VARCHAR[]), (occurred_at, event_id)) AS components
    FROM signals WHERE entity_type = 'project'
    GROUP BY entity_id
),
cycles AS (
    SELECT entity_id, max(try_cast(attributes->>'number' AS BIGINT)) AS number,
           arg_max(CAST(attributes->'components' AS VARCHAR[]), (occurred_at, event_id)) AS components,
           arg_max(CAST(attributes->'unfinished_on_close' AS VARCHAR[]), (occurred_at, event_id))
               FILTER (WHERE (attributes->'unfinished_on_close') IS NOT NULL) AS unfinished
    FROM signals WHERE entity_type = 'sprint'
    GROUP BY entity_id
),
carried AS (
    SELECT ticket_key, list(entity_id ORDER BY entity_id) AS sprints
    FROM (SELECT entity_id, unnest(unfinished) AS ticket_key FROM cycles)
    GROUP BY ticket_key
),
tickets AS (
    SELECT entity_id AS ticket_key, event_id,
           attrs->>'parent' AS parent,
           attrs->>'project' AS project,
           CAST(attrs->'sprints' AS VARCHAR[]) AS sprints,
           try_cast(attrs->>'cycle' AS BIGINT) AS cycle,
           coalesce(CAST(attrs->'components' AS VARCHAR[]), []) AS components
    FROM latest
)
SELECT
    t.ticket_key,
    coalesce(
        'ticket:' || t.parent,
        (SELECT 'epic:' || min(p.entity_id) FROM projects AS p
         WHERE p.name = t.project AND len(list_intersect(p.components, t.components)) > 0)
    ) AS parent_key,
    list_sort(list_distinct(list_concat(
        coalesce(
            t.sprints,
            (SELECT list(c.entity_id ORDER BY c.entity_id) FROM cycles AS c
             WHERE c.number = t.cycle AND len(list_intersect(c.components, t.components)) > 0),
            []
        ),
        coalesce(cr.sprints, [])
    ))) AS sprints,
    t.event_id
FROM tickets AS t
LEFT JOIN carried AS cr ON cr.ticket_key = t.ticket_key
WHERE t.parent IS NOT NULL OR t.project IS NOT NULL OR t.sprints IS NOT NULL
   OR t.cycle IS NOT NULL OR cr.sprints IS NOT NULL
