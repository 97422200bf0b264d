"""Statements for the demo's 60 days: runtime, and precision per kind and band against the
simulator's ground truth.

    .venv/bin/python bench/statements_runtime.py [--home DIR]

Without ``--home`` it first runs the demo (``flowsync demo``) into a temporary home; with one,
it reads that home's DuckDB file (a copy: the original is left as it was). Target: < 30 s.
The first derivation starts from an empty model store (every model fitted and stored), the
re-run loads them all (``models fitted`` must be 0 there).
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

import polars as pl

from flowsync_pipelines import statements as st
from flowsync_pipelines import warehouse
from flowsync_pipelines.simulator import build_world

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, help="a FlowSync home the demo already ran in")
    args = parser.parse_args(argv)
    world = build_world()
    work = Path(tempfile.mkdtemp(prefix="flowsync-statements-bench-"))
    if args.home is None:
        import dagster as dg

        from flowsync_pipelines.demo import run_demo

        run_demo(home=work / "home", instance=dg.DagsterInstance.ephemeral())
        source = work / "home" / "flowsync.duckdb"
    else:
        source = args.home / "flowsync.duckdb"
    copy = work / "bench.duckdb"
    shutil.copy(source, copy)
    start, end = world.start.date(), world.end.date()
    with warehouse.connect(copy) as con:
        fitting = st.ModelStore(con)
        con.execute("DELETE FROM statement_models")  # the demo's run stored its models
        clock = time.perf_counter()
        frame, reports = st.derive_with_calibration(con, start, end, models=fitting)
        derived = time.perf_counter() - clock
        st.write(con, frame, start, end)
        total = time.perf_counter() - clock
        loading = st.ModelStore(con)
        clock = time.perf_counter()
        again = st.derive(con, start, end, models=loading)
        st.write(con, again, start, end)
        rerun = time.perf_counter() - clock
    days = (end - start).days
    print(f"statements: {frame.height} rows for {days} days ({start} … {end - timedelta(days=1)})")
    print(
        f"derive {derived:.2f} s, derive + write {total:.2f} s (models fitted "
        f"{len(fitting.fitted)}, loaded {len(fitting.loaded)}); re-run {rerun:.2f} s (models "
        f"fitted {len(loading.fitted)}, loaded {len(loading.loaded)}; statements identical: "
        f"{again.equals(frame)}) (target < 30 s)"
    )
    with pl.Config(tbl_rows=60, tbl_width_chars=160):
        print(frame.group_by("kind", "band").len().sort("kind", "band"))
        print("precision against ground truth (distinct claims, highest band reached):")
        print(_truth_tool().precision_table(frame, world))
        tool = _truth_tool()
        unknown = tool.unknown_outcomes(world)
        for kind in ("pr_will_stall", "sprint_at_risk", "epic_at_risk", "incident_slow_to_restore"):
            table, ece = tool.reliability(frame, world, kind)
            subjects = frame.filter(
                (pl.col("kind") == kind) & ~pl.col("subject_id").is_in(list(unknown.get(kind, ())))
            )["subject_id"].n_unique()
            print(
                f"{kind} reliability over statement rows (ECE {ece:.3f}; the rows rest on "
                f"{subjects} subjects whose outcome the period settles):"
            )
            print(table)
        truth = world.ground_truth()
        for plan in ("sprints", "epics"):
            settled = [p for p in truth[plan] if p["missed"] is not None]
            print(
                f"ground truth {plan}: {len(truth[plan])}, settled {len(settled)}, missed "
                f"{sum(p['missed'] for p in settled)}"
            )
        for report in reports:
            figures = report.as_metadata()
            reliability = figures.pop("reliability")
            print(f"{report.kind} latest out-of-time window: {figures}")
            print(pl.DataFrame(reliability))
            print(f"statement_calibration: {st.verdict(reports).status}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
