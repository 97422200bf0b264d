"""Building blocks every normaliser shares: bulk decoding, timestamps, actors, event ids."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.landing import parse_utc
from flowsync_pipelines.pseudonym import pseudonymise

TICKET_KEY = r"\b[A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6}\b"


@dataclass(frozen=True)
class Normalised:
    signals: pl.DataFrame
    quarantine: pl.DataFrame
    accounts: pl.DataFrame
    # Records that are valid but hold no event (reference data, e.g. a sprint not started yet):
    # ``landing_ref`` and a ``note`` saying why, so that every landed record is accounted for.
    references: pl.DataFrame | None = None


def reference_rows(frame: pl.DataFrame, note: str) -> pl.DataFrame:
    return frame.select("landing_ref", pl.lit(note).alias("note"))


def decode(landing: pl.DataFrame, dtype: pl.Struct) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode ``payload`` into columns of ``dtype``.

    Returns the decoded rows (landing columns plus a ``doc`` struct column) and the rows that
    could not be decoded, with a ``reason``. Bulk first; a failing batch is bisected so only the
    irregular records pay per-record cost.
    """
    good: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []

    def attempt(part: pl.DataFrame) -> None:
        try:
            docs = part.get_column("payload").str.json_decode(dtype)
        except pl.exceptions.PolarsError as err:
            if part.height == 1:
                message = str(err).splitlines()[0][:300]
                bad.append(part.with_columns(pl.lit(f"payload shape not recognised: {message}")))
                return
            middle = part.height // 2
            attempt(part.slice(0, middle))
            attempt(part.slice(middle))
            return
        good.append(part.with_columns(docs.alias("doc")))

    # Payload fields are unnested next to these columns, so keep only the provenance ones.
    landing = landing.select(
        "landing_ref", "source", "kind", "scope", "record_id", "fetched_at", "payload"
    )
    if landing.height:
        attempt(landing)
    decoded = pl.concat(good) if good else landing.clear().with_columns(doc=pl.lit(None, dtype))
    failed = (
        pl.concat(bad).rename({"literal": "reason"})
        if bad
        else landing.clear().with_columns(reason=pl.lit(None, pl.String))
    )
    return decoded, failed


def quarantine_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Project rows carrying a ``reason`` column onto the quarantine schema."""
    return schema.conform(frame, schema.QUARANTINE)


def utc(expr: pl.Expr) -> pl.Expr:
    return parse_utc(expr)


def bad_timestamp(column: str, label: str) -> pl.Expr:
    """A reason when ``column`` (raw text) is present but not an ISO-8601 timestamp."""
    raw = pl.col(column)
    return (
        pl.when(raw.is_null())
        .then(pl.lit(f"{label} is missing"))
        .when(utc(raw).is_null())
        .then(pl.lit(f"{label} is not an ISO-8601 timestamp: ") + raw)
    )


def first_reason(*reasons: pl.Expr) -> pl.Expr:
    return pl.coalesce(*reasons).alias("reason")


def actor_columns(
    frame: pl.DataFrame, *, source: str, handle: str, kind: str, key: str
) -> pl.DataFrame:
    """Add ``actor`` (pseudonym, null for deleted/unknown accounts) next to ``actor_kind``."""
    pseudonyms = pseudonymise(source, frame.get_column(handle), key)
    return frame.with_columns(
        pl.when(pl.col(kind).is_in(["human", "bot"]))
        .then(pl.Series("actor", pseudonyms))
        .otherwise(None)
        .alias("actor")
    )


def event_id() -> pl.Expr:
    """``<source>:<entity_type>:<entity_id>:<action>:<occurred_at>``, deterministic by design."""
    return pl.concat_str(
        pl.col("source"),
        pl.col("entity_type"),
        pl.col("entity_id"),
        pl.col("action"),
        pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        separator=":",
    ).alias("event_id")


def finish(events: pl.DataFrame) -> pl.DataFrame:
    """Give events their id, the observation time, and the canonical column order."""
    events = events.filter(pl.col("occurred_at").is_not_null())
    events = events.with_columns(
        event_id(), pl.col("fetched_at").alias("observed_at"), pl.lit(0, pl.Int64).alias("hlc")
    )
    return schema.conform(events, schema.SIGNALS)


def accounts(
    frame: pl.DataFrame, *, source: str, handle: str, name: str | None, email: str | None
) -> pl.DataFrame:
    """Vault rows for every human or bot account seen in ``frame``."""
    rows = frame.filter(pl.col("actor").is_not_null()).select(
        pl.col("actor").alias("pseudonym"),
        pl.lit(source).alias("source"),
        pl.col(handle).alias("handle"),
        (pl.col(name) if name else pl.lit(None, pl.String)).alias("display_name"),
        (pl.col(email) if email else pl.lit(None, pl.String)).alias("email"),
        "actor_kind",
    )
    return merge_accounts(schema.conform(rows, schema.ACCOUNTS))


def merge_accounts(rows: pl.DataFrame) -> pl.DataFrame:
    """One vault row per pseudonym, keeping any name or email some record did carry."""
    return (
        rows.sort("pseudonym")
        .group_by("pseudonym", maintain_order=True)
        .agg(
            pl.col("source").first(),
            pl.col("handle").first(),
            pl.col("display_name").drop_nulls().first(),
            pl.col("email").drop_nulls().first(),
            pl.col("actor_kind").first(),
        )
        .select(list(schema.polars_schema(schema.ACCOUNTS).names()))
    )
