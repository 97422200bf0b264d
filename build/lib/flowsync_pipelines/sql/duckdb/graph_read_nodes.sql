-- Every stored node, by id.
SELECT node_id, kind, title, url, stub, partition_day FROM graph_nodes ORDER BY node_id
