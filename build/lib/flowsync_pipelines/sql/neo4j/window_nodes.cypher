// Ids of the stored nodes whose partition day is in [$start, $end).
MATCH (n:Node)
WHERE n.partition >= $start AND n.partition < $end
RETURN n.id AS id
