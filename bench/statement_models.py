"""Predicted statements out of time on simulated organisations large enough to judge them:
each trained on the first two thirds of its days, scored on the last third.

    .venv/bin/python bench/statement_models.py [--days 180] [--seeds 7 8 9 10 11 12 13]
                                               [--conventions demo|held_out] [--work DIR]
                                               [--kinds pr_will_stall sprint_at_risk ...]

For every seed it runs the pipeline up to ``statements`` (``flowsync demo`` with
``upstream_of``) for ``--days`` days into ``DIR/seed-<seed>-<days>d`` (reused when it is
already there; a temporary directory without ``--work``). One organisation of the simulator
holds ~6 pull requests a day and the sandboxes' ingestion grows faster than linearly with the
period, so the scored window's >= 2,000 outcomes come from several organisations (seeds), each
with its own model trained on its own history; their out-of-time predictions are pooled. Per
predicted kind it prints, per organisation and pooled: rows, independent outcomes, AUC, ECE
(with the level a calibrated model would show by chance), Brier; the pooled reliability table;
and per band the precision of the claims the kind would make (probability >= its minimum)
against the simulator's ground truth. Targets (issue 12): >= 2,000 outcomes in the scored
window, AUC >= 0.80, ECE <= 0.05.

``--jobs N`` simulates and scores N organisations at once (each in its own process).
``--tools jira linear`` configures only the trackers, which is all the plan kinds read (the
pipeline runs ~3 times faster); give a ``--start`` whose period ends before today, or cycles
and sprints still to come when the sandboxes are read are upcoming, not started.

``--kinds`` picks the predicted kinds (default: all four). ``sprint_at_risk``, ``epic_at_risk``
and ``incident_slow_to_restore`` are scored as the ``statements`` asset fits them: the same SQL
inputs (:func:`~flowsync_pipelines.statements.core.risk_inputs`), snapshots
(:func:`~flowsync_pipelines.statements.risk.plan_snapshots` /
:func:`~flowsync_pipelines.statements.risk.incident_snapshots`) and
``Snapshots.fit_before`` / ``report``, with the cutoff at two thirds of the period. Their
outcomes are plans and incidents (a sprint settles at its end date): an organisation ends ~50
sprints and ~8 epics a year, so their figures rest on far fewer outcomes than pull requests'.

``--conventions held_out`` simulates the organisations with the simulator's ``HELD_OUT``
conventions (habits no labelled set and no demo run had: other title and branch formats, keys
missing from ~15 % of ticketed pull requests, no members in ``flowsync.yaml``...), each model
still fitted on its own organisation's first two thirds and scored on its last third, as in
production: a check that the features and the calibration do not lean on the demo's habits.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import polars as pl

from flowsync_pipelines import warehouse
from flowsync_pipelines.bands import band
from flowsync_pipelines.simulator import DEMO, HELD_OUT, Conventions, build_world
from flowsync_pipelines.simulator.world import DEFAULT_START
from flowsync_pipelines.statements import StatementSettings, calibration_report, risk
from flowsync_pipelines.statements import predict as stall
from flowsync_pipelines.statements.core import prepare, risk_inputs

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


CONVENTIONS = {"demo": DEMO, "held_out": HELD_OUT}


def _home(
    work: Path,
    seed: int,
    days: int,
    conventions: Conventions,
    start: datetime | None = None,
    tools: list[str] | None = None,
) -> Path:
    # The demo's homes keep their old names (a --work directory from before is reused).
    suffix = "" if conventions.name == "demo" else f"-{conventions.name}"
    suffix += f"-from-{start.date().isoformat()}" if start else ""
    suffix += f"-{'-'.join(sorted(tools))}" if tools else ""
    home = work / f"seed-{seed}-{days}d{suffix}" / "home"
    if (home / "flowsync.duckdb").exists() and (home.parent / "done").exists():
        return home
    import dagster as dg

    from flowsync_pipelines.demo import run_demo

    shutil.rmtree(home.parent, ignore_errors=True)
    clock = time.perf_counter()
    run_demo(
        home=home,
        days=days,
        seed=seed,
        start=start,
        conventions=conventions,
        instance=dg.DagsterInstance.ephemeral(),
        upstream_of="statements",
        progress=lambda _: None,
        **({"tools": tools} if tools else {}),
    )
    (home.parent / "done").touch()
    print(f"seed {seed}: pipeline for {days} days in {time.perf_counter() - clock:.0f} s")
    return home


KINDS = ("pr_will_stall", "sprint_at_risk", "epic_at_risk", "incident_slow_to_restore")
RISK = {
    "sprint_at_risk": (risk.SprintSettings(), risk.SPRINT_FEATURES),
    "epic_at_risk": (risk.EpicSettings(), risk.SPRINT_FEATURES),
    "incident_slow_to_restore": (risk.IncidentSettings(), risk.INCIDENT_FEATURES),
}


def _organisation(
    home: Path,
    seed: int,
    days: int,
    conventions: Conventions,
    kinds: list[str],
    start: datetime | None = None,
) -> dict[str, dict]:
    """Per kind, one organisation's out-of-time predictions, outcomes, subjects and truth."""
    world = build_world(seed, days=days, conventions=conventions, start=start or DEFAULT_START)
    start, end = world.start.date(), world.end.date()
    cutoff = start + timedelta(days=(end - start).days * 2 // 3)
    truth = _truth_tool().truth_pairs(world)
    copy = home.parent / "bench.duckdb"
    shutil.copy(home / "flowsync.duckdb", copy)
    out = {}
    try:
        with warehouse.connect(copy) as con:
            params = prepare(con, start, end, StatementSettings())
            for kind in kinds:
                if kind == "pr_will_stall":
                    out[kind] = _pr_will_stall(con, params, start, end, cutoff)
                else:
                    out[kind] = _risk(con, params, kind, end, cutoff)
                real = {s for s, _ in truth[kind]}
                out[kind]["real"] = np.array([s in real for s in out[kind]["subjects"]])
                out[kind]["subjects"] = np.array([f"{seed}:{s}" for s in out[kind]["subjects"]])
    finally:
        copy.unlink()
    return out


def _one(
    work: Path,
    days: int,
    conventions: Conventions,
    kinds: list[str],
    start: datetime | None,
    tools: list[str] | None,
    seed: int,
) -> dict[str, dict]:
    """One organisation: its pipeline's home (built unless kept), then its predictions."""
    home = _home(work, seed, days, conventions, start, tools)
    return _organisation(home, seed, days, conventions, kinds, start)


def _pr_will_stall(con, params: dict, start, end, cutoff) -> dict:
    settings = stall.StallSettings()
    prs = warehouse.query(con, "statements_pr_stall_inputs", **params)
    reviews = warehouse.query(con, "statements_pr_stall_reviews", **params)
    hist = stall.history(prs, reviews, end, settings)
    model = hist.fit_before(cutoff, settings)
    mask = (hist.settled >= stall.midnight(cutoff).timestamp()) & (
        hist.settled < stall.midnight(end).timestamp()
    )
    return {
        "report": hist.report(model, cutoff, end),
        "training_rows": model.rows,
        "p": model.predict(hist.x[mask]),
        "y": hist.y[mask],
        "subjects": hist.seen.frame["entity_id"].to_numpy()[hist.index[mask]],
    }


def _risk(con, params: dict, kind: str, end, cutoff) -> dict:
    """A risk kind fitted and scored as the asset does: its snapshots, ``fit_before`` the
    cutoff, ``report`` on the outcomes settled from the cutoff to the end."""
    settings, features = RISK[kind]
    subjects, events = risk_inputs(con, kind, params)
    if kind == "incident_slow_to_restore":
        snaps = risk.incident_snapshots(subjects, events, end, settings)
    else:
        snaps = risk.plan_snapshots(subjects, events, end)
    model = snaps.fit_before(kind, cutoff, settings, features)
    mask = snaps.mask(cutoff, end)
    return {
        "report": snaps.report(kind, model, cutoff, end),
        "training_rows": model.rows,
        "training_outcomes": len(np.unique(snaps.subject[snaps.mask(None, cutoff)])),
        "model": model.kind,
        "p": model.predict(snaps.x[mask]),
        "y": snaps.y[mask],
        "subjects": subjects["entity_id"].to_numpy()[snaps.subject[mask]],
        **(
            {"elapsed": snaps.x[mask][:, features.index("elapsed_fraction")]}
            if "elapsed_fraction" in features
            else {}
        ),
    }


def _by_fifth(kind: str, p: np.ndarray, y: np.ndarray, elapsed: np.ndarray, window) -> str:
    """AUC over the snapshots in each fifth of their plan's time: how much a plan's first days
    tell, against its last ("-" where a fifth holds one class)."""
    out = []
    for lo in np.arange(0.0, 1.0, 0.2):
        m = (elapsed >= lo) & (elapsed < lo + 0.2)
        auc = calibration_report(kind, p[m], y[m], window, "fifth", "pooled").auc
        out.append("-" if auc is None else f"{auc:.2f}")
    return " ".join(out)


def _pooled(kind: str, orgs: list[dict], min_probability: float) -> None:
    """The pooled figures, the reliability table and per band the claims' precision."""
    p = np.concatenate([o["p"] for o in orgs])
    y = np.concatenate([o["y"] for o in orgs])
    subjects = np.concatenate([o["subjects"] for o in orgs])
    real = np.concatenate([o["real"] for o in orgs])
    if not len(p):
        print(f"{kind}: no outcome settled in any scored window")
        return
    pooled = calibration_report(
        kind, p, y, orgs[0]["report"].window, "per organisation", "pooled", subjects=subjects
    )
    print(
        f"{kind} pooled over {len(orgs)} organisations: rows {pooled.rows}, outcomes "
        f"{pooled.outcomes} (target >= 2000), positive rate {pooled.positive_rate}, AUC "
        f"{pooled.auc} (target >= 0.80), ECE {pooled.ece} (target <= 0.05; chance "
        f"{pooled.ece_noise}), Brier {pooled.brier}"
    )
    print(f"  labels agree with the simulator's ground truth on {np.mean(real == (y > 0)):.3f}")
    if all("elapsed" in o for o in orgs):
        elapsed = np.concatenate([o["elapsed"] for o in orgs])
        fifths = _by_fifth(kind, p, y, elapsed, orgs[0]["report"].window)
        print(f"  AUC by fifth of the plan's time elapsed: {fifths}")
    claims = pl.DataFrame({"confidence": p, "real": real, "subject": subjects}).filter(
        pl.col("confidence") >= min_probability
    )
    claims = claims.with_columns(
        pl.col("confidence").map_elements(band, return_dtype=pl.String).alias("band")
    )
    with pl.Config(tbl_rows=20, tbl_width_chars=160):
        print(pl.DataFrame(pooled.reliability))
        print(f"claims (snapshot rows with probability >= {min_probability}) against the truth:")
        print(
            claims.group_by("band")
            .agg(
                pl.len().alias("claims"),
                pl.col("subject").n_unique().alias("subjects"),
                pl.col("confidence").mean().round(3).alias("mean_confidence"),
                pl.col("real").mean().round(3).alias("precision"),
            )
            .sort("band")
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10, 11, 12, 13])
    parser.add_argument(
        "--conventions",
        choices=sorted(CONVENTIONS),
        default="demo",
        help="the simulated organisations' habits (held_out: those no training world had)",
    )
    parser.add_argument("--work", type=Path, help="keep (and reuse) the pipelines' homes here")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument(
        "--start",
        type=lambda v: datetime.fromisoformat(v).replace(tzinfo=UTC),
        help="first simulated day (default: the demo's); a period ending before today keeps "
        "every record fetched after it happened, as in production",
    )
    parser.add_argument(
        "--tools",
        nargs="+",
        help="configure only these sources (e.g. jira linear: the plan kinds read nothing else, "
        "and the pipeline runs ~3 times faster)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="organisations simulated and scored at once"
    )
    args = parser.parse_args(argv)
    if args.tools and set(args.kinds) - {"sprint_at_risk", "epic_at_risk"}:
        parser.error("--tools is for the plan kinds, which read only the trackers: add --kinds")
    work = args.work or Path(tempfile.mkdtemp(prefix="flowsync-statement-models-"))
    conventions = CONVENTIONS[args.conventions]
    print(f"conventions: {conventions.name}; seeds {args.seeds}; {args.days} days each")
    orgs: dict[str, list[dict]] = {kind: [] for kind in args.kinds}
    one = partial(_one, work, args.days, conventions, args.kinds, args.start, args.tools)
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(one, args.seeds))
    else:
        results = [one(seed) for seed in args.seeds]
    for seed, result in zip(args.seeds, results, strict=True):
        for kind, org in result.items():
            r = org["report"]
            fitted = (
                f" ({org['training_outcomes']} outcomes, {org['model']})" if "model" in org else ""
            )
            print(
                f"{kind} seed {seed}: trained on {org['training_rows']} snapshots{fitted} "
                f"settled before {r.window[0]}; scored {r.window[0]} … {r.window[1]}: rows "
                f"{r.rows}, outcomes {r.outcomes}, positive rate {r.positive_rate}, AUC {r.auc}, "
                f"ECE {r.ece} (chance {r.ece_noise}), Brier {r.brier}"
            )
            orgs[kind].append(org)
    for kind in args.kinds:
        minimum = (
            stall.StallSettings() if kind == "pr_will_stall" else RISK[kind][0]
        ).min_probability
        _pooled(kind, orgs[kind], minimum)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
