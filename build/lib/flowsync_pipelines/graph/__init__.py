"""The context graph: entities from signals as nodes, facts and calibrated inferred links as edges.

* :mod:`.spec` — node kinds, edge types, the inferred link types and their features.
* :mod:`.inputs` — who is who (identities or flowsync.yaml), team ownership, ticket hierarchy.
* :mod:`.linking` — candidates with features (``sql/duckdb/graph_candidates_*.sql``), scored by
  :mod:`.calibrate` (scikit-learn, fitted on ``labels/``), kept as edges with confidence, band,
  method and evidence event ids.
* :mod:`.store` — DuckDB ``graph_nodes`` / ``graph_edges``, written per window of partitions,
  plus the traversal adjacency and the materialised ticket context.
* :mod:`.neo4j_sync` — the same rows mirrored into Neo4j (``sql/neo4j/*.cypher``), idempotently.
* :mod:`.traversal` — traversals costed with EXPLAIN first, degraded when over budget.

Everything here is a plain function of a DuckDB connection, frames, or a Neo4j driver; the
``context_graph`` asset (``assets/graph.py``) wires it to resources.
"""
