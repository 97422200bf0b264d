// Every node within 1 hop(s) of $start_id over relationships of confidence >= $min_confidence,
// not walking through nodes of $stop_kinds (reached, not expanded); one row per node, at its
// shortest depth. Same answer as sql/duckdb/graph_traverse.sql with depth 1.
MATCH (s:Node {id: $start_id})
MATCH p = SHORTEST 1 (s)((a)-[r]-(b)
    WHERE r.confidence >= $min_confidence AND (a.id = $start_id OR NOT a.kind IN $stop_kinds)){1,1}(n)
WHERE n <> s
RETURN n.id AS node_id, n.kind AS kind, length(p) AS depth
ORDER BY depth, node_id
