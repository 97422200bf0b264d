"""Labelled link sets for the context graph's confidence models, and their evaluation.

    python tools/link_labels.py derive                    writes flowsync_pipelines/graph/labels/
    python tools/link_labels.py evaluate [--seed 7] [--held-out]
                                                          precision/recall by band per link type

``derive`` runs the demo pipeline (sandboxes, connectors, normalisers) for simulated
organisations that differ in their conventions (:data:`TRAINING_WORLDS`, drawn by
``sample_conventions``) and for organisations with the held-out conventions
(:data:`HELD_OUT_WORLDS`), computes every link type's candidates and features with the
pipeline's own linking code, labels each candidate from that organisation's ground truth, and
writes ``labels/<link_type>.parquet`` (training) and ``labels/held_out/<link_type>.parquet`` (scored
only). The pipeline fits its calibrated models on these files and never reads ground truth
itself. Link types depend on earlier ones (``pr_ticket`` reads ``commit_pr`` links), so each
type's model is fitted on the training labels before the next type's features are computed.

``evaluate`` runs one organisation (the demo, seed 7, unless told otherwise) with the shipped
models and prints, per link type, precision and recall by confidence band against its truth.

Re-derive the labels when a normaliser that feeds a link type's features lands or changes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flowsync_pipelines import warehouse  # noqa: E402
from flowsync_pipelines.bands import band_expr  # noqa: E402
from flowsync_pipelines.demo import run_demo  # noqa: E402
from flowsync_pipelines.graph.calibrate import (  # noqa: E402
    LABELS_DIR,
    LinkModel,
    band_report,
    fit,
    fit_all,
)
from flowsync_pipelines.graph.inputs import jira_issue_records, load_inputs  # noqa: E402
from flowsync_pipelines.graph.linking import (  # noqa: E402
    ContextGraph,
    build_graph,
    keep,
    prepare,
    propose,
)
from flowsync_pipelines.graph.spec import LINK_TYPES, LinkType  # noqa: E402
from flowsync_pipelines.identity import evaluate_identities  # noqa: E402
from flowsync_pipelines.landing import LandingStore  # noqa: E402
from flowsync_pipelines.pseudonym import pseudonym  # noqa: E402
from flowsync_pipelines.settings import load_config  # noqa: E402
from flowsync_pipelines.simulator import World, build_world  # noqa: E402
from flowsync_pipelines.simulator.conventions import (  # noqa: E402
    DEMO,
    HELD_OUT,
    Conventions,
    sample_conventions,
)
from flowsync_pipelines.warehouse import query  # noqa: E402

KEY_COLUMNS = ("src", "dst")


# --- running a simulated organisation through the pipeline ------------------------------------


def _run_key(home: Path) -> str:
    return next(
        line.split("=", 1)[1]
        for line in (home / "secrets.env").read_text().splitlines()
        if line.startswith("FLOWSYNC_PSEUDONYM_KEY=")
    )


def run_world(
    seed: int, home: Path, conventions: Conventions = DEMO, *, days: int = 60
) -> tuple[World, str]:
    """Run the demo pipeline (up to the graph) for ``seed`` with ``conventions`` into ``home``;
    returns the world and the run's pseudonym key."""
    world = build_world(seed=seed, conventions=conventions, days=days)
    run_demo(
        home,
        seed=seed,
        days=days,
        conventions=conventions,
        instance=dg.DagsterInstance.ephemeral(),
        progress=lambda _: None,
        upstream_of="context_graph",
    )
    return world, _run_key(home)


# --- ground truth, in the graph's node ids ----------------------------------------------------


def _trailing_id(node_id: str) -> str:
    match = re.search(r"(\d+)$", node_id)
    return match.group(1) if match else ""


