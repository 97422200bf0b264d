-- Replace one window's partition of the graph. Inputs (registered by the caller):
-- _graph_nodes_window / _graph_edges_window: the rows to write (partition in the window, plus
-- the endpoints of those edges); _graph_node_ids / _graph_edge_ids: every node and edge id of
-- the freshly built graph. Rows of the window that no longer exist anywhere are removed, as are
-- vanished edges touching a node written now; rows that moved to a later day stay until that
-- day's partition is written.
DELETE FROM graph_edges
WHERE edge_id IN (SELECT edge_id FROM _graph_edges_window)
   OR ((partition_day >= $start_day AND partition_day < $end_day
        OR src IN (SELECT node_id FROM _graph_nodes_window)
        OR dst IN (SELECT node_id FROM _graph_nodes_window))
       AND edge_id NOT IN (SELECT edge_id FROM _graph_edge_ids));

DELETE FROM graph_nodes
WHERE node_id IN (SELECT node_id FROM _graph_nodes_window)
   OR (partition_day >= $start_day AND partition_day < $end_day
       AND node_id NOT IN (SELECT node_id FROM _graph_node_ids));

-- Edges whose end nodes were removed go with them.
DELETE FROM graph_edges
WHERE src NOT IN (SELECT node_id FROM graph_nodes UNION SELECT node_id FROM _graph_nodes_window)
   OR dst NOT IN (SELECT node_id FROM graph_nodes UNION SELECT node_id FROM _graph_nodes_window);

INSERT INTO graph_nodes BY NAME SELECT * FROM _graph_nodes_window;

INSERT INTO graph_edges BY NAME SELECT * FROM _graph_edges_window;
