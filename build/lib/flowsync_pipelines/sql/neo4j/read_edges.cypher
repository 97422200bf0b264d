// Every relationship with its properties (for comparisons with DuckDB).
MATCH (a:Node)-[e]->(b:Node)
RETURN e.id AS edge_id, type(e) AS edge_type, e.link_type AS link_type, a.id AS src, b.id AS dst,
       e.confidence AS confidence, e.band AS band, e.method AS method, e.evidence AS evidence,
       e.partition AS partition_day
ORDER BY edge_id
