"""Incremental sync: fetch what changed since the cursor, land it, then advance the cursor.

The order is the guarantee. Records are landed (fsync'd) before the cursor and the first page's
ETag are saved, so a crash anywhere re-fetches from the old cursor and landing's de-duplication
absorbs the overlap: no loss, no duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from flowsync_pipelines.gdpr import scrub_erased
from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.metadata import MetadataStore

# Tolerates clock skew between the tool and us, and records updated while we paged.
OVERLAP = timedelta(minutes=10)


@dataclass
class EndpointSync:
    """What one endpoint of one scope yielded; the connector fills it while iterating."""

    scope: str
    endpoint: str
    cursor_before: str | None
    etag_before: str | None
    cursor_after: str | None = None
    etag_after: str | None = None
    records: list[FetchedRecord] = field(default_factory=list)
    # Set when what was fetched is still changing where the validated list cannot show it (a
    # check run still running on an unchanged commit list): no ETag is kept, so the next sync
    # asks unconditionally instead of being told "304, nothing changed".
    revalidate: bool = False

    def since(self) -> datetime | None:
        """Lower bound of ``updated_at`` to ask for: the cursor minus the overlap window."""
        if self.cursor_before is None:
            return None
        return datetime.fromisoformat(self.cursor_before) - OVERLAP

    def observe(self, updated_at: str | None) -> None:
        """Advance the would-be cursor past a fetched record's ``updated_at``."""
        if updated_at is None:
            return
        stamp = utc_iso(updated_at)
        if self.cursor_after is None or stamp > self.cursor_after:
            self.cursor_after = stamp


class Connector(Protocol):
    source: str

    def endpoints(self) -> list[tuple[str, str]]:
        """``(scope, endpoint)`` pairs this connector syncs."""
        ...

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Yield records changed since ``sync.since()``; set ``sync.etag_after``."""
        ...


@dataclass
class SyncReport:
    landed: int = 0
    fetched: int = 0
    endpoints: list[dict[str, object]] = field(default_factory=list)


def run_sync(
    connector: Connector,
    landing: LandingStore,
    metadata: MetadataStore,
    *,
    source: str | None = None,
) -> SyncReport:
    """Sync every endpoint of ``connector``: fetch, land durably, then save the new position.

    ``source`` is the source's name in flowsync.yaml (default: the connector's tool type): its
    records land under ``source=<name>`` and its cursors are its own, so two sources of one type
    never share either.
    """
    report = SyncReport()
    name = source or connector.source
    for scope, endpoint in connector.endpoints():
        cursor, etag = metadata.sync_position(name, scope, endpoint)
        sync = EndpointSync(scope=scope, endpoint=endpoint, cursor_before=cursor, etag_before=etag)
        records = list(connector.fetch(sync))
        fetched_at = datetime.now(UTC)
        frame = landing_frame(name, records, fetched_at=fetched_at)
        landed = landing.append(scrub_erased(frame, metadata))  # erased people stay erased
        metadata.save_sync_position(
            name,
            scope,
            endpoint,
            cursor=max(filter(None, [cursor, sync.cursor_after]), default=None),
            etag=None if sync.revalidate else sync.etag_after or etag,
        )
        report.fetched += len(records)
        report.landed += landed.height
        report.endpoints.append(
            {
                "scope": scope,
                "endpoint": endpoint,
                "fetched": len(records),
                "landed": landed.height,
                "cursor_before": cursor,
                "cursor_after": max(filter(None, [cursor, sync.cursor_after]), default=None),
            }
        )
    return report


def utc_iso(stamp: str) -> str:
    """Normalise a tool timestamp (``Z``, ``+02:00``, ``+0200``) to ISO-8601 UTC text."""
    text = stamp.replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()
