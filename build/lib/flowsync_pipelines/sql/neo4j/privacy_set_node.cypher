// One node's scrubbed $properties (the others are left as they are).
MATCH (n) WHERE elementId(n) = $element_id SET n += $properties
