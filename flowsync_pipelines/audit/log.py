"""The audit log: an append-only, hash-chained, Ed25519-signed record in the metadata store.

Every entry names what FlowSync stated or did (``kind``), what it is about (``subject``) and the
facts (``content``, canonical JSON), and is chained to the one before it and signed; see
:mod:`flowsync_pipelines.audit.chain` for exactly which bytes are hashed and signed.

Appends are serialised — SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``SELECT … FOR UPDATE`` on the
single ``audit_head`` row — and the table's UNIQUE constraints on ``seq`` and ``prev_hash`` make a
fork impossible even for a writer that bypasses the lock: two entries can never claim the same
predecessor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flowsync_pipelines.audit.chain import (
    GENESIS,
    canonical_json,
    content_sha256,
    entry_hash,
    key_id,
)
from flowsync_pipelines.audit.keys import (
    load_signing_key,
    public_bytes,
    public_key_pem,
    publish_public_key,
)
from flowsync_pipelines.metadata import audit_head, audit_keys, audit_log, create_audit_tables

AuditKind = Literal[
    "statement",
    "digest_rendered",
    "digest_delivered",
    "model_trained",
    "gdpr_export",
    "gdpr_erasure",
    "key_rotated",
    "log_opened",
]
KINDS: frozenset[str] = frozenset(get_args(AuditKind))
# Written by the log itself, never through append().
KEY_KINDS: frozenset[str] = frozenset({"log_opened", "key_rotated"})
_HEAD_ID = 1
_LOOKUP_CHUNK = 500


class AuditError(RuntimeError):
    """The audit log cannot be written as asked; the message says why and what to do."""


@dataclass(frozen=True)
class AuditEntry:
    """One row of the log, as stored."""

    seq: int
    at: str
    kind: str
    subject: str
    content: str  # canonical JSON
    content_sha256: str
    prev_hash: str
    entry_hash: str
    signature: str
    key_id: str

    @cached_property
    def data(self) -> Any:
        """The content, parsed."""
        return json.loads(self.content)

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        return cls(**{name: getattr(row, name) for name in ENTRY_COLUMNS})


ENTRY_COLUMNS = tuple(c.name for c in audit_log.columns)
_SQLITE_INSERT = (
    f"INSERT INTO {audit_log.name} ({', '.join(ENTRY_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)})"
)


def utc_timestamp(moment: datetime | None = None) -> str:
    """``at`` as stored and hashed: UTC, microseconds, ``Z``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@contextmanager
