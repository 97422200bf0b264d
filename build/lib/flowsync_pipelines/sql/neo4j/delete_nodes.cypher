// Remove nodes that no longer exist, with their relationships: $ids.
UNWIND $ids AS id
MATCH (n:Node {id: id})
DETACH DELETE n
