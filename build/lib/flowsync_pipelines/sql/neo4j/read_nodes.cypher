// Every node with its properties (for comparisons with DuckDB).
MATCH (n:Node)
RETURN n.id AS node_id, n.kind AS kind, n.title AS title, n.url AS url, n.stub AS stub,
       n.partition AS partition_day, [l IN labels(n) WHERE l <> 'Node'] AS labels
ORDER BY node_id
