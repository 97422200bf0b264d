"""Calibration of the context graph's links where it matters: on organisations not trained on.

    .venv/bin/python bench/link_calibration.py [--days 60] [--held-out-seed 301]

Runs the pipeline for (a) the demo organisation (seed 7, the demo's conventions) and (b) an
organisation with the held-out conventions (``simulator.conventions.HELD_OUT``: key formats,
Sentry project names and incident habits that no training world had, and no members in
``flowsync.yaml``), builds the graph with the shipped models and prints, per link type, the band
report (precision, recall at or above each band) and the reliability table (per tenth of
confidence: links, mean confidence, measured precision), plus identity precision and recall.
Also the time the identity and linking steps took.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flowsync_pipelines.graph.calibrate import fitted_models  # noqa: E402
from flowsync_pipelines.graph.spec import LINK_TYPES  # noqa: E402
from flowsync_pipelines.simulator.conventions import DEMO, HELD_OUT  # noqa: E402


def _tool():
    spec = importlib.util.spec_from_file_location("link_labels", REPO / "tools/link_labels.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def report(name: str, seed: int, conventions: object, days: int) -> None:
    tool = _tool()
    models = fitted_models(LINK_TYPES)
    with tempfile.TemporaryDirectory(prefix=f"flowsync-calibration-{seed}-") as tmp:
        home = Path(tmp) / "home"
        started = time.perf_counter()
        world, key = tool.run_world(seed, home, conventions, days=days)
        pipeline_s = time.perf_counter() - started
        started = time.perf_counter()
        graph, truth = tool.graph_and_truth(home, key, world, models)
        link_s = time.perf_counter() - started
        identity = tool.identity_report(home, world, key)
    print(f"\n=== {name} (seed {seed}, {days} days) ===")
    print(f"pipeline to identities {pipeline_s:.1f} s; graph build (linking) {link_s:.1f} s")
    print(f"identities: {identity}")
    for link in LINK_TYPES:
        print(f"\n{link.name}")
        print(truth.report(graph, link.name))
        print(truth.reliability(graph, link.name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--held-out-seed", type=int, default=301)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    pl.Config.set_tbl_rows(40)
    pl.Config.set_tbl_width_chars(140)
    if not args.skip_demo:
        report("demo organisation", 7, DEMO, args.days)
    report("held-out conventions", args.held_out_seed, HELD_OUT, args.days)


if __name__ == "__main__":
    main()
