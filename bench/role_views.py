"""Role views for the demo's 60 days, and each README SQL example on them.

    .venv/bin/python bench/role_views.py [--home DIR]

Without ``--home`` it first runs the demo (``flowsync demo``) into a temporary home; with one,
it reads that home's DuckDB file (a copy: the original is left as it was). Targets: all role
views for the 60 days < 10 s; each README example < 100 ms (median of 5 runs, read-only
connection as `flowsync sql` opens it).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from flowsync_pipelines import role_views as rv
from flowsync_pipelines import warehouse
from flowsync_pipelines.simulator import build_world

REPO = Path(__file__).resolve().parent.parent


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
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
