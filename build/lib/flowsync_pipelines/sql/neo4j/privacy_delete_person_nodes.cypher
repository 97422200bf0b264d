// An erased person's nodes, keyed by one of their $pseudonyms, with their relationships.
MATCH (n) WHERE any(key IN ['pseudonym', 'id', 'actor'] WHERE n[key] IN $pseudonyms)
  AND any(label IN labels(n) WHERE toLower(label) = 'person')
DETACH DELETE n
RETURN count(*) AS deleted
