-- Every stored edge, by id.
SELECT edge_id, edge_type, link_type, src, dst, confidence, band, method, evidence, partition_day
FROM graph_edges
ORDER BY edge_id
