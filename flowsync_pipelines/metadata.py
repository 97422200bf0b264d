"""The metadata store: sync state (cursors, validators) and the identity vault.

SQLite file by default (``$FLOWSYNC_HOME/metadata.sqlite``), PostgreSQL in production
(``FLOWSYNC_METADATA_URL=postgresql+psycopg2://…``): one SQLAlchemy Core code path for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

_meta = sa.MetaData()

sync_state = sa.Table(
    "sync_state",
    _meta,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("scope", sa.String, primary_key=True),
    sa.Column("endpoint", sa.String, primary_key=True),
    sa.Column("cursor", sa.String),  # newest updated_at durably landed, ISO-8601 UTC
    sa.Column("etag", sa.String),  # validator of the first page, for a conditional re-request
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

identity_vault = sa.Table(
    "identity_vault",
    _meta,
    sa.Column("pseudonym", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("handle", sa.String, nullable=False),
    sa.Column("display_name", sa.String),
    sa.Column("email", sa.String),
    sa.Column("actor_kind", sa.String, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
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
        _meta.create_all(self.engine)

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
# Append-only: rows are inserted by AuditLog and never updated or deleted (gdpr leaves them
# alone: they hold pseudonyms and digests, never identifiers). UNIQUE seq and prev_hash make a
# fork impossible; audit_head is the row appenders lock and the last entry's record.
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_log = sa.Table(
    "audit_log",
    _meta,
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),  # 1, 2, 3, … no gaps
    sa.Column("at", sa.String(32), nullable=False),  # UTC, 2026-09-01T05:00:00.000000Z
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # canonical JSON
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("signature", sa.String(128), nullable=False),  # Ed25519 over entry_hash, hex
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Index("audit_log_kind_subject_seq", "kind", "subject", "seq"),
)

audit_head = sa.Table(
    "audit_head",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("seq", _SEQ, nullable=False),  # 0 before the first entry
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(16)),  # the key that signs the next entry
)

audit_keys = sa.Table(  # the public keys, published beside the log
    "audit_keys",
    _meta,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("public_key", sa.Text, nullable=False),  # PEM
    sa.Column("introduced_seq", _SEQ, nullable=False),
    sa.Column("retired_seq", _SEQ),
)

AUDIT_TABLES = (audit_log, audit_head, audit_keys)
_GENESIS = "0" * 64


def create_audit_tables(engine: sa.Engine) -> None:
    """Create the audit tables and the head row where missing (idempotent, race-safe)."""
    try:
        _meta.create_all(engine, tables=list(AUDIT_TABLES))
    except (sa.exc.ProgrammingError, sa.exc.IntegrityError, sa.exc.OperationalError):
        # Another process created them between our check and our CREATE: check again.
        _meta.create_all(engine, tables=list(AUDIT_TABLES))
    with engine.connect() as conn:
        present = conn.execute(sa.select(audit_head.c.id).where(audit_head.c.id == 1)).first()
    if present is None:
        try:
            with engine.begin() as conn:
                conn.execute(audit_head.insert().values(id=1, seq=0, entry_hash=_GENESIS))
        except sa.exc.IntegrityError:
            pass  # another process created it first
