-- Cost probe of graph_traverse.sql at depth 1: the same walk unrolled into 1 joins, for
-- EXPLAIN's cardinality estimates (never executed by FlowSync, only explained).
SELECT count(*)
FROM graph_node_keys AS s
JOIN graph_adjacency AS a1 ON a1.node_key = s.node_key
WHERE s.node_id = $start_id
  AND a1.confidence >= $min_confidence
