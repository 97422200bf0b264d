-- Edges a traversal from $start_id can take first (one lookup in the sorted adjacency).
SELECT count(*) AS degree
FROM graph_adjacency
WHERE node_key = (SELECT node_key FROM graph_node_keys WHERE node_id = $start_id)
  AND confidence >= $min_confidence