@dataclass
class Truth:
    """The real links per link type as (src, dst) node ids, and which sources truth covers."""

    links: dict[str, pl.DataFrame]
    # Link types whose truth covers only some source nodes (people whose accounts the simulator
    # can name); predicted links from other sources are left out of the evaluation.
    sources: dict[str, set[str]]

    def predicted(self, graph: ContextGraph, link_type: str) -> pl.DataFrame:
        """The graph's links of one type among the sources truth covers, with ``real``."""
        predicted = graph.links(link_type)
        if link_type in self.sources:
            predicted = predicted.filter(pl.col("src").is_in(list(self.sources[link_type])))
        real = self.links[link_type].select("src", "dst").unique()
        return predicted.join(
            real.with_columns(pl.lit(True).alias("real")), on=["src", "dst"], how="left"
        ).with_columns(pl.col("real").fill_null(False))

    def report(self, graph: ContextGraph, link_type: str) -> pl.DataFrame:
        return band_report(self.predicted(graph, link_type), self.links[link_type])

    def reliability(self, graph: ContextGraph, link_type: str) -> pl.DataFrame:
        """Per band and per tenth of confidence: links, mean confidence, measured precision."""
        predicted = self.predicted(graph, link_type)
        return (
            predicted.with_columns(
                band_expr().alias("band"),
                (pl.col("confidence") * 10).floor().clip(0, 9).truediv(10).alias("bin"),
            )
            .group_by("band", "bin")
            .agg(
                pl.len().alias("links"),
                pl.col("confidence").mean().round(3).alias("mean_confidence"),
                pl.col("real").mean().round(3).alias("precision"),
            )
            .sort("bin", descending=True)
        )

    def band_gaps(self, graph: ContextGraph, link_type: str) -> pl.DataFrame:
        """Per band: links, mean confidence, measured precision and their gap."""
        return (
            self.predicted(graph, link_type)
            .with_columns(band_expr().alias("band"))
            .group_by("band")
            .agg(
                pl.len().alias("links"),
                pl.col("confidence").mean().alias("mean_confidence"),
                pl.col("real").mean().alias("precision"),
            )
            .with_columns((pl.col("mean_confidence") - pl.col("precision")).abs().alias("gap"))
            .sort("band")
        )