def serialised(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction no other appender can interleave with; commits on success.

    SQLite takes the write lock up front (``BEGIN IMMEDIATE``), so two appenders cannot both
    read the same head; PostgreSQL locks the ``audit_head`` row (``FOR UPDATE``).
    """
    with engine.connect() as conn:
        try:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(
                    sa.select(audit_head.c.id).where(audit_head.c.id == _HEAD_ID).with_for_update()
                )
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


Item = tuple[str, str, Any]  # (kind, subject, content)


class AuditLog:
    """Append to (and read) the audit log with one signing key.

    Args:
        engine: the metadata store's engine (SQLite or PostgreSQL).
        signing_key: an Ed25519 private key, or its ``FLOWSYNC_SIGNING_KEY`` text form.
        public_key_file: where to publish the current public key (PEM) when the log is opened
            or the key rotated; usually ``$FLOWSYNC_HOME/audit_public_key.pem``.

    The first append opens the log with a ``log_opened`` entry recording the public key. A log
    opened with another key refuses this one until it is rotated in (:meth:`rotate`).
    """

    def __init__(
        self,
        engine: sa.Engine,
        signing_key: Ed25519PrivateKey | str,
        *,
        public_key_file: Path | None = None,
    ) -> None:
        self.engine = engine
        self._key = (
            signing_key
            if isinstance(signing_key, Ed25519PrivateKey)
            else load_signing_key(signing_key)
        )
        self.public_key = public_bytes(self._key)
        self.key_id = key_id(self.public_key)
        self.public_key_file = public_key_file
        create_audit_tables(engine)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, kind: AuditKind, subject: str, content: Any) -> AuditEntry:
        """Append one entry and return it."""
        return self.append_many([(kind, subject, content)])[0]

    def append_once(self, kind: AuditKind, subject: str, content: Any) -> AuditEntry | None:
        """Append unless the latest entry of (kind, subject) has the same content; else ``None``."""
        entries = self.append_many([(kind, subject, content)], only_changed=True)
        return entries[0] if entries else None

    def append_many(self, items: Iterable[Item], *, only_changed: bool = False) -> list[AuditEntry]:
        """Append ``(kind, subject, content)`` items in order, in one transaction.

        With ``only_changed``, an item whose content equals that of the latest entry for its
        (kind, subject) — earlier in the log or earlier in ``items`` — is skipped: a re-run that
        states nothing new appends nothing. Returns the entries appended.
        """
        prepared = [self._prepare(kind, subject, content) for kind, subject, content in items]
        if not prepared:
            return []
        with serialised(self.engine) as conn:
            seq, prev, active = self._head(conn)
            if only_changed:
                prepared = self._changed_only(conn, prepared)
                if not prepared:
                    return []
            entries: list[AuditEntry] = []
            at = utc_timestamp()
            if seq == 0:
                opened = self._opening(at)
                entries.append(opened)
                seq, prev, active = 1, opened.entry_hash, self.key_id
            if active != self.key_id:
                raise AuditError(
                    f"the audit log is signed by key {active}, but FLOWSYNC_SIGNING_KEY is key "
                    f"{self.key_id}. Use the log's current key, or rotate to this one with "
                    "`flowsync keys rotate` (signed by the current key)."
                )
            for kind, subject, text in prepared:
                seq += 1
                entry = self._sign(seq, at, kind, subject, text, prev)
                entries.append(entry)
                prev = entry.entry_hash
            self._write(conn, entries, head_key=self.key_id)
        if entries[0].kind == "log_opened":
            self._publish(self.public_key)
        return [e for e in entries if e.kind not in KEY_KINDS]

    def rotate(self, new_key: Ed25519PrivateKey | str) -> AuditEntry:
        """Hand the log over to ``new_key``: a ``key_rotated`` entry signed by this (old) key.

        Returns the entry. Entries after it must be signed by the new key; the old one is
        retired. Publish the new public key (done here when ``public_key_file`` is set).
        """
        new = new_key if isinstance(new_key, Ed25519PrivateKey) else load_signing_key(new_key)
        new_public = public_bytes(new)
        if new_public == self.public_key:
            raise AuditError("the new signing key is the current one; generate a new key")
        with serialised(self.engine) as conn:
            seq, prev, active = self._head(conn)
            if seq == 0:
                opened = self._opening(utc_timestamp())
                self._write(conn, [opened], head_key=self.key_id)
                seq, prev, active = 1, opened.entry_hash, self.key_id
            if active != self.key_id:
                raise AuditError(
                    f"only the log's current key ({active}) can rotate it; "
                    f"this is key {self.key_id}"
                )
            used = sa.select(audit_keys.c.key_id).where(audit_keys.c.key_id == key_id(new_public))
            if conn.execute(used).first() is not None:
                raise AuditError(
                    f"key {key_id(new_public)} signed this log before; rotate to a new key "
                    "(`flowsync keys generate`)"
                )
            content = canonical_json(
                {
                    "algorithm": "Ed25519",
                    "new_key_id": key_id(new_public),
                    "new_public_key": public_key_pem(new_public),
                    "previous_key_id": self.key_id,
                }
            )
            entry = self._sign(seq + 1, utc_timestamp(), "key_rotated", "audit_log", content, prev)
            self._write(conn, [entry], head_key=key_id(new_public), new_key=new_public)
        self._publish(new_public)
        self._key, self.public_key, self.key_id = new, new_public, key_id(new_public)
        return entry

    def _prepare(self, kind: str, subject: str, content: Any) -> tuple[str, str, str]:
        if kind not in KINDS:
            raise AuditError(
                f"unknown audit entry kind {kind!r}; one of {', '.join(sorted(KINDS))}"
            )
        if kind in KEY_KINDS:
            raise AuditError(f"{kind} entries are written by the log itself (see rotate())")
        if not isinstance(subject, str) or not subject:
            raise AuditError(f"an audit entry needs a non-empty subject string, got {subject!r}")
        return kind, subject, canonical_json(content)

    def _opening(self, at: str) -> AuditEntry:
        """Entry 1: ``log_opened``, naming (and signed by) this key."""
        return self._sign(1, at, "log_opened", "audit_log", self._key_content(), GENESIS)

    def _key_content(self) -> str:
        return canonical_json(
            {
                "algorithm": "Ed25519",
                "key_id": self.key_id,
                "public_key": public_key_pem(self.public_key),
            }
        )

    def _sign(
        self, seq: int, at: str, kind: str, subject: str, content: str, prev: str
    ) -> AuditEntry:
        digest = entry_hash(prev, seq, at, kind, subject, self.key_id, content)
        return AuditEntry(
            seq=seq,
            at=at,
            kind=kind,
            subject=subject,
            content=content,
            content_sha256=content_sha256(content),
            prev_hash=prev,
            entry_hash=digest,
            signature=self._key.sign(bytes.fromhex(digest)).hex(),
            key_id=self.key_id,
        )

    def _head(self, conn: sa.Connection) -> tuple[int, str, str | None]:
        """``(seq, entry_hash, active key id)`` of the newest entry; checks the head row agrees."""
        head = conn.execute(sa.select(audit_head).where(audit_head.c.id == _HEAD_ID)).first()
        last = conn.execute(
            sa.select(audit_log.c.seq, audit_log.c.entry_hash)
            .order_by(audit_log.c.seq.desc())
            .limit(1)
        ).first()
        seq, digest = (last.seq, last.entry_hash) if last else (0, GENESIS)
        if head is None or (head.seq, head.entry_hash) != (seq, digest):
            recorded = f"{head.seq}:{head.entry_hash}" if head else "none"
            raise AuditError(
                f"the audit log's head ({recorded}) disagrees with its last entry "
                f"({seq}:{digest}); entries were removed or added outside FlowSync. Run "
                "`flowsync verify --all` and restore the metadata store from a backup."
            )
        return seq, digest, head.key_id

    def _changed_only(
        self, conn: sa.Connection, prepared: list[tuple[str, str, str]]
    ) -> list[tuple[str, str, str]]:
        wanted: dict[str, set[str]] = {}
        for kind, subject, _ in prepared:
            wanted.setdefault(kind, set()).add(subject)
        latest: dict[tuple[str, str], str] = {}
        for kind, subjects in wanted.items():
            ordered = sorted(subjects)
            for start in range(0, len(ordered), _LOOKUP_CHUNK):
                chunk = ordered[start : start + _LOOKUP_CHUNK]
                newest = (
                    sa.select(audit_log.c.subject, sa.func.max(audit_log.c.seq).label("seq"))
                    .where(audit_log.c.kind == kind, audit_log.c.subject.in_(chunk))
                    .group_by(audit_log.c.subject)
                    .subquery()
                )
                query = sa.select(audit_log.c.subject, audit_log.c.content_sha256).join(
                    newest, audit_log.c.seq == newest.c.seq
                )
                for row in conn.execute(query):
                    latest[(kind, row.subject)] = row.content_sha256
        kept = []
        for kind, subject, text in prepared:
            digest = content_sha256(text)
            if latest.get((kind, subject)) == digest:
                continue
            latest[(kind, subject)] = digest
            kept.append((kind, subject, text))
        return kept

    def _write(
        self,
        conn: sa.Connection,
        entries: Sequence[AuditEntry],
        *,
        head_key: str,
        new_key: bytes | None = None,
    ) -> None:
        rows = [tuple(getattr(e, name) for name in ENTRY_COLUMNS) for e in entries]
        if conn.dialect.name == "sqlite":
            # The driver's executemany: SQLAlchemy's per-row parameter handling cost more than
            # the inserts themselves on a years-long import (every column is a plain str or int).
            conn.exec_driver_sql(_SQLITE_INSERT, rows)
        else:  # psycopg2: SQLAlchemy batches the rows into multi-VALUES statements
            named = [dict(zip(ENTRY_COLUMNS, row, strict=True)) for row in rows]
            conn.execute(audit_log.insert(), named)
        last = entries[-1]
        conn.execute(
            audit_head.update()
            .where(audit_head.c.id == _HEAD_ID)
            .values(seq=last.seq, entry_hash=last.entry_hash, key_id=head_key)
        )
        for entry in entries:
            if entry.kind == "log_opened":
                conn.execute(
                    audit_keys.insert().values(
                        key_id=self.key_id,
                        public_key=public_key_pem(self.public_key),
                        introduced_seq=entry.seq,
                        retired_seq=None,
                    )
                )
            elif entry.kind == "key_rotated" and new_key is not None:
                conn.execute(
                    audit_keys.update()
                    .where(audit_keys.c.key_id == self.key_id)
                    .values(retired_seq=entry.seq)
                )
                conn.execute(
                    audit_keys.insert().values(
                        key_id=key_id(new_key),
                        public_key=public_key_pem(new_key),
                        introduced_seq=entry.seq,
                        retired_seq=None,
                    )
                )

    def _publish(self, public_raw: bytes) -> None:
        if self.public_key_file is not None:
            publish_public_key(self.public_key_file, public_raw)

    # -- reading ---------------------------------------------------------------------------------
    def entries(self, *, kind: str | None = None, subject: str | None = None) -> list[AuditEntry]:
        """Entries in log order, optionally only of one kind and/or subject."""
        return read_entries(self.engine, kind=kind, subject=subject)


def read_entries(
    engine: sa.Engine,
    *,
    kind: str | Iterable[str] | None = None,
    subject: str | Iterable[str] | None = None,
) -> list[AuditEntry]:
    """Entries of the log in ``seq`` order, optionally filtered by kind(s) and subject(s)."""
    create_audit_tables(engine)
    query = sa.select(audit_log).order_by(audit_log.c.seq)
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        query = query.where(audit_log.c.kind.in_(kinds))
    if subject is not None:
        subjects = [subject] if isinstance(subject, str) else list(subject)
        query = query.where(audit_log.c.subject.in_(subjects))
    with engine.connect() as conn:
        return [AuditEntry.from_row(r) for r in conn.execute(query)]
