"""``signals``: landing records of a window → canonical, pseudonymous events (+ quarantine)."""

from collections.abc import Collection, Mapping

import dagster as dg
import polars as pl

from flowsync_pipelines.citations import SourceRoute
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.normalise import SCHEDULED_KINDS, normalise
from flowsync_pipelines.warehouse import replace_rows, run_sql
from resources.stores import LandingResource, MetadataResource, PrivacyResource, WarehouseResource

QUARANTINE_WARN, QUARANTINE_FAIL = 0.01, 0.05


def signals_asset(
    partitions_def: dg.PartitionsDefinition,
    landing_keys: list[dg.AssetKey],
    sources: Mapping[str, SourceRoute] | None = None,
) -> dg.AssetsDefinition:
    """``sources``: each source's type and web base URL by name (landing is by name)."""
    sources = dict(sources or {})
    # Scheduled kinds are declared per type; landing holds them under each source's name.
    scheduled = SCHEDULED_KINDS | {
        (name, kind) for name, route in sources.items() for t, kind in SCHEDULED_KINDS
        if route.type == t
    }  # fmt: skip

    @dg.asset(
        name="signals",
        group_name="signals",
        kinds={"polars", "duckdb"},
        deps=landing_keys,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("quarantine_rate", asset="signals")],
        description="Canonical events, one row each, with pseudonymous actors and provenance.",
    )
    def signals(
        context: dg.AssetExecutionContext,
        landing: LandingResource,
        warehouse: WarehouseResource,
        metadata: MetadataResource,
        privacy: PrivacyResource,
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        store = landing.store()
        # Records not updated since the window opened cannot hold events inside it, bar
        # scheduled ones (a cycle that starts today was last edited weeks ago).
        records = store.latest(updated_since=window.start, scheduled=scheduled)
        result = normalise(records, pseudonym_key=privacy.pseudonym_key, sources=sources)
        in_window = result.signals.filter(
            (pl.col("occurred_at") >= window.start) & (pl.col("occurred_at") < window.end)
        )
        outside = _outside(result.signals, store, window, partitions_def, scheduled)
        with warehouse.connect() as con:
            con.execute("BEGIN TRANSACTION")
            run_sql(con, "delete_signals_window", window_start=window.start, window_end=window.end)
            replace_rows(con, "signals", in_window, key="event_id")
            replace_rows(con, "quarantine", result.quarantine, key="landing_ref")
            replace_rows(con, "ordering_violations", result.violations, key="event_id")
            run_sql(con, "current_state")
            con.execute("COMMIT")
        store = metadata.store()
        try:
            store.upsert_accounts(result.accounts.to_dicts())
        finally:
            store.dispose()

        rate = result.quarantine_rate
        severity = (
            dg.AssetCheckSeverity.ERROR if rate > QUARANTINE_FAIL else dg.AssetCheckSeverity.WARN
        )
        by_action = (
            in_window.group_by("source", "entity_type", "action").len().sort("len", descending=True)
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": in_window.height,
                "records_read": records.height,
                # Read but not this window's: nothing dated before start_date is ever kept
                # (move start_date back to keep it); other days are their partitions' runs.
                **outside,
                "records_quarantined": result.quarantine.height,
                "records_of_unsupported_kinds": result.unsupported,
                # Valid records that hold no event (a ping, a queued job…), each with a note.
                "records_without_events": result.references.height,
                "ordering_violations": result.violations.height,
                "ordering_violations_by_rule": dict(
                    result.violations.group_by("rule").len().sort("rule").iter_rows()
                ),
                "quarantine_rate": round(rate, 5),
                "events_by_kind": dg.MetadataValue.md(_markdown(by_action)),
                "preview": dg.MetadataValue.md(
                    _markdown(
                        in_window.select("occurred_at", "entity_id", "action", "actor_kind").head(
                            10
                        )
                    )
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="quarantine_rate",
                    passed=rate <= QUARANTINE_WARN,
                    severity=severity,
                    metadata={
                        "quarantine_rate": round(rate, 5),
                        "warn_above": QUARANTINE_WARN,
                        "fail_above": QUARANTINE_FAIL,
                    },
                )
            ],
        )

    return signals


def _outside(
    events: pl.DataFrame,
    store: LandingStore,
    window: dg.TimeWindow,
    partitions_def: dg.PartitionsDefinition,
    scheduled: Collection[tuple[str, str]] = SCHEDULED_KINDS,
) -> dict[str, int]:
    """What a window's run read but does not write, counted so that nothing vanishes unsaid.

    ``events_before_start_date``: events dated before the first partition, which no run keeps.
    ``records_before_start_date`` (runs that include the first partition): landed records whose
    newest version predates it, so no run even reads them. ``events_before_window`` and
    ``events_after_window``: events of other days, which those days' runs write.
    """
    first = (
        partitions_def.get_first_partition_window()
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
        else None
    )
    start = first.start if first is not None else window.start
    occurred = pl.col("occurred_at")
    counts = events.select(
        (occurred < start).sum().alias("events_before_start_date"),
        ((occurred >= start) & (occurred < window.start)).sum().alias("events_before_window"),
        (occurred >= window.end).sum().alias("events_after_window"),
    ).row(0, named=True)
    if window.start <= start:
        counts["records_before_start_date"] = (
            store.scan()
            .filter(
                ~pl.concat_str("source", pl.lit("/"), "kind").is_in(
                    [f"{s}/{k}" for s, k in scheduled]
                )
            )
            .group_by("source", "kind", "record_id")
            .agg(pl.col("updated_at").max())
            .filter(pl.col("updated_at") < start)
            .select(pl.len())
            .collect()
            .item()
        )
    return {name: int(value or 0) for name, value in counts.items()}


def _markdown(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_no rows_"
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows())
    return header + body
