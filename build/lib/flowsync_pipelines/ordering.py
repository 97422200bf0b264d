"""Event ordering: hybrid logical clock stamps and out-of-sequence detection.

Tools' clocks disagree and their events arrive late, twice or out of order. Each entity's events
get an HLC stamp (Kulkarni et al.): in observation order, the logical time is the running
maximum of physical times seen for the entity, and a counter breaks ties, so a stamp never goes
backwards even when a tool's timestamp does. Where it would have, and where a lifecycle is
impossible (merged before opened, closed before created) or regresses (a merged pull request
opened again, activity after a deletion), an ordering violation is recorded for the
integration-health monitor. Both are pure functions of the event set: re-runs and any arrival
order give the same stamps and the same violations.
"""

from __future__ import annotations

import polars as pl

from flowsync_pipelines import schema, vocabulary

# For each entity type, the action that must not be preceded (declared in the vocabulary).
CREATION = vocabulary.CREATION

# Actions that cannot happen after a final one: (entity types, final action, later actions).
# ``None`` means any entity type, or any action but the final one. A creation after the final
# action is not listed again: ``before_creation`` already reports the final action.
REGRESSIONS: list[tuple[tuple[str, ...] | None, str, tuple[str, ...] | None]] = [
    (
        (vocabulary.entity_type("pull_request"),),
        vocabulary.action("pull_request", "merged"),
        (vocabulary.action("pull_request", "reopened"),),
    ),
    (None, vocabulary.DELETED, None),
]


# Per entity, events in the order they were observed (ties broken by content, so any arrival
# order of the same event set gives the same sequence).
OBSERVATION_ORDER = ["entity_id", "observed_at", "occurred_at", "event_id"]


def _observed(signals: pl.DataFrame) -> pl.DataFrame:
    """The ordering keys alone, in observation order, with each row's position in ``signals``,
    its physical time, the entity's running maximum of physical times (``logical``) and the
    previous event's (``seen``).

    Sorting these narrow columns instead of the whole frame keeps the wide text columns
    (titles, attributes, urls) from being moved. Entities are consecutive runs after the sort,
    so per-entity scans are done as one global scan instead of a window over each of the
    (mostly tiny) groups: ranks of physical times are offset by the entity's run number so
    that every value of a later entity exceeds those of earlier ones, and the running maximum
    of that never crosses an entity boundary. Ranks keep the offsets small (no overflow).
    """
    physical = pl.col("occurred_at").dt.epoch("ms")
    first = (pl.col("entity_id") != pl.col("entity_id").shift(1)).fill_null(True)
    offset = first.cum_sum().cast(pl.Int64) * (pl.len() + 1)
    running_rank = (offset + physical.rank("dense").cast(pl.Int64)).cum_max() - offset
    return (
        signals.select(*OBSERVATION_ORDER, pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"))
        .sort(OBSERVATION_ORDER)
        .with_columns(
            physical.alias("physical"),
            physical.unique().sort().gather(running_rank - 1).alias("logical"),
            first.alias("first"),
        )
        .with_columns(
            pl.when(~pl.col("first")).then(pl.col("logical").shift(1)).alias("seen"),
        )
    )


def stamp_hlc(signals: pl.DataFrame) -> pl.DataFrame:
    """Set the ``hlc`` column (int64: logical ms << 16 | counter) per entity."""
    position = pl.int_range(pl.len())
    run_start = pl.col("first") | (pl.col("logical") != pl.col("seen"))
    counter = position - pl.when(run_start).then(position).forward_fill()
    stamps = _observed(signals).select(
        "row", (pl.col("logical") * 65_536 + counter.clip(upper_bound=65_535)).alias("hlc")
    )
    return signals.with_columns(stamps.sort("row").get_column("hlc"))


def violations(signals: pl.DataFrame) -> pl.DataFrame:
    """Out-of-sequence events of each entity (see module docstring), one row per finding."""
    if signals.is_empty():
        return schema.empty(schema.ORDERING_VIOLATIONS)
    late = (
        _observed(signals)
        .filter(pl.col("seen").is_not_null() & (pl.col("physical") < pl.col("seen")))
        .get_column("row")
    )
    went_back = signals[late].with_columns(
        pl.lit("time_went_backwards").alias("rule"),
        pl.format(
            "{} at {} was observed after an event of the same entity at a later time",
            pl.col("action"),
            pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ).alias("detail"),
    )
    creation = pl.DataFrame(
        {"entity_type": list(CREATION), "creation_action": list(CREATION.values())}
    )
    keys = signals.select(
        "entity_id",
        "entity_type",
        "action",
        "occurred_at",
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
    )
    created = (
        keys.join(creation, on="entity_type")
        .filter(pl.col("action") == pl.col("creation_action"))
        .group_by("entity_id")
        .agg(pl.col("occurred_at").min().alias("created_at"))
    )
    early = keys.join(created, on="entity_id").filter(pl.col("occurred_at") < pl.col("created_at"))
    before_creation = signals[early.get_column("row")].with_columns(
        pl.lit("before_creation").alias("rule"),
        pl.format(
            "{} at {} precedes the entity's creation at {}",
            pl.col("action"),
            pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            early.get_column("created_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ).alias("detail"),
    )
    regressed = [_regressions(signals, keys, *rule) for rule in REGRESSIONS]
    found = pl.concat(
        [
            schema.conform(f, schema.ORDERING_VIOLATIONS)
            for f in (went_back, before_creation, *regressed)
        ]
    )
    return found.unique(["event_id", "rule"]).sort(["entity_id", "occurred_at", "rule"])


def _regressions(
    signals: pl.DataFrame,
    keys: pl.DataFrame,
    entity_types: tuple[str, ...] | None,
    final: str,
    later: tuple[str, ...] | None,
) -> pl.DataFrame:
    """Events of ``later`` actions that happened after the entity's ``final`` action."""
    of_type = pl.col("entity_type").is_in(entity_types) if entity_types else pl.lit(True)
    finals = (
        keys.filter(of_type & (pl.col("action") == final))
        .group_by("entity_id")
        .agg(pl.col("occurred_at").min().alias("final_at"))
    )
    creation = pl.col("entity_type").replace_strict(CREATION, default=None)
    is_later = (
        pl.col("action").is_in(later)
        if later
        else (pl.col("action") != final) & (pl.col("action") != creation).fill_null(True)
    )
    after = keys.join(finals, on="entity_id").filter(
        is_later & (pl.col("occurred_at") > pl.col("final_at"))
    )
    return signals[after.get_column("row")].with_columns(
        pl.lit("state_regression").alias("rule"),
        pl.format(
            "{} at {} follows the entity's {} at {}",
            pl.col("action"),
            pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            pl.lit(final),
            after.get_column("final_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ).alias("detail"),
    )
