"""Neo4j, the optional mirror of the context graph (Bolt, when ``NEO4J_URI`` is set).

Configure it in Definitions only when the environment names a server::

    Neo4jResource(uri=dg.EnvVar("NEO4J_URI"), user=dg.EnvVar("NEO4J_USERNAME"), ...)

and as ``Neo4jResource()`` (disabled: empty ``uri``) otherwise, so that assets can always ask
``neo4j.enabled`` instead of needing a second code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import neo4j
from pydantic import Field

from flowsync_pipelines.graph.neo4j_sync import BATCH_SIZE


class Neo4jResource(dg.ConfigurableResource):
    """A Neo4j server the graph is mirrored to; disabled when ``uri`` is empty."""

    uri: str = Field(default="", description="bolt://host:7687 or neo4j://…; empty = disabled")
    user: str = Field(default="", description="user for basic auth; empty = no auth")
    password: str = Field(default="", description="password; pass as dg.EnvVar, never inline")
    database: str = Field(default="", description="database name; empty = the server default")
    batch_size: int = Field(default=BATCH_SIZE, description="rows per UNWIND batch")

    @property
    def enabled(self) -> bool:
        return bool(self.uri)

    @contextmanager
    def driver(self) -> Iterator[neo4j.Driver]:
        """A verified driver, closed when the block ends."""
        if not self.enabled:
            raise RuntimeError(
                "Neo4j is not configured: set NEO4J_URI (e.g. bolt://127.0.0.1:7687) to mirror "
                "the context graph, or check neo4j.enabled before using it"
            )
        auth = neo4j.basic_auth(self.user, self.password) if self.user else None
        with neo4j.GraphDatabase.driver(self.uri, auth=auth) as driver:
            driver.verify_connectivity()
            yield driver

    @property
    def database_name(self) -> str | None:
        return self.database or None
