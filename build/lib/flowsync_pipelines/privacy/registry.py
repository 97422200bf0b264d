"""The erasure record (who was erased, as salted digests) and the audit entries of GDPR actions.

Both live in the metadata store. The erasure record is what landing-time scrubbing reads
(:func:`erased_identifiers`), so a person stays erased when the tools send their data again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from flowsync_pipelines.env import SIGNING_KEY_ENV
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.metastore import upgrade
from flowsync_pipelines.metastore.tables import erased_identifiers as erased_identifiers_table
from flowsync_pipelines.metastore.tables import erasure_salt, erasures
from flowsync_pipelines.privacy.identifiers import (
    IdentifierKind,
    IdentifierSet,
    fold,
    salted_digest,
)
from flowsync_pipelines.privacy.interface import Progress, Stores

# The erasure record's own tables: digests and pseudonyms by design, never scrubbed or scanned.
ERASURE_TABLES = frozenset(t.name for t in (erasures, erased_identifiers_table, erasure_salt))


@dataclass(frozen=True)
class ErasureRecord:
    erasure_id: str
    requested_at: datetime
    completed_at: datetime | None
    pseudonyms: tuple[str, ...]
    counts: dict[str, int]


class ErasureRegistry:
    """The erasure record in the metadata store: who was erased (as digests), when, what changed.

    The salt is random per installation and independent of the pseudonym key, so rotating that
    key leaves erasures in force. A salted digest of a guessable login can still be confirmed by
    someone who reads this store — who could read the vault next to it anyway.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        upgrade(engine)

    def salt(self, *, create: bool = False) -> bytes | None:
        """The installation's salt; made on the first erasure (``create=True``)."""
        query = sa.select(erasure_salt.c.salt).where(erasure_salt.c.name == "default")
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        if value is None and create:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        erasure_salt.insert().values(name="default", salt=secrets.token_hex(32))
                    )
            except sa.exc.IntegrityError:
                pass  # another process made it first: use theirs
            with self.engine.connect() as conn:
                value = conn.execute(query).scalar()
        return bytes.fromhex(value) if value else None

    def entries(self) -> list[tuple[str, int, bool]]:
        """``(digest, length, substring)`` of every erased identifier."""
        table = erased_identifiers_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.digest, table.c.length, table.c.substring))
            return [(r.digest, int(r.length), bool(r.substring)) for r in rows]

    def identifiers(self, plain: Mapping[str, IdentifierKind] | None = None) -> IdentifierSet:
        """Every erased identifier as a digest, plus ``plain`` identifiers in clear."""
        entries = self.entries()
        if not entries:
            return IdentifierSet(plain)
        return IdentifierSet(plain, salt=self.salt(), digests=entries)

    def digest(self, identifier: str, salt: bytes) -> str:
        return salted_digest(salt, fold(identifier.strip()))

    def registered(self, digests: Iterable[str]) -> dict[str, str]:
        """``{digest: erasure_id}`` for the digests already erased."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        table = erased_identifiers_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.digest, table.c.erasure_id).where(table.c.digest.in_(wanted))
            ).all()
        return {r.digest: r.erasure_id for r in rows}

    def start(
        self,
        erasure_id: str,
        *,
        request_digest: str,
        pseudonyms: Sequence[str],
        entries: Sequence[tuple[str, int, bool]],
        identifier_count: int,
    ) -> None:
        """Register the digests first, so landing-time scrubbing protects the person at once."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(erasures.c.erasure_id).where(erasures.c.erasure_id == erasure_id)
            ).first()
            if exists is None:
                conn.execute(
                    erasures.insert().values(
                        erasure_id=erasure_id,
                        requested_at=datetime.now(UTC),
                        request_digest=request_digest,
                        pseudonyms=json.dumps(sorted(pseudonyms)),
                        identifiers=identifier_count,
                        counts="{}",
                    )
                )
            for digest, length, substring in entries:
                conn.execute(
                    erased_identifiers_table.insert().values(
                        digest=digest, erasure_id=erasure_id, length=length, substring=substring
                    )
                )

    def complete(
        self, erasure_id: str, counts: Mapping[str, int], pseudonyms: Sequence[str]
    ) -> None:
        with self.engine.begin() as conn:
            old = conn.execute(
                sa.select(erasures.c.pseudonyms).where(erasures.c.erasure_id == erasure_id)
            ).scalar()
            merged = sorted(set(json.loads(old or "[]")) | set(pseudonyms))
            conn.execute(
                erasures.update()
                .where(erasures.c.erasure_id == erasure_id)
                .values(
                    completed_at=datetime.now(UTC),
                    counts=json.dumps(dict(counts), sort_keys=True),
                    pseudonyms=json.dumps(merged),
                )
            )

    def record(self, erasure_id: str) -> ErasureRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(erasures).where(erasures.c.erasure_id == erasure_id)
            ).first()
        if row is None:
            return None
        return ErasureRecord(
            erasure_id=row.erasure_id,
            requested_at=row.requested_at,
            completed_at=row.completed_at,
            pseudonyms=tuple(json.loads(row.pseudonyms)),
            counts=json.loads(row.counts),
        )

    def incomplete_for(self, digests: Iterable[str]) -> str | None:
        """An interrupted erasure of the same identifiers, to be finished rather than repeated."""
        ids = set(self.registered(digests).values())
        if not ids:
            return None
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(erasures.c.erasure_id)
                .where(erasures.c.erasure_id.in_(sorted(ids)), erasures.c.completed_at.is_(None))
                .limit(1)
            ).scalar()

    def erased_pseudonyms(self) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(erasures.c.pseudonyms)).scalars().all()
        return {p for row in rows for p in json.loads(row)}


def previous_erasure(stores: Stores, request: str) -> ErasureRecord | None:
    """The erasure that already covered ``request`` (an email or handle), if any."""
    store = MetadataStore(stores.metadata_url)
    try:
        registry = ErasureRegistry(store.engine)
        salt = registry.salt()
        if salt is None:
            return None
        hit = registry.registered([registry.digest(request, salt)])
        return registry.record(next(iter(hit.values()))) if hit else None
    finally:
        store.dispose()


def erased_identifiers(store: MetadataStore | sa.Engine) -> IdentifierSet:
    """Every erased identifier, as salted digests: the lookup landing-time scrubbing uses."""
    engine = store if isinstance(store, sa.Engine) else store.engine
    return ErasureRegistry(engine).identifiers()


def audit(stores: Stores, kind: str, subject: str, content: dict[str, Any], say: Progress) -> None:
    """Record an export or erasure in the signed audit log (once; see ``AuditLog.append_once``).

    Content holds pseudonyms, counts and digests, never the identifiers of the request.
    """
    if not stores.signing_key:
        say(f"warning: {SIGNING_KEY_ENV} is not set; this {kind} is not in the audit log")
        return
    from flowsync_pipelines.audit import AuditLog

    store = MetadataStore(stores.metadata_url)
    try:
        log = AuditLog(store.engine, stores.signing_key, public_key_file=stores.audit_public_key)
        entry = log.append_once(kind, subject, content)  # type: ignore[arg-type]
    finally:
        store.dispose()
    if entry is not None:
        say(f"recorded in the audit log as entry {entry.seq}")
