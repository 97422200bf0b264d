"""Predicted statements out of time on a simulated organisation large enough to judge them:
train on the first two thirds of the days, score the last third.

    .venv/bin/python bench/statement_models.py [--days 540] [--seed 7] [--home DIR]

Without ``--home`` it runs the pipeline up to ``statements`` (``flowsync demo`` with
``upstream_of``) for ``--days`` days into a temporary home; with one, it reads that home's
DuckDB file. Per predicted kind it prints the scored window's rows and independent outcomes,
AUC, ECE (with the level a calibrated model would show by chance), Brier, the reliability table,
and per band the precision of the claims the kind would make (probability >= its minimum)
against the simulator's ground truth. Targets (issue 12): >= 2,000 outcomes in the scored
window, AUC >= 0.80, ECE <= 0.05.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from flowsync_pipelines import warehouse
from flowsync_pipelines.graph.spec import band
from flowsync_pipelines.simulator import build_world
from flowsync_pipelines.statements import StatementSettings
from flowsync_pipelines.statements import predict as stall

REPO = Path(__file__).resolve().parent.parent


def _truth_tool():
    spec = importlib.util.spec_from_file_location(
        "statement_truth", REPO / "tools" / "statement_truth.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _pr_will_stall(con, world, settings: stall.StallSettings) -> None:
    start, end = world.start.date(), world.end.date()
    cutoff = start + timedelta(days=(end - start).days * 2 // 3)
    params = {"window_start": start, "window_end": end, **StatementSettings().sql_params()}
    warehouse.run_sql(con, "statements_schema")
    warehouse.run_sql(con, "statements_prepare", **params)
    prs = warehouse.query(con, "statements_pr_stall_inputs", **params)
    reviews = warehouse.query(con, "statements_pr_stall_reviews", **params)
    clock = time.perf_counter()
    hist = stall.history(prs, reviews, end, settings)
    model = hist.fit_before(cutoff, settings)
    report = hist.report(model, cutoff, end)
    seconds = time.perf_counter() - clock
    print(
        f"pr_will_stall: trained on outcomes settled before {cutoff} ({model.rows} snapshots, "
        f"model {model.kind} {model.version}); scored {report.window[0]} … {report.window[1]} "
        f"in {seconds:.1f} s"
    )
    print(
        f"  rows {report.rows}, outcomes {report.outcomes} (target >= 2000), positive rate "
        f"{report.positive_rate}, AUC {report.auc} (target >= 0.80), ECE {report.ece} "
        f"(target <= 0.05; chance level {report.ece_noise}), Brier {report.brier}"
    )
    print(pl.DataFrame(report.reliability))
    # The claims the kind would make in the scored window, against the simulator's truth.
    mask = (hist.settled >= stall._midnight(cutoff).timestamp()) & (
        hist.settled < stall._midnight(end).timestamp()
    )
    probs = model.predict(hist.x[mask])
    subjects = hist.seen.frame["entity_id"].to_numpy()[hist.index[mask]]
    truth = {s for s, _ in _truth_tool().truth_pairs(world)["pr_will_stall"]}
    claims = pl.DataFrame(
        {
            "confidence": probs,
            "real": [s in truth for s in subjects],
        }
    ).filter(pl.col("confidence") >= settings.min_probability)
    claims = claims.with_columns(
        pl.col("confidence").map_elements(band, return_dtype=pl.String).alias("band")
    )
    label_agreement = float(np.mean(np.isin(subjects, list(truth)) == (hist.y[mask] > 0)))
    print(f"  stall labels agree with the simulator's ground truth on {label_agreement:.3f}")
    print(
        claims.group_by("band")
        .agg(
            pl.len().alias("claims"),
            pl.col("confidence").mean().round(3).alias("mean_confidence"),
            pl.col("real").mean().round(3).alias("precision"),
        )
        .sort("band")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--home", type=Path, help="a FlowSync home the pipeline already ran in")
    args = parser.parse_args(argv)
    world = build_world(args.seed, days=args.days)
    work = Path(tempfile.mkdtemp(prefix="flowsync-statement-models-"))
    if args.home is None:
        import dagster as dg

        from flowsync_pipelines.demo import run_demo

        clock = time.perf_counter()
        run_demo(
            home=work / "home",
            days=args.days,
            seed=args.seed,
            instance=dg.DagsterInstance.ephemeral(),
            upstream_of="statements",
            progress=lambda _: None,
        )
        print(f"pipeline for {args.days} days: {time.perf_counter() - clock:.0f} s")
        source = work / "home" / "flowsync.duckdb"
    else:
        source = args.home / "flowsync.duckdb"
    copy = work / "bench.duckdb"
    shutil.copy(source, copy)
    with pl.Config(tbl_rows=20, tbl_width_chars=160), warehouse.connect(copy) as con:
        _pr_will_stall(con, world, stall.StallSettings())
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