def truth_links(
    world: World, key: str, nodes: pl.DataFrame, actor_person: pl.DataFrame, ci_jobs: dict
) -> Truth:
    """Ground truth mapped onto the graph's node ids, among the entities the graph saw.

    Args:
        world: the simulated organisation.
        key: the pseudonymisation key of the run (to recognise people's accounts).
        nodes: the graph's ``node_id`` and ``kind`` (incident and design-comment ids are matched
            by their tool id; truth is kept for the sources seen).
        actor_person: accounts to persons, as the linker used them.
        ci_jobs: GitLab CI job entity id -> its pipeline id (the simulator's CI run).
    """
    truth = world.ground_truth()
    tl = world.timeline
    prs = {p.key: p for p in tl.pulls}

    def pr_node(p: Any) -> str:
        return f"pull_request:{p.repo}{'!' if p.host == 'gitlab' else '#'}{p.number}"

    out: dict[str, list[tuple[str, str]]] = {name: [] for name in (lt.name for lt in LINK_TYPES)}
    for p in tl.pulls:
        if p.ticket_key:
            out["pr_ticket"].append((pr_node(p), f"ticket:{p.ticket_key}"))
        for push in p.pushes:
            for c in push.commits:
                out["commit_pr"].append((f"commit:{p.repo}@{c.sha}", pr_node(p)))
        if p.merge_commit is not None:
            out["commit_pr"].append((f"commit:{p.repo}@{p.merge_commit.sha}", pr_node(p)))
    runs: dict[tuple[str, str], Any] = {(r.system, str(r.id)): r for r in tl.ci_runs}
    nodes_of_run: dict[int, list[str]] = {}
    for run in tl.ci_runs:
        if run.system == "actions":
            nodes_of_run[id(run)] = [f"ci_run:{run.repo}/actions/runs/{run.id}"]
        elif run.system == "jenkins":
            nodes_of_run[id(run)] = [f"ci_run:jenkins:{run.job}#{run.number}"]
        elif run.system == "gitlab":
            nodes_of_run[id(run)] = [f"ci_run:{run.repo}/pipelines/{run.id}"]
    for job, pipeline in ci_jobs.items():
        run = runs.get(("gitlab", str(pipeline)))
        if run is not None:
            nodes_of_run.setdefault(id(run), []).append(f"ci_run:{job}")
    for run in tl.ci_runs:
        for node in nodes_of_run.get(id(run), []):
            out["ci_commit"].append((node, f"commit:{run.repo}@{run.sha}"))
            if run.pr_key:
                out["ci_pr"].append((node, pr_node(prs[run.pr_key])))
    # GitHub check runs: a third-party app checks each commit pushed to the default branch, i.e.
    # each merge, which (like the Actions run of that push) is about the pull request it merged.
    for repo in world.github_repos():
        for commit in tl.main_commits.get(repo, []):
            for check in world.github_check_runs(repo, commit.sha, world.end):
                node = f"ci_run:{repo}/check-runs/{check['id']}"
                out["ci_commit"].append((node, f"commit:{repo}@{commit.sha}"))
                if commit.pr_key in prs:
                    out["ci_pr"].append((node, pr_node(prs[commit.pr_key])))
    for dep in truth["deployments"]:
        node = f"deployment:{dep['repo']}/deployments/{dep['deployment_id']}"
        out["deployment_commit"] += [
            (node, f"commit:{dep['repo']}@{s}") for s in dep["shipped_shas"]
        ]
    incidents = {
        _trailing_id(n): n for n in nodes.filter(pl.col("kind") == "incident").get_column("node_id")
    }
    for cause in truth["incident_causes"]:
        dep = cause["cause_deployment"]
        if dep and cause["sentry_issue_id"] in incidents:
            out["incident_deployment"].append(
                (
                    f"deployment:{dep['repo']}/deployments/{dep['deployment_id']}",
                    incidents[cause["sentry_issue_id"]],
                )
            )
    comments = {
        _trailing_id(n): n
        for n in nodes.filter(pl.col("kind") == "design_comment").get_column("node_id")
    }
    for comment_id, ticket_key in truth["design_comment_links"].items():
        if ticket_key and comment_id in comments:
            out["design_ticket"].append((comments[comment_id], f"ticket:{ticket_key}"))
    person_of = dict(actor_person.select("actor", "person").iter_rows())
    known_people: set[str] = set()
    for person in world.organisation.people:
        actors = [pseudonym(key, tool, h) for tool, h in person.accounts.items() if h]
        actors += [pseudonym(key, "email", e) for e in person.emails]
        for actor in actors:
            node = person_of.get(actor, actor)
            known_people.add(node)
            if person.team:
                out["person_team"].append((node, f"team:{person.team}"))
    for ticket in tl.tickets:
        if ticket.parent_key:
            parent = (
                f"ticket:{ticket.parent_key}"
                if ticket.tracker == "jira"
                else f"epic:project/{ticket.parent_key}"
            )
            out["ticket_epic"].append((f"ticket:{ticket.key}", parent))
        for sprint_id in ticket.value_at("sprint", world.end, None) or ():
            out["ticket_sprint"].append((f"ticket:{ticket.key}", f"sprint:sprint/{sprint_id}"))
    seen = set(nodes.get_column("node_id").to_list())
    links = {
        # Typed even when a link type has no truth (no Figma, no GitLab CI): joins need String.
        name: pl.DataFrame(pairs, schema={"src": pl.String, "dst": pl.String}, orient="row")
        .unique()
        .filter(pl.col("src").is_in(list(seen)))
        for name, pairs in out.items()
    }
    return Truth(links=links, sources={"person_team": known_people})


def gitlab_ci_jobs(con: Any) -> dict[str, str]:
    """GitLab CI job entity id -> pipeline id, from signals."""
    rows = con.execute(
        "SELECT DISTINCT entity_id, attributes->>'pipeline_id' FROM signals "
        "WHERE entity_type = 'ci_run' AND source = 'gitlab' "
        "AND (attributes->>'pipeline_id') IS NOT NULL"
    ).fetchall()
    return dict(rows)


# --- derive and evaluate ------------------------------------------------------------------------


def _labelled(candidates: pl.DataFrame, truth: Truth, link: LinkType, world: str) -> pl.DataFrame:
    if link.name in truth.sources:
        candidates = candidates.filter(pl.col("src").is_in(list(truth.sources[link.name])))
    real = truth.links[link.name].with_columns(pl.lit(1).alias("label"))
    return (
        candidates.join(real, on=list(KEY_COLUMNS), how="left")
        .with_columns(pl.col("label").fill_null(0), pl.lit(world).alias("world"))
        .drop("evidence", "confidence", strict=False)
    )


