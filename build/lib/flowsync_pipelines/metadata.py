"""The metadata store: sync state (cursors, validators) and the identity vault.

Its tables are declared in :mod:`flowsync_pipelines.metastore.tables` and created or changed
only by migrations, applied when the store is opened.

SQLite file by default (``$FLOWSYNC_HOME/metadata.sqlite``), PostgreSQL in production
(``FLOWSYNC_METADATA_URL=postgresql+psycopg2://…``): one SQLAlchemy Core code path for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flowsync_pipelines.metastore import upgrade
from flowsync_pipelines.metastore.tables import (
    audit_head,
    audit_keys,
    audit_log,
    identity_vault,
    sync_state,
)


class MetadataStore:
    """Small transactional state FlowSync keeps beside its analytical stores."""

    def __init__(self, url: str) -> None:
        self.url = url
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, connect_args=connect_args, future=True)
        if url.startswith("sqlite"):
            with self.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        upgrade(self.engine)  # the schema is Alembic's: bring an older store to head

    def dispose(self) -> None:
        self.engine.dispose()

    # -- sync state ------------------------------------------------------------------------------
    def sync_position(
        self, source: str, scope: str, endpoint: str
    ) -> tuple[str | None, str | None]:
        """``(cursor, etag)`` of one endpoint of one scope; ``(None, None)`` before any sync."""
        query = sa.select(sync_state.c.cursor, sync_state.c.etag).where(
            sync_state.c.source == source,
            sync_state.c.scope == scope,
            sync_state.c.endpoint == endpoint,
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (row.cursor, row.etag) if row else (None, None)

    def save_sync_position(
        self, source: str, scope: str, endpoint: str, *, cursor: str | None, etag: str | None
    ) -> None:
        """Record how far a sync got. Call only after its records are durably landed."""
        key = {"source": source, "scope": scope, "endpoint": endpoint}
        values = {"cursor": cursor, "etag": etag, "updated_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            done = conn.execute(
                sync_state.update()
                .where(*(sync_state.c[k] == v for k, v in key.items()))
                .values(**values)
            )
            if done.rowcount == 0:
                conn.execute(sync_state.insert().values(**key, **values))

    # -- identity vault --------------------------------------------------------------------------
    def upsert_accounts(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert or refresh vault rows; a known name or email is never replaced by a null."""
        rows = list(rows)
        if not rows:
            return 0
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            existing = {
                r.pseudonym: r
                for r in conn.execute(
                    sa.select(identity_vault).where(
                        identity_vault.c.pseudonym.in_([r["pseudonym"] for r in rows])
                    )
                )
            }
            for row in rows:
                old = existing.get(row["pseudonym"])
                if old is None:
                    conn.execute(identity_vault.insert().values(**row, updated_at=now))
                    continue
                merged = {
                    "display_name": row.get("display_name") or old.display_name,
                    "email": row.get("email") or old.email,
                    "handle": row["handle"],
                    "actor_kind": row["actor_kind"],
                }
                if any(getattr(old, k) != v for k, v in merged.items()):
                    conn.execute(
                        identity_vault.update()
                        .where(identity_vault.c.pseudonym == row["pseudonym"])
                        .values(**merged, updated_at=now)
                    )
        return len(rows)

    def resolve(self, pseudonyms: Iterable[str]) -> dict[str, str]:
        """Display names for pseudonyms — the one door from a pseudonym back to a person.

        Falls back to the tool handle when the tool gave no display name.
        """
        wanted = sorted(set(pseudonyms))
        if not wanted:
            return {}
        query = sa.select(
            identity_vault.c.pseudonym, identity_vault.c.display_name, identity_vault.c.handle
        ).where(identity_vault.c.pseudonym.in_(wanted))
        with self.engine.connect() as conn:
            return {r.pseudonym: r.display_name or r.handle for r in conn.execute(query)}


# -- the audit log (flowsync_pipelines.audit) ----------------------------------------------------
AUDIT_TABLES = (audit_log, audit_head, audit_keys)
_GENESIS = "0" * 64


def create_audit_tables(engine: sa.Engine) -> None:
    """Bring the store to head (the audit tables are the migrations') and add the head row
    where missing (idempotent, race-safe)."""
    upgrade(engine)
    with engine.connect() as conn:
        present = conn.execute(sa.select(audit_head.c.id).where(audit_head.c.id == 1)).first()
    if present is None:
        try:
            with engine.begin() as conn:
                conn.execute(audit_head.insert().values(id=1, seq=0, entry_hash=_GENESIS))
        except sa.exc.IntegrityError:
            pass  # another process created it first
