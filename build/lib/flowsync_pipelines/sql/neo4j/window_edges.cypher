// Stored relationships touching a node of the window: a node whose partition day is in
// [$start, $end) or one of $ids (the nodes written now).
CALL () {
    MATCH (n:Node)
    WHERE n.partition >= $start AND n.partition < $end
    RETURN n
    UNION
    UNWIND $ids AS id
    MATCH (n:Node {id: id})
    RETURN n
}
MATCH (n)-[e]-()
RETURN DISTINCT e.id AS id, startNode(e).id AS src