@dataclass(frozen=True)
class WorldSpec:
    """A simulated organisation labels come from: a seed, its conventions, how many days."""

    name: str
    seed: int
    conventions: Conventions
    days: int = 45


# Training worlds: organisations whose habits are drawn at random (never the held-out values),
# plus two with the demo's habits (they are one way to work among many). The demo itself (seed
# 7) is never trained on.
def _sampled(seed: int) -> WorldSpec:
    rng = random.Random(seed)
    conventions = sample_conventions(rng)
    # Half the sampled organisations see many incidents that first fire after a later,
    # unrelated deploy: rare in most worlds, they would otherwise be learnt as "never".
    if seed % 2:
        conventions = dataclasses.replace(conventions, late_manifest_share=rng.uniform(0.2, 0.5))
    return WorldSpec(f"sampled-{seed}", seed, conventions)


TRAINING_WORLDS = (
    *(_sampled(seed) for seed in range(101, 117)),
    WorldSpec("demo-habits-11", 11, DEMO),
    WorldSpec("demo-habits-13", 13, DEMO),
)
# Organisations with the held-out conventions: only ever scored.
HELD_OUT_WORLDS = (
    WorldSpec("held-out-201", 201, HELD_OUT),
    WorldSpec("held-out-202", 202, HELD_OUT),
)


@dataclass
class _Run:
    spec: WorldSpec
    world: World
    key: str
    con: Any
    truth: Truth


def _open(spec: WorldSpec, home: Path, stack: contextlib.ExitStack) -> _Run:
    if (home / "flowsync.duckdb").exists():  # a kept run of the same world (--homes)
        world = build_world(seed=spec.seed, conventions=spec.conventions, days=spec.days)
        key = _run_key(home)
    else:
        world, key = run_world(spec.seed, home, spec.conventions, days=spec.days)
    config = load_config(home / "flowsync.yaml")
    con = stack.enter_context(warehouse.connect(home / "flowsync.duckdb"))
    landing = LandingStore(home / "landing")
    issues = jira_issue_records(landing, config)
    inputs = load_inputs(con, config, key, jira_issues=issues)
    prepare(con, inputs)
    nodes = query(con, "graph_entity_nodes").select("node_id", "kind")
    truth = truth_links(world, key, nodes, inputs.actor_person, gitlab_ci_jobs(con))
    return _Run(spec, world, key, con, truth)


