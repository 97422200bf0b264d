"""``statements``: the claims digests make, derived per day from signals and the context graph."""

import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from flowsync_pipelines import statements as st
from flowsync_pipelines.statements import audit as st_audit
from flowsync_pipelines.statements.models import FittedModel, recording_models
from resources.stores import AuditResource, LandingResource, WarehouseResource

EVIDENCE_CHECK = "statement_evidence"
CALIBRATION_CHECK = "statement_calibration"


def append_statements_to_audit_log(
    con: duckdb.DuckDBPyConnection,
    statements: pl.DataFrame,
    models: list[FittedModel],
    landing: Path,
    audit: AuditResource,
) -> int:
    """AUDIT HOOK: append the statements this run emitted, and the models it fitted, to the
    signed audit log; returns how many entries it appended.

    One ``statement`` entry per row (its logged fields plus the landing refs and payload hashes
    of its evidence) and one ``model_trained`` entry per model version, in one batch. An entry
    whose content equals the latest one for its subject is skipped: a re-run that states
    nothing new appends nothing.
    """
    items = [
        *st_audit.model_items(models),
        *st_audit.statement_items(statements, st_audit.landing_evidence(con, statements, landing)),
    ]
    with audit.open() as log:
        return len(log.append_many(items, only_changed=True))


def evidence_check(problems: pl.DataFrame) -> dg.AssetCheckResult:
    """``statement_evidence``: passes when every statement names at least one event present in
    ``signals`` and a URL to cite (``problems`` from :func:`statements.evidence_problems`)."""
    return dg.AssetCheckResult(
        check_name=EVIDENCE_CHECK,
        asset_key="statements",
        passed=problems.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "Every statement names at least one event in signals and a URL to cite."
            + (f" {problems.height} statements do not." if problems.height else "")
        ),
        metadata={
            "failing": problems.height,
            "examples": dg.MetadataValue.json(
                problems.head(10).select("statement_id", "kind", "subject_id", "problem").to_dicts()
            ),
        },
    )


def calibration_check(reports: list[st.CalibrationReport]) -> dg.AssetCheckResult:
    """``statement_calibration``: fails when a predicted kind's latest out-of-time window has
    ECE above 0.05; passes with WARN severity when a window is too small to tell."""
    verdict = st.verdict(reports)
    return dg.AssetCheckResult(
        check_name=CALIBRATION_CHECK,
        asset_key="statements",
        passed=verdict.status != "fail",
        severity=dg.AssetCheckSeverity.ERROR
        if verdict.status == "fail"
        else dg.AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata={
            "status": verdict.status,
            "max_ece": st.MAX_ECE,
            "failing": dg.MetadataValue.json(list(verdict.failing)),
            "too_small_to_tell": dg.MetadataValue.json(list(verdict.too_small)),
            **{f"ece/{r.kind}": r.ece for r in reports if r.ece is not None},
        },
    )


def calibration_metadata(reports: list[st.CalibrationReport]) -> dict[str, dg.MetadataValue]:
    """Per predicted kind: the out-of-time window's figures and its reliability table."""
    out: dict[str, dg.MetadataValue] = {}
    for r in reports:
        figures = r.as_metadata()
        table = figures.pop("reliability")
        out[f"calibration/{r.kind}"] = dg.MetadataValue.json(figures)
        out[f"reliability/{r.kind}"] = dg.MetadataValue.md(
            "| bin | rows | mean confidence | share true |\n|---|---|---|---|\n"
            + "\n".join(
                f"| {b['lower']:.1f}-{b['upper']:.1f} | {b['rows']} | "
                f"{b['mean_confidence'] if b['rows'] else '-'} | "
                f"{b['share_true'] if b['rows'] else '-'} |"
                for b in table
            )
        )
    return out


def statements_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="statements",
        group_name="statements",
        kinds={"duckdb", "sql"},
        deps=["signals", "context_graph", "em_team_wip"],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(EVIDENCE_CHECK, asset="statements", blocking=True),
            dg.AssetCheckSpec(CALIBRATION_CHECK, asset="statements"),
        ],
        description=(
            "One row per claim and day: facts read from the tools' records (confidence 1.0) and "
            "claims inferred along the context graph's calibrated links, each with its band, "
            "rendered sentence (pseudonyms only), evidence event ids and citation URLs."
        ),
    )
    def statements(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        landing: LandingResource,
        audit: AuditResource,
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        clock = time.perf_counter()
        with warehouse.connect() as con, recording_models() as models:
            # Models already fitted (same training window, data and settings) are loaded.
            store = st.ModelStore(con)
            frame, calibration = st.derive_with_calibration(con, start, end, models=store)
            derived = time.perf_counter() - clock
            st.write(con, frame, start, end)
            problems = st.evidence_problems(con, start, end)
            audited = append_statements_to_audit_log(
                con, frame, models, landing.store().root, audit
            )
        by_kind: dict[str, dict[str, int]] = {}
        for kind, band, n in frame.group_by("kind", "band").len().sort("kind", "band").iter_rows():
            by_kind.setdefault(kind, {})[band] = n
        latest = frame.filter(pl.col("as_of_date") == pl.col("as_of_date").max())
        preview = "\n".join(
            f"- {row['text']} · {row['band']} ({row['confidence']:.2f})"
            for row in latest.sort("confidence", "kind").head(15).iter_rows(named=True)
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": frame.height,
                "by_kind_and_band": dg.MetadataValue.json(by_kind),
                "new_claims": frame.filter(
                    pl.col("first_stated_on") == pl.col("as_of_date")
                ).height,
                "audit_entries_appended": audited,
                "models_loaded": len(store.loaded),
                "models_fitted": len(store.fitted),
                "models_refitted": dg.MetadataValue.json(store.refitted),
                "seconds": dg.MetadataValue.json(
                    {"derive": round(derived, 3), "total": round(time.perf_counter() - clock, 3)}
                ),
                "preview": dg.MetadataValue.md(preview or "_no statements in this window_"),
                **calibration_metadata(calibration),
            },
            check_results=[evidence_check(problems), calibration_check(calibration)],
        )

    return statements
