"""Role views for the demo's 60 days, and each README SQL example on them.

    .venv/bin/python bench/role_views.py [--home DIR]

Without ``--home`` it first runs the demo (``flowsync demo``) into a temporary home; with one,
it reads that home's DuckDB file (a copy: the original is left as it was). Targets: all role
views for the 60 days < 10 s; each README example < 100 ms (median of 5 runs, read-only
connection as `flowsync sql` opens it).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from flowsync_pipelines import role_views as rv
from flowsync_pipelines import warehouse
from flowsync_pipelines.simulator import build_world

REPO = Path(__file__).resolve().parent.parent
COMPARED = (
    ("deployments", "deployments"),
    ("changes", "changes"),
    ("lead_time_p50_hours", "lead_time_p50_hours"),
    ("lead_time_p90_hours", "lead_time_p90_hours"),
    ("change_failures_expected", "change_failures"),
    ("incidents_restored", "incidents_restored"),
    ("recovery_time_p50_hours", "recovery_time_p50_hours"),
    ("rework_deployments_expected", "rework_deployments"),
)


def _dora_truth():
    spec = importlib.util.spec_from_file_location("dora_truth", REPO / "tools" / "dora_truth.py")
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
    work = Path(tempfile.mkdtemp(prefix="flowsync-role-views-bench-"))
    if args.home is None:
        from flowsync_pipelines.demo import run_demo

        run_demo(home=work / "home")
        source = work / "home" / "flowsync.duckdb"
    else:
        source = args.home / "flowsync.duckdb"
    copy = work / "bench.duckdb"
    shutil.copy(source, copy)
    start, end = world.start.date(), world.end.date()
    with warehouse.connect(copy) as con:
        clock = time.perf_counter()
        counts = rv.build(con, start, end)
        first = time.perf_counter() - clock
        clock = time.perf_counter()
        rv.build(con, start, end)
        rerun = time.perf_counter() - clock
    print(f"role views for {(end - start).days} days ({start} … {end}): {counts}")
    print(f"build {first:.2f} s, re-run {rerun:.2f} s (target < 10 s)")
    worst = 0.0
    with warehouse.connect(copy, read_only=True) as con:
        for view, sql in rv.readme_examples(REPO / "README.md").items():
            times, rows = [], 0
            for _ in range(5):
                clock = time.perf_counter()
                rows = len(con.execute(sql).fetchall())
                times.append(time.perf_counter() - clock)
            median = statistics.median(times) * 1000
            worst = max(worst, median)
            print(f"  README example {view:<18} {rows:>4} rows  {median:6.1f} ms")
        print(f"slowest README example {worst:.1f} ms (target < 100 ms)")
        cursor = con.execute(
            "SELECT * FROM dora WHERE service = 'all' AND window_days = 84 AND as_of_date = ?",
            [end - timedelta(days=1)],
        )
        names = [d[0] for d in cursor.description]
        stored = {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    print("DORA over the whole period per team: FlowSync / ground truth")
    for team, real in _dora_truth().per_team(world).items():
        cells = []
        for ours, theirs in COMPARED:
            a, b = stored[team][ours], real[theirs]
            cells.append(f"{theirs} {_fmt(a)}/{_fmt(b)}")
        print(f"  {team:<9} " + ", ".join(cells))
    shutil.rmtree(work, ignore_errors=True)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


if __name__ == "__main__":
    main()
