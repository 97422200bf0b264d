// Upsert a batch of nodes: $rows = [{id, label, props}]. SET n = props replaces every property,
// so a property that disappeared is removed and a re-run changes nothing.
UNWIND $rows AS r
MERGE (n:Node {id: r.id})
SET n = r.props
SET n:$(r.label)
