"""The delivery outbox: one row per subscription × local day × channel in the metadata store.

A row is ``pending`` until its sender confirms it (``sent``, with the provider's message id) or
gives up (``failed``). ``in_flight`` is set before a send and cleared with its outcome, so a row
found in flight on the next run is one whose outcome is unknown (timeout, crash): its sender
looks for it on the provider's side before sending again. A lease keeps two delivery processes
off the same row; a lease whose process died on this host is taken over at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.metastore import upgrade
from flowsync_pipelines.metastore.tables import digest_outbox

STATES = ("pending", "sent", "failed")


@dataclass(frozen=True)
class OutboxRow:
    digest_id: str
    subscription_id: str
    day: date
    channel: str
    state: str
    attempts: int
    in_flight: bool
    last_error: str | None
    provider_id: str | None
    payload: dict[str, Any]


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Outbox:
    """The outbox table behind a :class:`MetadataStore` (SQLite or PostgreSQL)."""

    def __init__(self, store: MetadataStore) -> None:
        self.engine = store.engine
        upgrade(self.engine)  # a no-op once the store opened: kept for a bare engine

    def enqueue(self, rows: Iterable[dict[str, Any]]) -> tuple[int, int]:
        """Queue rendered payloads (``digest_id``, ``subscription_id``, ``day``, ``channel``,
        ``payload``); ``(inserted, refreshed)``.

        Idempotent: a row already queued keeps its state; a pending one not yet tried takes the
        new payload when it changed (late data), a sent one never changes.
        """
        rows = list(rows)
        if not rows:
            return 0, 0
        now = datetime.now(UTC)
        inserted = refreshed = 0
        with self.engine.begin() as conn:
            existing = {}
            ids = [r["digest_id"] for r in rows]
            for chunk in range(0, len(ids), 500):
                query = sa.select(
                    digest_outbox.c.digest_id,
                    digest_outbox.c.state,
                    digest_outbox.c.attempts,
                    digest_outbox.c.payload_sha256,
                ).where(digest_outbox.c.digest_id.in_(ids[chunk : chunk + 500]))
                existing.update({r.digest_id: r for r in conn.execute(query)})
            new = []
            for row in rows:
                text = canonical(row["payload"])
                sha = hashlib.sha256(text.encode()).hexdigest()
                old = existing.get(row["digest_id"])
                if old is None:
                    new.append(
                        {
                            "digest_id": row["digest_id"],
                            "subscription_id": row["subscription_id"],
                            "day": row["day"].isoformat(),
                            "channel": row["channel"],
                            "state": "pending",
                            "attempts": 0,
                            "in_flight": False,
                            "payload_sha256": sha,
                            "payload": text,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    existing[row["digest_id"]] = None  # twice in one call: once
                elif old.state == "pending" and old.attempts == 0 and old.payload_sha256 != sha:
                    conn.execute(
                        digest_outbox.update()
                        .where(digest_outbox.c.digest_id == row["digest_id"])
                        .values(payload=text, payload_sha256=sha, updated_at=now)
                    )
                    refreshed += 1
            if new:
                conn.execute(digest_outbox.insert(), new)
                inserted = len(new)
        return inserted, refreshed

    def enqueued_days(self, subscription_ids: Iterable[str], day: date) -> set[str]:
        """The subscriptions that already have rows for the local day ``day``."""
        query = sa.select(digest_outbox.c.subscription_id).where(
            digest_outbox.c.day == day.isoformat(),
            digest_outbox.c.subscription_id.in_(list(subscription_ids)),
        )
        with self.engine.connect() as conn:
            return {r.subscription_id for r in conn.execute(query)}

    def pending(self, *, limit: int | None = None) -> list[OutboxRow]:
        query = (
            sa.select(digest_outbox)
            .where(digest_outbox.c.state == "pending")
            .order_by(digest_outbox.c.day, digest_outbox.c.subscription_id, digest_outbox.c.channel)
        )
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def rows(self) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(sa.select(digest_outbox))]

    def counts(self) -> dict[str, int]:
        query = sa.select(digest_outbox.c.state, sa.func.count()).group_by(digest_outbox.c.state)
        with self.engine.connect() as conn:
            return {state: n for state, n in conn.execute(query)}

    def claim(self, digest_id: str, *, lease_s: float = 300.0) -> OutboxRow | None:
        """Take a pending row for one send: count the attempt, mark it in flight, lease it.

        Returns the row as it was before (``in_flight`` True means the last outcome is unknown),
        or None when it is no longer pending or another process holds its lease.
        """
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            before = conn.execute(
                sa.select(digest_outbox).where(digest_outbox.c.digest_id == digest_id)
            ).first()
            if before is None or before.state != "pending":
                return None
            held = before.lease_until is not None and _aware(before.lease_until) >= now
            if held and not _dead(before.lease_owner):
                return None
            taken = conn.execute(
                digest_outbox.update()
                .where(
                    digest_outbox.c.digest_id == digest_id,
                    digest_outbox.c.state == "pending",
                    digest_outbox.c.attempts == before.attempts,  # nobody claimed it meanwhile
                )
                .values(
                    attempts=before.attempts + 1,
                    in_flight=True,
                    lease_until=now + timedelta(seconds=lease_s),
                    lease_owner=OWNER,
                    updated_at=now,
                )
            )
            return _row(before) if taken.rowcount == 1 else None

    def mark_sent(self, digest_id: str, provider_id: str) -> None:
        """Delivered. The payload (it may name people) is dropped; its hash stays, so the row
        still tells what was sent and a re-enqueue still finds nothing new."""
        now = datetime.now(UTC)
        self._finish(
            digest_id,
            state="sent",
            provider_id=provider_id,
            sent_at=now,
            last_error=None,
            payload="{}",
        )

    def mark_retry(self, digest_id: str, error: str, *, unknown: bool = False) -> None:
        """Not sent this time; ``unknown`` keeps it in flight (the provider may have it)."""
        self._finish(digest_id, state="pending", last_error=error, in_flight=unknown)

    def mark_failed(self, digest_id: str, error: str, *, in_flight: bool = False) -> None:
        self._finish(digest_id, state="failed", last_error=error, in_flight=in_flight)

    def requeue_failed(self) -> int:
        """Give failed rows another round (``flowsync deliver --retry-failed``)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                digest_outbox.update()
                .where(digest_outbox.c.state == "failed")
                .values(state="pending", attempts=0, updated_at=datetime.now(UTC))
            )
        return done.rowcount

    def _finish(self, digest_id: str, *, state: str, **values: Any) -> None:
        values.setdefault("in_flight", False)
        with self.engine.begin() as conn:
            conn.execute(
                digest_outbox.update()
                .where(digest_outbox.c.digest_id == digest_id)
                .values(
                    state=state,
                    lease_until=None,
                    lease_owner=None,
                    updated_at=datetime.now(UTC),
                    **values,
                )
            )


OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def _dead(owner: str | None) -> bool:
    """Whether a lease's process is gone: known only for processes on this host."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        digest_id=r.digest_id,
        subscription_id=r.subscription_id,
        day=date.fromisoformat(r.day),
        channel=r.channel,
        state=r.state,
        attempts=r.attempts,
        in_flight=bool(r.in_flight),
        last_error=r.last_error,
        provider_id=r.provider_id,
        payload=json.loads(r.payload),
    )
