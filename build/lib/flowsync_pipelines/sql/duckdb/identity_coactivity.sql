-- Identity co-activity: the code-host account that opens or merges a pull request naming a ticket
-- (key in its title/body or branch) and the tracker accounts that move that ticket. One row per
-- (code account, tracker account) pair with how many tickets they share, how many keyed tickets
-- each has in all, and whether each is the other's most frequent partner.
-- $ticket_sources: tracker sources (jira, linear); $code_actions: pull request actions read.
WITH
pr_tickets AS (
    SELECT DISTINCT s.actor AS code_actor, upper(k.key) AS ticket_key
    FROM signals AS s,
         unnest(list_concat(
             coalesce(s.ticket_keys, []),
             regexp_extract_all(upper(coalesce(s.attributes->>'head_ref', '')),
                                '\b[A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6}\b'))) AS k(key)
    WHERE s.entity_type = 'pull_request' AND list_contains($code_actions, s.action)
      AND s.actor_kind = 'human' AND s.actor IS NOT NULL
),
moves AS (
    SELECT DISTINCT actor AS ticket_actor, upper(entity_id) AS ticket_key
    FROM signals
    WHERE entity_type = 'ticket' AND list_contains($ticket_sources, source)
      AND action NOT IN ('created', 'deleted', 'commented')
      AND actor_kind = 'human' AND actor IS NOT NULL
),
joined AS (
    SELECT p.code_actor, m.ticket_actor, p.ticket_key
    FROM pr_tickets AS p JOIN moves AS m USING (ticket_key)
),
code_totals AS (
    SELECT code_actor, count(DISTINCT ticket_key) AS code_tickets FROM joined GROUP BY ALL
),
mover_totals AS (
    SELECT ticket_actor, count(DISTINCT ticket_key) AS mover_tickets FROM joined GROUP BY ALL
),
pairs AS (
    SELECT code_actor, ticket_actor, count(DISTINCT ticket_key) AS co_tickets
    FROM joined GROUP BY ALL
)
SELECT p.code_actor, p.ticket_actor, p.co_tickets, c.code_tickets, t.mover_tickets,
       p.co_tickets = max(p.co_tickets) OVER (PARTITION BY p.code_actor)
       AND p.co_tickets = max(p.co_tickets) OVER (PARTITION BY p.ticket_actor) AS mutual_best
FROM pairs AS p
JOIN code_totals AS c USING (code_actor)
JOIN mover_totals AS t USING (ticket_actor)
ORDER BY p.code_actor, p.ticket_actor
