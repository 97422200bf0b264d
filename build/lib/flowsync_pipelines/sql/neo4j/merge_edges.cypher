// Upsert a batch of relationships: $rows = [{id, type, src, dst, props}] between existing nodes.
UNWIND $rows AS r
MATCH (a:Node {id: r.src})
MATCH (b:Node {id: r.dst})
MERGE (a)-[e:$(r.type) {id: r.id}]->(b)
SET e = r.props
