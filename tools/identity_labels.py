"""Labelled account pairs for the identity model, and its evaluation on a simulated organisation.

    python tools/identity_labels.py derive [--seeds 11 13 17 19] [--homes DIR]
        writes flowsync_pipelines/identity/labels/pairs.csv
    python tools/identity_labels.py evaluate [--seed 7] [--homes DIR]
        precision/recall with no members configured, polled and webhook-only views

``derive`` runs the whole demo pipeline (sandboxes, connectors, normalisers) for simulated
organisations whose seeds differ from the demo's (7), reads the accounts the tools report
(every landed record re-normalised: no ``flowsync.yaml`` member rows) and the co-activity in
DuckDB, computes every candidate pair's features with the pipeline's own code, in two views
(``polled``; ``logins_only``, as webhook deliveries show accounts), and labels each pair from
that organisation's ground truth. ``--homes DIR`` keeps (and reuses) each seed's run under
``DIR/seed-<n>`` instead of a temporary directory.

Re-derive the labels when a normaliser that feeds identity evidence changes, or the evidence
features do (``evidence.FEATURES``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flowsync_pipelines import warehouse  # noqa: E402
from flowsync_pipelines.demo import run_demo  # noqa: E402
from flowsync_pipelines.identity import (  # noqa: E402
    coactivity,
    evaluate_identities,
    fitted_model,
    pair_features,
    resolve_identities,
    webhook_view,
)
from flowsync_pipelines.identity.calibrate import LABELS_FILE, fit  # noqa: E402
from flowsync_pipelines.identity.evaluate import label_pairs  # noqa: E402
from flowsync_pipelines.identity.evidence import FEATURES  # noqa: E402
from flowsync_pipelines.identity.synthetic import population  # noqa: E402
from flowsync_pipelines.landing import LandingStore  # noqa: E402
from flowsync_pipelines.normalise import normalise  # noqa: E402
from flowsync_pipelines.simulator import World, build_world  # noqa: E402

VIEWS = ("polled", "logins_only")
# People in the synthetic crowd labelled next to each organisation (namesakes, look-alikes).
CROWD = 600


def run_world(seed: int, home: Path) -> tuple[World, str]:
    """Run the demo pipeline for ``seed`` into ``home`` (unless already there)."""
    world = build_world(seed=seed)
    if not (home / "flowsync.duckdb").exists():
        run_demo(home, seed=seed, instance=dg.DagsterInstance.ephemeral(), progress=lambda _: None)
    key = next(
        line.split("=", 1)[1]
        for line in (home / "secrets.env").read_text().splitlines()
        if line.startswith("FLOWSYNC_PSEUDONYM_KEY=")
    )
    return world, key


def tool_evidence(home: Path, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The accounts the tools report (no configured members) and the co-activity in DuckDB."""
    landed = LandingStore(home / "landing").scan().collect()
    accounts = normalise(landed, pseudonym_key=key).accounts
    with warehouse.connect(home / "flowsync.duckdb", read_only=True) as con:
        coact = coactivity(con)
    return accounts, coact


def view(accounts: pl.DataFrame, name: str) -> pl.DataFrame:
    return webhook_view(accounts) if name == "logins_only" else accounts


def derive(seeds: list[int], homes: Path, out: Path) -> None:
    frames = []
    for seed in seeds:
        world, key = run_world(seed, homes / f"seed-{seed}")
        accounts, coact = tool_evidence(homes / f"seed-{seed}", key)
        for name in VIEWS:
            pairs = label_pairs(pair_features(view(accounts, name), coact), world, key)
            frames.append(
                pairs.with_columns(pl.lit(seed).alias("seed"), pl.lit(name).alias("view"))
            )
            print(f"seed {seed} {name}: {pairs.height} pairs, {pairs['label'].sum()} true")
        crowd, truth = population(CROWD, seed=seed)
        pairs = pair_features(crowd)
        persons = pl.DataFrame(
            list(truth.items()), schema={"pseudonym": pl.String, "person": pl.String}, orient="row"
        )
        pairs = (
            pairs.join(persons.rename({"pseudonym": "left", "person": "pl"}), on="left")
            .join(persons.rename({"pseudonym": "right", "person": "pr"}), on="right")
            .with_columns((pl.col("pl") == pl.col("pr")).cast(pl.Int32).alias("label"))
        )
        frames.append(pairs.with_columns(pl.lit(seed).alias("seed"), pl.lit("crowd").alias("view")))
        print(f"seed {seed} crowd: {pairs.height} pairs, {pairs['label'].sum()} true")
    labelled = pl.concat(frames, how="diagonal_relaxed").select("seed", "view", *FEATURES, "label")
    labelled = labelled.sort(labelled.columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    labelled.write_csv(out, float_precision=4)
    print(f"wrote {labelled.height} labelled pairs to {out}")
    print(json.dumps(fit(labelled).report, indent=2))


def evaluate(seed: int, homes: Path) -> None:
    world, key = run_world(seed, homes / f"seed-{seed}")
    accounts, coact = tool_evidence(homes / f"seed-{seed}", key)
    print("model (leave one organisation out):", json.dumps(fitted_model().report["overall"]))
    for name in VIEWS:
        started = time.perf_counter()
        links = resolve_identities(
            view(accounts, name), overrides=None, key=key, members=[], coactivity=coact
        )
        seconds = time.perf_counter() - started
        result = evaluate_identities(world, links, key=key)
        print(
            f"seed {seed} {name}, no members: precision {result['precision']:.4f} recall "
            f"{result['recall']:.4f} ({result['correct_pairs']}/{result['predicted_pairs']} "
            f"predicted, {result['true_pairs']} true; {result['accounts']} accounts) "
            f"in {seconds:.2f} s; methods {result['accounts_by_method']}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="write labels/pairs.csv from other seeds")
    d.add_argument("--seeds", type=int, nargs="+", default=[11, 13, 17, 19])
    d.add_argument("--homes", type=Path, default=None)
    d.add_argument("--out", type=Path, default=LABELS_FILE)
    e = sub.add_parser("evaluate", help="precision/recall against ground truth, no members")
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--homes", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "derive" and 7 in args.seeds:
        parser.error("seed 7 is the demo organisation the model is evaluated on")
    with tempfile.TemporaryDirectory(prefix="flowsync-identity-") as tmp:
        homes = args.homes or Path(tmp)
        if args.command == "derive":
            derive(args.seeds, homes, args.out)
        else:
            evaluate(args.seed, homes)


if __name__ == "__main__":
    main()
