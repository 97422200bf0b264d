"""Labelled link sets for the context graph's confidence models, and their evaluation.

    python tools/link_labels.py derive [--seeds 11 13]    writes flowsync_pipelines/graph/labels/
    python tools/link_labels.py evaluate [--seed 7]       precision/recall by band per link type

``derive`` runs the whole demo pipeline (sandboxes, connectors, normalisers) for simulated
organisations whose seeds differ from the demo's (7), computes every link type's candidates and
features with the pipeline's own linking code, labels each candidate from that organisation's
ground truth, and writes ``labels/<link_type>.csv`` (features, method, label). The pipeline
fits its calibrated models on these files and never reads ground truth itself. Link types
depend on earlier ones (``pr_ticket`` reads ``commit_pr`` confidences), so each type's model is
fitted on the labels just derived before the next type's features are computed.

``evaluate`` runs the demo organisation (seed 7 unless told otherwise) with the shipped models
and prints, per link type, precision and recall by confidence band against its ground truth.

Re-derive the labels when a normaliser that feeds a link type's features lands or changes.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flowsync_pipelines import schema, warehouse  # noqa: E402
from flowsync_pipelines.demo import run_demo  # noqa: E402
from flowsync_pipelines.graph.calibrate import (  # noqa: E402
    LABELS_DIR,
    LinkModel,
    band_report,
    fit,
    fit_all,
)
from flowsync_pipelines.graph.inputs import jira_source_names, load_inputs  # noqa: E402
from flowsync_pipelines.graph.linking import ContextGraph, build_graph  # noqa: E402
from flowsync_pipelines.graph.spec import LINK_TYPES, LinkType  # noqa: E402
from flowsync_pipelines.landing import LandingStore  # noqa: E402
from flowsync_pipelines.pseudonym import pseudonym  # noqa: E402
from flowsync_pipelines.settings import load_config  # noqa: E402
from flowsync_pipelines.simulator import World, build_world  # noqa: E402

KEY_COLUMNS = ("src", "dst")


# --- running a simulated organisation through the pipeline ------------------------------------


def run_world(seed: int, home: Path) -> tuple[World, str]:
    """Run the demo pipeline for ``seed`` into ``home``; returns the world and pseudonym key."""
    world = build_world(seed=seed)
    run_demo(home, seed=seed, instance=dg.DagsterInstance.ephemeral(), progress=lambda _: None)
    key = next(
        line.split("=", 1)[1]
        for line in (home / "secrets.env").read_text().splitlines()
        if line.startswith("FLOWSYNC_PSEUDONYM_KEY=")
    )
    return world, key


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

    def report(self, graph: ContextGraph, link_type: str) -> pl.DataFrame:
        predicted = graph.links(link_type)
        if link_type in self.sources:
            predicted = predicted.filter(pl.col("src").is_in(list(self.sources[link_type])))
        return band_report(predicted, self.links[link_type])


def truth_links(
    world: World, key: str, graph: ContextGraph, actor_person: pl.DataFrame, ci_jobs: dict
) -> Truth:
    """Ground truth mapped onto the graph's node ids, among the entities the graph saw.

    Args:
        world: the simulated organisation.
        key: the pseudonymisation key of the run (to recognise people's accounts).
        graph: the built graph (incident and design-comment ids are matched by their tool id).
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
    for dep in truth["deployments"]:
        node = f"deployment:{dep['repo']}/deployments/{dep['deployment_id']}"
        out["deployment_commit"] += [
            (node, f"commit:{dep['repo']}@{s}") for s in dep["shipped_shas"]
        ]
    incidents = {
        _trailing_id(n): n
        for n in graph.nodes.filter(pl.col("kind") == "incident").get_column("node_id")
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
        for n in graph.nodes.filter(pl.col("kind") == "design_comment").get_column("node_id")
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
    seen = set(graph.nodes.get_column("node_id").to_list())
    links = {
        name: pl.DataFrame(pairs, schema=["src", "dst"], orient="row")
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


def _labelled(candidates: pl.DataFrame, truth: Truth, link: LinkType, seed: int) -> pl.DataFrame:
    if link.name in truth.sources:
        candidates = candidates.filter(pl.col("src").is_in(list(truth.sources[link.name])))
    real = truth.links[link.name].with_columns(pl.lit(1).alias("label"))
    return (
        candidates.join(real, on=list(KEY_COLUMNS), how="left")
        .with_columns(pl.col("label").fill_null(0), pl.lit(seed).alias("seed"))
        .drop("evidence", "confidence", strict=False)
    )


def derive(seeds: list[int], out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="flowsync-labels-") as tmp:
        _derive(seeds, out, Path(tmp))


def _derive(seeds: list[int], out: Path, tmp: Path) -> None:
    runs = []
    for seed in seeds:
        home = tmp / f"seed-{seed}"
        world, key = run_world(seed, home)
        runs.append((seed, home, world, key))
        print(f"seed {seed}: pipeline run in {home}", flush=True)
    labelled: dict[str, list[pl.DataFrame]] = {}
    models: dict[str, LinkModel] = {}

    # Link types in dependency order: fit each on every seed's labels before the next.
    for link in LINK_TYPES:
        for seed, home, world, key in runs:
            graph, truth = graph_and_truth(home, key, world, models)
            labelled.setdefault(link.name, []).append(
                _labelled(graph.candidates[link.name], truth, link, seed)
            )
        frame = pl.concat(labelled[link.name], how="diagonal_relaxed")
        models[link.name] = fit(link, frame)
        out.mkdir(parents=True, exist_ok=True)
        columns = ["seed", *KEY_COLUMNS, "method", *link.features, "label"]
        frame.select(columns).sort(columns).write_csv(out / f"{link.name}.csv", float_precision=5)
        card = models[link.name].describe()
        print(
            f"{link.name}: {frame.height} candidates, {int(frame['label'].sum())} links; "
            f"{card['kind']} brier {card['brier']} ece {card['ece']}",
            flush=True,
        )


def graph_and_truth(
    home: Path, key: str, world: World, models: dict[str, LinkModel]
) -> tuple[ContextGraph, Truth]:
    """The graph with the models fitted so far (later link types get a placeholder score)."""

    def scorer(link: LinkType, candidates: pl.DataFrame) -> np.ndarray:
        if link.name in models:
            return models[link.name].predict(candidates)
        return np.full(candidates.height, 0.5)

    config = load_config(home / "flowsync.yaml")
    with warehouse.connect(home / "flowsync.duckdb") as con:
        landing = LandingStore(home / "landing")
        issues = pl.concat(
            [landing.latest(source=name, kind="issues") for name in jira_source_names(config)]
            or [schema.empty(schema.LANDING)]
        )
        inputs = load_inputs(con, config, key, jira_issues=issues)
        graph = build_graph(con, inputs, scorer)
        jobs = gitlab_ci_jobs(con)
    return graph, truth_links(world, key, graph, inputs.actor_person, jobs)


def evaluate(seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix=f"flowsync-evaluate-{seed}-") as tmp:
        world, key = run_world(seed, Path(tmp) / "home")
        models = fit_all(LINK_TYPES)
        graph, truth = graph_and_truth(Path(tmp) / "home", key, world, models)
    pl.Config.set_tbl_rows(50)
    pl.Config.set_tbl_width_chars(140)
    for link in LINK_TYPES:
        report = truth.report(graph, link.name)
        card = models[link.name].describe()
        print(
            f"\n{link.name} ({link.edge_type}; {card['kind']} model, labelled "
            f"brier {card['brier']}, ece {card['ece']})"
        )
        print(report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="write labels/<link_type>.csv from other seeds")
    d.add_argument("--seeds", type=int, nargs="+", default=[11, 13])
    d.add_argument("--out", type=Path, default=LABELS_DIR)
    e = sub.add_parser("evaluate", help="precision/recall by band against ground truth")
    e.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.command == "derive":
        if 7 in args.seeds:
            parser.error("seed 7 is the demo organisation the models are evaluated on")
        derive(args.seeds, args.out)
    else:
        evaluate(args.seed)


if __name__ == "__main__":
    main()
