"""The landing zone: raw records exactly as fetched, append-only, with provenance.

Layout: ``$FLOWSYNC_HOME/landing/source=<s>/kind=<k>/<batch>.parquet`` (hive-partitioned, so
DuckDB and Polars prune by source and kind). A record version is identified by
``(source, kind, record_id, payload_sha256)``: appending a version already landed is a no-op,
which is what makes re-runs and crash recovery land exactly the same set.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from flowsync_pipelines import schema


@dataclass(frozen=True)
class FetchedRecord:
    """One item a connector fetched, with the identity and update time the API gives it."""

    kind: str
    scope: str
    record_id: str
    updated_at: str | int | float | None  # ISO-8601, or epoch seconds/milliseconds
    payload: Any
    request: str


TOMBSTONE = "tombstone"


def tombstone(
    kind: str, scope: str, record_id: str, *, deleted_at: str | None, reason: str, request: str
) -> FetchedRecord:
    """A landing record saying an API reported ``kind/record_id`` deleted or archived.

    Deletions land like any record (kind ``tombstone``), so downstream layers see them instead of
    silence, and a re-run lands the same tombstone once.
    """
    return FetchedRecord(
        kind=TOMBSTONE,
        scope=scope,
        record_id=f"{kind}/{record_id}",
        updated_at=deleted_at,
        payload={"kind": kind, "record_id": record_id, "deleted_at": deleted_at, "reason": reason},
        request=request,
    )


def canonical_json(payload: Any) -> str:
    """Compact UTF-8 JSON in the API's own key order: the same response hashes the same.

    Keys are not sorted: an API serialises an unchanged object identically, and sorting costs a
    third of landing's time. A tool that reorders keys costs one redundant landed version,
    which downstream de-duplication (deterministic event ids) absorbs.
    """
    return _canonical_bytes(payload).decode()


def _canonical_bytes(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers beyond 64 bits, which orjson refuses; rare, so the slow path
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def landing_frame(
    source: str, records: Iterable[FetchedRecord], *, fetched_at: datetime
) -> pl.DataFrame:
    """Build landing rows (payload JSON, sha256, provenance) for fetched records."""
    records = list(records)
    raw = [_canonical_bytes(r.payload) for r in records]
    frame = pl.DataFrame(
        {
            "kind": [r.kind for r in records],
            "scope": [r.scope for r in records],
            "record_id": [r.record_id for r in records],
            "updated_at": [None if r.updated_at is None else str(r.updated_at) for r in records],
            # orjson emits valid UTF-8, so the binary column casts to text without a copy loop.
            "payload": pl.Series(raw, dtype=pl.Binary).cast(pl.String),
            "payload_sha256": [hashlib.sha256(b).hexdigest() for b in raw],
            "request": [r.request for r in records],
        },
        schema_overrides={
            k: pl.String
            for k in ("kind", "scope", "record_id", "updated_at", "payload_sha256", "request")
        },
    )
    frame = frame.with_columns(
        pl.lit(source).alias("source"),
        parse_utc(pl.col("updated_at")).alias("updated_at"),
        pl.lit(fetched_at).dt.cast_time_unit("us").dt.replace_time_zone("UTC").alias("fetched_at"),
        pl.concat_str(
            pl.lit(source),
            pl.lit("/"),
            pl.col("kind"),
            pl.lit("/"),
            pl.col("record_id"),
            pl.lit("@"),
            pl.col("payload_sha256").str.slice(0, 16),
        ).alias("landing_ref"),
    )
    return schema.conform(frame, schema.LANDING)


def parse_utc(expr: pl.Expr) -> pl.Expr:
    """Parse timestamps as tools send them into UTC microseconds.

    ISO-8601 with ``Z``, ``+02:00`` or Jira's ``+0200``; a date-time without an offset is UTC;
    GitLab webhooks' and the Jenkins git plugin's ``2019-03-11 08:28:35 UTC`` and
    ``2026-09-03 12:15:30 +0200`` (a space for the ``T`` and before the zone); bare numbers are
    epoch seconds, or epoch milliseconds when too large to be seconds (Linear, Jenkins).
    Anything else becomes null, for the caller to quarantine.
    """
    # One pass, and a no-op on ISO text (which has no spaces): " UTC" → "Z", " +0200" → "+0200",
    # then the date/time separator → "T".
    text = expr.str.replace_many([" UTC", " +", " -", " "], ["Z", "+", "-", "T"], leftmost=True)
    iso = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us")
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    number = expr.str.strip_chars().cast(pl.Float64, strict=False)
    epoch_us = (
        pl.when(number.abs() >= 1e11).then(number * 1_000).otherwise(number * 1_000_000)
    ).cast(pl.Int64, strict=False)
    return pl.coalesce(
        iso.dt.convert_time_zone("UTC"),
        naive.dt.replace_time_zone("UTC"),
        pl.from_epoch(epoch_us, time_unit="us").dt.replace_time_zone("UTC"),
    ).cast(pl.Datetime("us", "UTC"))


class LandingStore:
    """Append-only Parquet landing zone under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # Versions known to be landed, per (source, kind): read once, then kept up to date by
        # append(), so landing batch after batch does not re-scan the zone each time.
        self._known: dict[tuple[str, str], pl.DataFrame] = {}

    def _dir(self, source: str, kind: str) -> Path:
        return self.root / f"source={source}" / f"kind={kind}"

    def _files(self, source: str | None = None, kind: str | None = None) -> list[Path]:
        pattern = f"source={source or '*'}/kind={kind or '*'}/*.parquet"
        return sorted(self.root.glob(pattern))

    def known_versions(self, source: str, kind: str) -> pl.DataFrame:
        """``(record_id, payload_sha256)`` of every version of this source/kind already landed."""
        if (source, kind) not in self._known:
            files = self._files(source, kind)
            self._known[source, kind] = (
                pl.scan_parquet(files).select("record_id", "payload_sha256").unique().collect()
                if files
                else pl.DataFrame(schema={"record_id": pl.String, "payload_sha256": pl.String})
            )
        return self._known[source, kind]

    def append(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Durably write the versions in ``frame`` not yet landed; return just those rows."""
        if frame.is_empty():
            return frame
        new_parts = []
        for (source, kind), part in frame.partition_by(["source", "kind"], as_dict=True).items():
            # Decide on the narrow key columns; touch the wide payload column only to keep rows.
            keys = (
                part.select("record_id", "payload_sha256")
                .with_row_index("row")
                .unique(subset=["record_id", "payload_sha256"], keep="first")
                .join(
                    self.known_versions(source, kind),
                    on=["record_id", "payload_sha256"],
                    how="anti",
                )
            )
            if keys.is_empty():
                continue
            if keys.height < part.height:
                part = part[keys.get_column("row").sort()]
            self._write_atomically(self._dir(source, kind), part)
            self._known[source, kind] = pl.concat(
                [self._known[source, kind], part.select("record_id", "payload_sha256")]
            )
            new_parts.append(part)
        if not new_parts:
            return frame.clear()
        return pl.concat(new_parts)

    @staticmethod
    def _write_atomically(directory: Path, part: pl.DataFrame) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = part.get_column("fetched_at").max().strftime("%Y%m%dT%H%M%S%f")
        final = directory / f"{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        temporary = final.with_suffix(".tmp")
        part.drop("source", "kind").write_parquet(
            temporary, compression="zstd", compression_level=1, statistics=True
        )
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        temporary.rename(final)  # readers never see half a batch
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def scan(self, source: str | None = None, kind: str | None = None) -> pl.LazyFrame:
        """Every landed version, with ``source`` and ``kind`` restored from the path."""
        files = self._files(source, kind)
        if not files:
            return schema.empty(schema.LANDING).lazy()
        lazy = pl.scan_parquet(files, hive_partitioning=True)
        return lazy.select(list(schema.polars_schema(schema.LANDING).names()))

    def latest(
        self,
        *,
        source: str | None = None,
        kind: str | None = None,
        updated_since: datetime | None = None,
        scheduled: Collection[tuple[str, str]] = (),
    ) -> pl.DataFrame:
        """The newest landed version of each record, optionally only those updated since a time.

        A record whose events fall in a window was updated at or after the window's start —
        unless its events follow a schedule (a cycle starts on its date, whenever it was last
        edited): records of the ``scheduled`` (source, kind) pairs are always read. So
        ``updated_since`` bounds the work of re-deriving one partition without losing events.
        """
        lazy = self.scan(source, kind)
        if updated_since is not None:
            always = [f"{s}/{k}" for s, k in scheduled]
            lazy = lazy.filter(
                pl.col("updated_at").is_null()
                | (pl.col("updated_at") >= updated_since)
                | pl.concat_str("source", pl.lit("/"), "kind").is_in(always)
            )
        # Newest by the tool's own update time, so a stale version that arrives late (a delayed
        # webhook, a lagging replica) never replaces a newer one; fetch time breaks ties.
        return (
            lazy.sort(["updated_at", "fetched_at", "payload_sha256"], nulls_last=False)
            .group_by(["source", "kind", "record_id"], maintain_order=True)
            .last()
            .collect()
        )
