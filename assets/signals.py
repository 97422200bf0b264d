"""``signals``: landing records of a window → canonical, pseudonymous events (+ quarantine)."""

import dagster as dg
import polars as pl

from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.warehouse import replace_rows, run_sql
from resources.stores import LandingResource, MetadataResource, PrivacyResource, WarehouseResource

QUARANTINE_WARN, QUARANTINE_FAIL = 0.01, 0.05


def signals_asset(
    partitions_def: dg.PartitionsDefinition, landing_keys: list[dg.AssetKey]
) -> dg.AssetsDefinition:
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
        # Records not updated since the window opened cannot hold events inside it.
        records = landing.store().latest(updated_since=window.start)
        result = normalise(records, pseudonym_key=privacy.pseudonym_key)
        in_window = result.signals.filter(
            (pl.col("occurred_at") >= window.start) & (pl.col("occurred_at") < window.end)
        )
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


def _markdown(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_no rows_"
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows())
    return header + body
