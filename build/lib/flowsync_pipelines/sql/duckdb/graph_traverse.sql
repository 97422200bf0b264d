-- Every node within $depth hops of $start_id, following edges either way with confidence >=
-- $min_confidence; nodes of $stop_kinds (hubs such as people, teams, repositories, sprints,
-- epics) are reached but not expanded. Returns each node once, at its shortest depth.
WITH RECURSIVE walk(node_key, node_id, kind, depth, expand) AS (
    SELECT node_key, node_id, kind, 0, true
    FROM graph_node_keys
    WHERE node_id = $start_id
    UNION
    SELECT a.neighbour_key, a.neighbour_id, a.neighbour_kind, w.depth + 1,
           NOT list_contains($stop_kinds, a.neighbour_kind)
    FROM walk AS w
    JOIN graph_adjacency AS a ON a.node_key = w.node_key
    WHERE w.expand AND w.depth < $depth AND a.confidence >= $min_confidence
)
SELECT node_id, kind, min(depth) AS depth
FROM walk
WHERE depth > 0 AND node_id <> $start_id
GROUP BY node_id, kind
ORDER BY depth, node_id
