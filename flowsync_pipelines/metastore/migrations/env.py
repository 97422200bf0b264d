"""Alembic environment: runs on the connection :func:`~flowsync_pipelines.metastore.migrate.
upgrade` passes in (online only; FlowSync never writes migration SQL scripts)."""

from __future__ import annotations

from alembic import context

from flowsync_pipelines.metastore.migrate import VERSION_TABLE
from flowsync_pipelines.metastore.tables import METADATA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the metadata-store migrations run on an open connection: call "
        "flowsync_pipelines.metastore.upgrade(engine) (offline SQL generation is not supported)"
    )
context.configure(
    connection=connection,
    target_metadata=METADATA,
    compare_type=True,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things: Alembic's batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
