"""Bring a metadata store to the newest schema: Alembic ``upgrade head`` on open.

Every door to the metadata store (:class:`~flowsync_pipelines.metadata.MetadataStore`, the
webhook queue, the outbox, the audit log) calls :func:`upgrade` on its engine. At head it costs
one query; a store from before migrations existed (tables made by ``create_all``) is adopted by
the baseline migration, which creates only what is missing. Processes that open a new store at
once are serialised by a PostgreSQL advisory lock, and on SQLite by retrying: the loser finds
the schema at head.
"""

from __future__ import annotations

import threading
import time
import weakref
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Not Alembic's default ``alembic_version``: Dagster's PostgreSQL storage keeps its own revision
# there, and the metadata store may share its database.
VERSION_TABLE = "flowsync_schema_version"
# pg_advisory_xact_lock key: "FSMETA" in ASCII, any constant no other code uses.
_PG_LOCK_KEY = 0x46534D455441
_ATTEMPTS = 6
_AT_HEAD: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
_LOCK = threading.Lock()


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the shipped migrations (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the store is at; None before any migration ran."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: sa.Engine) -> None:
    """Migrate the store behind ``engine`` to head (idempotent, safe between processes)."""
    if engine in _AT_HEAD:
        return
    with _LOCK:
        for attempt in range(_ATTEMPTS):
            if current_revision(engine) == head_revision():
                break
            try:
                with engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY}
                        )
                    command.upgrade(alembic_config(conn), "head")
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
                # Another process was creating the same tables (SQLite has no lock to wait
                # on): look again; give up only when the schema still is not at head.
                if attempt == _ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        _AT_HEAD.add(engine)
