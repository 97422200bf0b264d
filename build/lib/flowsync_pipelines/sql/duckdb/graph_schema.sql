-- The context graph in DuckDB: nodes and edges, each row tagged with the UTC day it last changed
-- (partition_day), so that one day's partition can be rewritten on its own.
CREATE TABLE IF NOT EXISTS graph_nodes (
    node_id        VARCHAR PRIMARY KEY,  -- "<kind namespace>:<entity id>", e.g. ticket:PLAT-12
    kind           VARCHAR NOT NULL,     -- person | team | repo | pull_request | commit | ticket | epic | ...
    title          VARCHAR,
    url            VARCHAR,
    stub           BOOLEAN NOT NULL,     -- referenced by an edge, never seen as an entity
    partition_day  DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS graph_edges (
    edge_id        VARCHAR PRIMARY KEY,  -- "<edge_type>:<src>-><dst>"
    edge_type      VARCHAR NOT NULL,     -- AUTHORED | REFERENCES | PART_OF | BUILT | DEPLOYED | ...
    link_type      VARCHAR NOT NULL,     -- the inferred link type, or "fact"
    src            VARCHAR NOT NULL,
    dst            VARCHAR NOT NULL,
    confidence     DOUBLE NOT NULL,      -- calibrated probability that the link is real
    band           VARCHAR NOT NULL,     -- high (>= 0.80) | medium (0.60-0.80) | low
    method         VARCHAR NOT NULL,     -- how it was found, e.g. key_in_title
    evidence       VARCHAR[] NOT NULL,   -- signals.event_id of the events it rests on
    partition_day  DATE NOT NULL
);

-- Traversal structure, rebuilt after every write (graph_rebuild_adjacency.sql): integer node
-- keys in order of the day nodes last changed (neighbours in a work graph change around the same
-- days, so a frontier's keys are close together and DuckDB's join filters skip most row groups of
-- the adjacency), stored sorted by node_id (a start node is found by min/max pruning); and each
-- edge in both directions, sorted by key, carrying the neighbour's id and kind so that a walk
-- needs no join back to the nodes.
CREATE TABLE IF NOT EXISTS graph_node_keys (
    node_key  BIGINT NOT NULL,
    node_id   VARCHAR NOT NULL,
    kind      VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS graph_adjacency (
    node_key       BIGINT NOT NULL,
    neighbour_key  BIGINT NOT NULL,
    neighbour_id   VARCHAR NOT NULL,
    neighbour_kind VARCHAR NOT NULL,
    edge_type      VARCHAR NOT NULL,
    confidence     DOUBLE NOT NULL
);

-- Materialised answer for degraded traversals: every node within 3 hops of each ticket (over
-- edges of Medium band or above, not expanding through hub kinds), rebuilt with the graph
-- (graph_ticket_context.sql), one row per (start_id, node_id), sorted by start_id.
CREATE TABLE IF NOT EXISTS graph_ticket_context (
    start_id   VARCHAR NOT NULL,
    node_id    VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    depth      INTEGER NOT NULL
)
