"""The webhook queue: every accepted delivery, durably, in the metadata store.

One table, ``webhook_deliveries``, on the same URL as :class:`~flowsync_pipelines.metadata.
MetadataStore` (SQLite WAL file by default, PostgreSQL in production) and one SQLAlchemy Core
code path for both. ``source`` is the *name* of the configured source a delivery was sent to
(``/webhooks/<name>``), ``source_type`` that source's type, whose provider reads it. Guarantees:

- **Durable before acknowledged.** :meth:`DeliveryQueue.insert` returns only after its transaction
  committed; the gateway answers 2xx only after that. SQLite runs with ``synchronous=FULL`` so a
  commit survives power loss, not just a crash of the process (``NORMAL`` is offered for
  benchmarks: in WAL mode it survives a process crash but may lose the last commits on power loss).
- **Exactly once per delivery.** ``UNIQUE (source, delivery_id)`` with ``INSERT … ON CONFLICT DO
  NOTHING`` (both SQLite and PostgreSQL speak it) makes a redelivery a no-op, even when two copies
  race in separate transactions.
- **Readable by cursor.** ``id`` grows in commit order because one writer commits batches one
  after another; the sensor reads ``id > cursor`` and sweeps older pending rows besides.

``state`` is ``pending`` (waiting for the drain), ``landed`` (its landing records are written,
``landing_refs`` lists them) or ``quarantined`` (authentic but unusable, ``reason`` says why).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from flowsync_pipelines.metastore import upgrade
from flowsync_pipelines.metastore.tables import webhook_deliveries

PENDING, LANDED, QUARANTINED = "pending", "landed", "quarantined"
SqliteSynchronous = Literal["full", "normal"]


@dataclass(frozen=True)
class Delivery:
    """A delivery the gateway accepted, ready to be queued."""

    source: str
    delivery_id: str
    event_type: str
    received_at: datetime  # UTC
    headers: dict[str, str]
    body: bytes
    body_sha256: str
    state: str = PENDING
    reason: str | None = None
    source_type: str = ""  # the source's type; "" when the name is the type

    def __post_init__(self) -> None:
        if not self.source_type:
            object.__setattr__(self, "source_type", self.source)


@dataclass(frozen=True)
class StoredDelivery:
    """A queued delivery as read back, with its queue position."""

    id: int
    source: str
    delivery_id: str
    event_type: str
    received_at: datetime
    headers: dict[str, str]
    body: bytes
    state: str
    reason: str | None
    landing_refs: list[str]
    source_type: str = ""  # the source's type; "" when the name is the type

    def __post_init__(self) -> None:
        if not self.source_type:
            object.__setattr__(self, "source_type", self.source)


@dataclass(frozen=True)
class DayActivity:
    """Deliveries of one UTC day seen by one sensor query."""

    day: str
    max_id: int
    count: int


class DeliveryQueue:
    """The queue table on one metadata-store URL; safe to share between threads."""

    def __init__(self, url: str, *, sqlite_synchronous: SqliteSynchronous = "full") -> None:
        self.url = url
        self.engine = _engine(url, sqlite_synchronous=sqlite_synchronous)
        upgrade(self.engine)
        self._insert = (
            sqlite.insert if self.engine.dialect.name == "sqlite" else postgresql.insert
        )(webhook_deliveries)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the gateway's side ------------------------------------------------------------------------
    def insert(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Store deliveries in one transaction; ``True`` for each stored now, ``False`` if known.

        A delivery id already queued, or repeated within ``deliveries``, is a duplicate: the first
        copy wins and the others are acknowledged without being stored again.
        """
        first_copies: dict[tuple[str, str], dict[str, Any]] = {}
        for delivery in deliveries:
            first_copies.setdefault((delivery.source, delivery.delivery_id), _row(delivery))
        if not first_copies:
            return []
        statement = self._insert.on_conflict_do_nothing(
            index_elements=["source", "delivery_id"]
        ).returning(webhook_deliveries.c.source, webhook_deliveries.c.delivery_id)
        with self.engine.begin() as conn:
            stored = {tuple(row) for row in conn.execute(statement, list(first_copies.values()))}
        outcome = []
        for delivery in deliveries:
            key = (delivery.source, delivery.delivery_id)
            outcome.append(key in stored)
            stored.discard(key)  # a second copy in the same batch is a duplicate
        return outcome

    # -- the drain's side --------------------------------------------------------------------------
    def pending(
        self,
        *,
        after_id: int = 0,
        limit: int = 1000,
        received_from: datetime | None = None,
        received_before: datetime | None = None,
    ) -> list[StoredDelivery]:
        """Pending deliveries in queue order, optionally only those received in a window."""
        table = webhook_deliveries
        query = (
            sa.select(table)
            .where(table.c.state == PENDING, table.c.id > after_id)
            .order_by(table.c.id)
            .limit(limit)
        )
        if received_from is not None:
            query = query.where(table.c.received_at >= _utc_naive_if_sqlite(self, received_from))
        if received_before is not None:
            query = query.where(table.c.received_at < _utc_naive_if_sqlite(self, received_before))
        with self.engine.connect() as conn:
            return [_stored(row) for row in conn.execute(query)]

    def mark_landed(self, landing_refs: dict[int, list[str]], *, at: datetime) -> None:
        """Record that these deliveries' landing records are durably written."""
        self._finish(
            [
                {"row_id": i, "refs": json.dumps(refs), "reason": None, "state": LANDED}
                for i, refs in landing_refs.items()
            ],
            at=at,
        )

    def mark_quarantined(self, reasons: dict[int, str], *, at: datetime) -> None:
        """Record that these deliveries cannot be landed, and why."""
        self._finish(
            [
                {"row_id": i, "refs": None, "reason": reason, "state": QUARANTINED}
                for i, reason in reasons.items()
            ],
            at=at,
        )

    def _finish(self, rows: list[dict[str, Any]], *, at: datetime) -> None:
        if not rows:
            return
        table = webhook_deliveries
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("row_id"), table.c.state == PENDING)
            .values(
                state=sa.bindparam("state"),
                landing_refs=sa.bindparam("refs"),
                reason=sa.bindparam("reason"),
                processed_at=at,
            )
        )
        with self.engine.begin() as conn:
            conn.execute(statement, rows)

    # -- the sensor's side -------------------------------------------------------------------------
    def days_after(self, cursor: int) -> list[DayActivity]:
        """Per UTC day, the newest id and count of deliveries queued after ``cursor``."""
        table = webhook_deliveries
        query = (
            sa.select(table.c.received_day, sa.func.max(table.c.id), sa.func.count())
            .where(table.c.id > cursor)
            .group_by(table.c.received_day)
            .order_by(table.c.received_day)
        )
        with self.engine.connect() as conn:
            return [DayActivity(day, int(top), int(n)) for day, top, n in conn.execute(query)]

    def days_pending_up_to(self, cursor: int, *, received_before: datetime) -> list[DayActivity]:
        """Per UTC day, deliveries at or before ``cursor`` still pending since before a time.

        A sweep for stragglers: deliveries whose run failed, whose day was not yet a partition,
        or (several gateways writing one PostgreSQL queue) whose lower id committed late.
        """
        table = webhook_deliveries
        before = _utc_naive_if_sqlite(self, received_before)
        query = (
            sa.select(table.c.received_day, sa.func.max(table.c.id), sa.func.count())
            .where(table.c.state == PENDING, table.c.id <= cursor, table.c.received_at < before)
            .group_by(table.c.received_day)
            .order_by(table.c.received_day)
        )
        with self.engine.connect() as conn:
            return [DayActivity(day, int(top), int(n)) for day, top, n in conn.execute(query)]

    # -- operators and tests -----------------------------------------------------------------------
    def count_by_state(self) -> dict[str, int]:
        table = webhook_deliveries
        query = sa.select(table.c.state, sa.func.count()).group_by(table.c.state)
        with self.engine.connect() as conn:
            return {state: int(n) for state, n in conn.execute(query)}

    def pending_count(self) -> int:
        table = webhook_deliveries
        query = sa.select(sa.func.count()).where(table.c.state == PENDING)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def find(self, source: str, delivery_ids: Iterable[str]) -> list[StoredDelivery]:
        """Deliveries sent to the source named ``source`` with these ids (each at most once)."""
        wanted = sorted(set(delivery_ids))
        table = webhook_deliveries
        found: list[StoredDelivery] = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                query = sa.select(table).where(
                    table.c.source == source,
                    table.c.delivery_id.in_(wanted[start : start + 500]),
                )
                found.extend(_stored(row) for row in conn.execute(query))
        return found


