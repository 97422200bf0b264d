// One relationship's scrubbed $properties (the others are left as they are).
MATCH ()-[r]->() WHERE elementId(r) = $element_id SET r += $properties
