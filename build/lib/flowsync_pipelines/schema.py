"""The canonical tables every layer agrees on, as Arrow schemas (the one owner of these shapes).

``LANDING`` is what connectors write; ``SIGNALS`` is the canonical event table; ``QUARANTINE``
holds what could not be normalised, with the reason. Event ids are deterministic:
``<source>:<entity_type>:<entity_id>:<action>:<occurred_at>``.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

UTC_US = pa.timestamp("us", tz="UTC")

LANDING = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("scope", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("updated_at", UTC_US),
        pa.field("fetched_at", UTC_US, nullable=False),
        pa.field("payload", pa.large_string(), nullable=False),
        pa.field("payload_sha256", pa.string(), nullable=False),
        pa.field("request", pa.string(), nullable=False),
        # "<source>/<kind>/<record_id>@<sha256[:16]>": the citation from any derived row.
        pa.field("landing_ref", pa.string(), nullable=False),
    ]
)

SIGNALS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("occurred_at", UTC_US, nullable=False),
        pa.field("observed_at", UTC_US, nullable=False),
        # Hybrid logical clock: (physical ms << 16) + logical counter, per entity. Orders an
        # entity's events causally even when tools' clocks disagree.
        pa.field("hlc", pa.int64(), nullable=False),
        pa.field("actor", pa.string()),  # keyed-hash pseudonym, never a login or an email
        pa.field("actor_kind", pa.string(), nullable=False),  # human | bot | deleted | unknown
        pa.field("repository", pa.string()),
        pa.field("pr_number", pa.int64()),
        pa.field("commit_sha", pa.string()),
        pa.field("ticket_keys", pa.list_(pa.string())),
        pa.field("deployment_id", pa.string()),
        pa.field("release", pa.string()),
        pa.field("environment", pa.string()),
        pa.field("title", pa.string()),
        pa.field("state", pa.string()),
        pa.field("url", pa.string()),
        pa.field("attributes", pa.string()),  # JSON object of kind-specific typed values
        pa.field("landing_ref", pa.string(), nullable=False),
    ]
)

ORDERING_VIOLATIONS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("occurred_at", UTC_US, nullable=False),
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("landing_ref", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("payload", pa.large_string(), nullable=False),
    ]
)

# Vault rows: pseudonym -> what the tool says about the account. Stored only in the metadata
# store, never in DuckDB, Neo4j or the outbox.
ACCOUNTS = pa.schema(
    [
        pa.field("pseudonym", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("handle", pa.string(), nullable=False),
        pa.field("display_name", pa.string()),
        pa.field("email", pa.string()),
        pa.field("actor_kind", pa.string(), nullable=False),
    ]
)


def polars_schema(schema: pa.Schema) -> pl.Schema:
    """The Polars equivalent of an Arrow schema (for empty frames and casts)."""
    return pl.Schema(pl.from_arrow(schema.empty_table()).schema)


def empty(schema: pa.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=polars_schema(schema))


def conform(frame: pl.DataFrame, schema: pa.Schema) -> pl.DataFrame:
    """Select and cast ``frame`` to exactly ``schema`` (missing columns become nulls)."""
    target = polars_schema(schema)
    return frame.select(
        [
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in target.items()
        ]
    )
