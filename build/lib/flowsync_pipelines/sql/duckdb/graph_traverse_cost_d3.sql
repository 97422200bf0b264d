-- Cost probe of graph_traverse.sql at depth 3: the same walk unrolled into 3 joins, for
-- EXPLAIN's cardinality estimates (never executed by FlowSync, only explained).
SELECT count(*)
FROM graph_node_keys AS s
JOIN graph_adjacency AS a1 ON a1.node_key = s.node_key
JOIN graph_adjacency AS a2 ON a2.node_key = a1.neighbour_key
JOIN graph_adjacency AS a3 ON a3.node_key = a2.neighbour_key
WHERE s.node_id = $start_id
  AND a1.confidence >= $min_confidence
  AND NOT list_contains($stop_kinds, a1.neighbour_kind)
  AND a2.confidence >= $min_confidence
  AND NOT list_contains($stop_kinds, a2.neighbour_kind)
  AND a3.confidence >= $min_confidence