def derive(
    worlds: tuple[WorldSpec, ...],
    held_out: tuple[WorldSpec, ...],
    out: Path,
    homes: Path | None = None,
) -> None:
    """Label every candidate of every link type in ``worlds`` (and ``held_out``, written to
    ``out/held_out``), fitting each type on the training worlds before the next type's
    candidates are proposed (they read the earlier types' links). With ``homes``, each world's
    pipeline run is kept there and reused by the next derive (valid while the simulator,
    connectors and normalisers are unchanged: only the linking code then differs)."""
    with (
        tempfile.TemporaryDirectory(prefix="flowsync-labels-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        tmp = homes or Path(scratch)
        runs = []
        for spec in (*worlds, *held_out):
            started = time.perf_counter()
            runs.append(_open(spec, Path(tmp) / spec.name, stack))
            print(f"{spec.name}: pipeline ran in {time.perf_counter() - started:.0f} s", flush=True)
        training = [r for r in runs if r.spec in worlds]
        for link in LINK_TYPES:
            candidates = {r.spec.name: propose(r.con, link) for r in runs}
            frames = {
                r.spec.name: _labelled(candidates[r.spec.name], r.truth, link, r.spec.name)
                for r in runs
            }
            frame = pl.concat([frames[r.spec.name] for r in training], how="diagonal_relaxed")
            if link.unseen_by_webhooks:
                # The same organisations as webhook-only sources would show them.
                frame = pl.concat(
                    [
                        frame,
                        frame.with_columns(
                            *(pl.lit(0.0).alias(f) for f in link.unseen_by_webhooks),
                            (pl.col("world") + "/webhooks").alias("world"),
                        ),
                    ]
                )
            model = fit(link, frame)
            for r in runs:
                scored = candidates[r.spec.name].with_columns(
                    pl.Series("confidence", model.predict(candidates[r.spec.name]), pl.Float64)
                )
                keep(r.con, link, scored)
            columns = ["world", *KEY_COLUMNS, "method", *link.features, "label"]
            held = [frames[r.spec.name] for r in runs if r.spec in held_out]
            for directory, rows in ((out, frame), (out / "held_out", pl.concat(held))):
                directory.mkdir(parents=True, exist_ok=True)
                rows.select(columns).sort(columns).with_columns(
                    pl.col(f).round(5) for f in link.features
                ).write_parquet(directory / f"{link.name}.parquet", compression="zstd")
            card = model.describe()
            print(
                f"{link.name}: {frame.height} candidates, {int(frame['label'].sum())} links; "
                f"{card['kind']} brier {card['brier']} ece {card['ece']}",
                flush=True,
            )


def graph_and_truth(
    home: Path, key: str, world: World, models: dict[str, LinkModel]
) -> tuple[ContextGraph, Truth]:
    """The graph as the pipeline builds it with ``models``, and the world's truth on it."""
    config = load_config(home / "flowsync.yaml")
    with warehouse.connect(home / "flowsync.duckdb") as con:
        landing = LandingStore(home / "landing")
        issues = jira_issue_records(landing, config)
        inputs = load_inputs(con, config, key, jira_issues=issues)
        graph = build_graph(con, inputs, lambda link, c: models[link.name].predict(c))
        jobs = gitlab_ci_jobs(con)
    return graph, truth_links(world, key, graph.nodes, inputs.actor_person, jobs)


def identity_report(home: Path, world: World, key: str) -> dict[str, Any]:
    """Identity precision and recall of a run (its DuckDB ``identities``) against the world."""
    with warehouse.connect(home / "flowsync.duckdb") as con:
        links = con.execute("SELECT pseudonym, person, confidence, method FROM identities").pl()
    result = evaluate_identities(world, links, key=key)
    return {k: result[k] for k in ("precision", "recall", "predicted_pairs", "true_pairs")} | {
        "methods": result["accounts_by_method"]
    }


def evaluate(seed: int, conventions: Conventions, labels: Path = LABELS_DIR) -> None:
    with tempfile.TemporaryDirectory(prefix=f"flowsync-evaluate-{seed}-") as tmp:
        world, key = run_world(seed, Path(tmp) / "home", conventions)
        models = fit_all(LINK_TYPES, labels, labels / "held_out")
        graph, truth = graph_and_truth(Path(tmp) / "home", key, world, models)
        print("identities:", identity_report(Path(tmp) / "home", world, key))
    pl.Config.set_tbl_rows(50)
    pl.Config.set_tbl_width_chars(140)
    for link in LINK_TYPES:
        report = truth.report(graph, link.name)
        card = models[link.name].describe()
        print(
            f"\n{link.name} ({link.edge_type}; {card['kind']} model, out of fold "
            f"brier {card['brier']}, ece {card['ece']}; held out {card.get('held_out')})"
        )
        print(report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="write labels/ from the training and held-out worlds")
    d.add_argument("--out", type=Path, default=LABELS_DIR)
    d.add_argument("--worlds", type=int, default=len(TRAINING_WORLDS), help="training worlds")
    d.add_argument("--homes", type=Path, help="keep (and reuse) each world's pipeline run here")
    e = sub.add_parser("evaluate", help="precision/recall by band against ground truth")
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--held-out", action="store_true", help="the held-out conventions, not DEMO")
    e.add_argument("--labels", type=Path, default=LABELS_DIR)
    args = parser.parse_args(argv)
    if args.command == "derive":
        derive(TRAINING_WORLDS[: args.worlds], HELD_OUT_WORLDS, args.out, args.homes)
    else:
        evaluate(args.seed, HELD_OUT if args.held_out else DEMO, args.labels)


if __name__ == "__main__":
    main()