def _engine(url: str, *, sqlite_synchronous: SqliteSynchronous) -> sa.Engine:
    if not url.startswith("sqlite"):
        # pre_ping: a PostgreSQL restart must not turn the next deliveries into 503s.
        return sa.create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    synchronous = {"full": "FULL", "normal": "NORMAL"}[sqlite_synchronous]

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of two constants above
        cursor.close()

    return engine


def _row(delivery: Delivery) -> dict[str, Any]:
    return {
        "source": delivery.source,
        "source_type": delivery.source_type,
        "delivery_id": delivery.delivery_id,
        "event_type": delivery.event_type,
        "received_at": delivery.received_at,
        "received_day": delivery.received_at.astimezone(UTC).date().isoformat(),
        "headers": json.dumps(delivery.headers, sort_keys=True),
        "body": delivery.body,
        "body_sha256": delivery.body_sha256,
        "state": delivery.state,
        "reason": delivery.reason,
    }


def _stored(row: Any) -> StoredDelivery:
    received_at = row.received_at
    if received_at.tzinfo is None:  # SQLite keeps no offset; everything stored is UTC
        received_at = received_at.replace(tzinfo=UTC)
    return StoredDelivery(
        id=int(row.id),
        source=row.source,
        delivery_id=row.delivery_id,
        event_type=row.event_type,
        received_at=received_at.astimezone(UTC),
        headers=json.loads(row.headers),
        body=bytes(row.body),
        state=row.state,
        reason=row.reason,
        landing_refs=json.loads(row.landing_refs) if row.landing_refs else [],
        source_type=row.source_type or row.source,
    )


def _utc_naive_if_sqlite(queue: DeliveryQueue, moment: datetime) -> datetime:
    """SQLite compares stored timestamps as text without offsets: compare in naive UTC there."""
    moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None) if queue.engine.dialect.name == "sqlite" else moment
