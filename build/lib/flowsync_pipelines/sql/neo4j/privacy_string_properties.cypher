// Every string (or list of strings) property of every node and relationship; unless $everything,
// only those holding one of $needles (lower-cased substrings), so that the filter runs in Neo4j.
// Used by `flowsync gdpr scan` and `forget` (flowsync_pipelines/graph/neo4j_privacy.py).
MATCH (n)
UNWIND keys(n) AS key
WITH n, key, n[key] AS value
WHERE value IS :: STRING OR value IS :: LIST<STRING NOT NULL>
WITH n, key, value, CASE WHEN value IS :: STRING THEN [value] ELSE value END AS texts
WHERE $everything OR any(t IN texts WHERE any(needle IN $needles WHERE toLower(t) CONTAINS needle))
RETURN 'node' AS element, elementId(n) AS element_id, labels(n) AS labels, key, value
UNION ALL
MATCH ()-[r]->()
UNWIND keys(r) AS key
WITH r, key, r[key] AS value
WHERE value IS :: STRING OR value IS :: LIST<STRING NOT NULL>
WITH r, key, value, CASE WHEN value IS :: STRING THEN [value] ELSE value END AS texts
WHERE $everything OR any(t IN texts WHERE any(needle IN $needles WHERE toLower(t) CONTAINS needle))
RETURN 'relationship' AS element, elementId(r) AS element_id, [type(r)] AS labels, key, value
