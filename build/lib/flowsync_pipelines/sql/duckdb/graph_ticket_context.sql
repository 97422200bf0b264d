-- Refresh the materialised 3-hop context of every ticket (the fallback of degraded traversals):
-- the same walk as graph_traverse.sql, from all tickets at once.
CREATE OR REPLACE TABLE graph_ticket_context AS
WITH RECURSIVE walk(start_id, node_key, node_id, kind, depth, expand) AS (
    SELECT node_id, node_key, node_id, kind, 0, true
    FROM graph_node_keys
    WHERE kind = 'ticket'
    UNION
    SELECT w.start_id, a.neighbour_key, a.neighbour_id, a.neighbour_kind, w.depth + 1,
           NOT list_contains($stop_kinds, a.neighbour_kind)
    FROM walk AS w
    JOIN graph_adjacency AS a ON a.node_key = w.node_key
    WHERE w.expand AND w.depth < 3 AND a.confidence >= $min_confidence
)
SELECT start_id, node_id, any_value(kind) AS kind, CAST(min(depth) AS INTEGER) AS depth
FROM walk
WHERE depth > 0 AND node_id <> start_id
GROUP BY start_id, node_id
ORDER BY start_id, node_id
