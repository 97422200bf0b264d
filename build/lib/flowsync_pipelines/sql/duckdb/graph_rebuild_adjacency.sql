-- Rebuild the traversal structure from graph_nodes / graph_edges (see graph_schema.sql).
CREATE OR REPLACE TABLE graph_node_keys AS
SELECT row_number() OVER (ORDER BY partition_day, node_id) AS node_key, node_id, kind
FROM graph_nodes
ORDER BY node_id;

CREATE OR REPLACE TABLE graph_adjacency AS
SELECT node_key, neighbour_key, neighbour_id, neighbour_kind, edge_type, confidence
FROM (
    SELECT s.node_key, d.node_key AS neighbour_key, d.node_id AS neighbour_id,
           d.kind AS neighbour_kind, e.edge_type, e.confidence
    FROM graph_edges AS e
    JOIN graph_node_keys AS s ON s.node_id = e.src
    JOIN graph_node_keys AS d ON d.node_id = e.dst
    UNION ALL
    SELECT d.node_key, s.node_key, s.node_id, s.kind, e.edge_type, e.confidence
    FROM graph_edges AS e
    JOIN graph_node_keys AS s ON s.node_id = e.src
    JOIN graph_node_keys AS d ON d.node_id = e.dst
)
ORDER BY node_key, neighbour_key
