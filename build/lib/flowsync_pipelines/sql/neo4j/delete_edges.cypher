// Remove relationships that no longer exist: $rows = [{id, src}].
UNWIND $rows AS r
MATCH (:Node {id: r.src})-[e {id: r.id}]->()
DELETE e
