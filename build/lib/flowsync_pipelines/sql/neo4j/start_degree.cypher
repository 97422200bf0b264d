// Relationships a traversal from $start_id can take first.
MATCH (s:Node {id: $start_id})
RETURN COUNT { (s)-[r]-() WHERE r.confidence >= $min_confidence } AS degree
