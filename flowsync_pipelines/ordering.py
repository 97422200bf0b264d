"""Event ordering: hybrid logical clock stamps and out-of-sequence detection.

Tools' clocks disagree and their events arrive late, twice or out of order. Each entity's events
get an HLC stamp (Kulkarni et al.): in observation order, the logical time is the running
maximum of physical times seen for the entity, and a counter breaks ties, so a stamp never goes
backwards even when a tool's timestamp does. Where it would have, and where a lifecycle is
impossible (merged before opened, closed before created), an ordering violation is recorded for
the integration-health monitor. Both are pure functions of the event set: re-runs and any arrival
order give the same stamps and the same violations.
"""

from __future__ import annotations

import polars as pl

from flowsync_pipelines import schema

# For each entity type, actions that must not precede its creation.
CREATION = {
    "pull_request": "opened",
    "merge_request": "opened",
    "ticket": "created",
    "incident": "first_seen",
    "deployment": "created",
}


def stamp_hlc(signals: pl.DataFrame) -> pl.DataFrame:
    """Add the ``hlc`` column (int64: physical ms << 16 | counter) per entity."""
    physical_ms = pl.col("occurred_at").dt.epoch("ms")
    ordered = signals.sort(["entity_id", "observed_at", "occurred_at", "event_id"])
    return (
        ordered.with_columns(
            logical=physical_ms.cum_max().over("entity_id"),
        )
        .with_columns(
            (
                pl.col("logical") * 65_536
                + pl.int_range(pl.len()).over(["entity_id", "logical"]).clip(upper_bound=65_535)
            ).alias("hlc")
        )
        .drop("logical")
    )


def violations(signals: pl.DataFrame) -> pl.DataFrame:
    """Out-of-sequence events of each entity (see module docstring), one row per finding."""
    if signals.is_empty():
        return schema.empty(schema.ORDERING_VIOLATIONS)
    physical_ms = pl.col("occurred_at").dt.epoch("ms")
    went_back = (
        signals.sort(["entity_id", "observed_at", "occurred_at", "event_id"])
        .with_columns(seen=physical_ms.cum_max().shift(1).over("entity_id"))
        .filter(pl.col("seen").is_not_null() & (physical_ms < pl.col("seen")))
        .with_columns(
            pl.lit("time_went_backwards").alias("rule"),
            pl.format(
                "{} at {} was observed after an event of the same entity at a later time",
                pl.col("action"),
                pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ).alias("detail"),
        )
    )
    creation = pl.DataFrame(
        {"entity_type": list(CREATION), "creation_action": list(CREATION.values())}
    )
    created = (
        signals.join(creation, on="entity_type")
        .filter(pl.col("action") == pl.col("creation_action"))
        .group_by("entity_id")
        .agg(pl.col("occurred_at").min().alias("created_at"))
    )
    before_creation = (
        signals.join(created, on="entity_id")
        .filter(pl.col("occurred_at") < pl.col("created_at"))
        .with_columns(
            pl.lit("before_creation").alias("rule"),
            pl.format(
                "{} at {} precedes the entity's creation at {}",
                pl.col("action"),
                pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                pl.col("created_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ).alias("detail"),
        )
    )
    found = pl.concat(
        [schema.conform(f, schema.ORDERING_VIOLATIONS) for f in (went_back, before_creation)]
    )
    return found.unique(["event_id", "rule"]).sort(["entity_id", "occurred_at", "rule"])
