"""Context graph at scale: 1 M nodes / 5 M edges into DuckDB and Neo4j, and 3-hop traversals.

A synthetic work graph generated in time order over a year, with the pipeline's node and edge
shapes (ids, kinds, titles, confidence, band, method, evidence, partition day): teams, repos,
people, epics and sprints (the hubs), tickets, pull requests, commits, CI runs, deployments to
four environments, incidents and design comments. It is written with the pipeline's own code:

* DuckDB: ``store.write_window`` (graph tables, adjacency, materialised ticket context);
* Neo4j: ``neo4j_sync.sync_window`` (``UNWIND`` batches of ``--batch`` rows with ``MERGE``), all
  but a held-out sample, which is then written with the *same* ``MERGE`` one row per
  transaction. Both rates and their ratio are printed.

Then 3-hop traversals from random tickets, in DuckDB (``graph_traverse.sql``) and Neo4j
(``traverse_depth_3.cypher``): p50 / p95 of the query alone and of the costed call (EXPLAIN
estimates + degree probe + query) the pipeline makes.

The Neo4j server is started here with a larger heap and page cache than the test server's
(``--heap``, ``--pagecache``; the machine has 24 GiB).

    .venv/bin/python bench/graph_load.py [--nodes 1000000] [--edges 5000000] [--batch 10000]
        [--sample 5000] [--traversals 200] [--heap 4g] [--pagecache 4g]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import stat
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import neo4j
import numpy as np
import polars as pl

from flowsync_pipelines import warehouse
from flowsync_pipelines.bands import band_expr
from flowsync_pipelines.graph.linking import EDGE_SCHEMA, NODE_SCHEMA, ContextGraph
from flowsync_pipelines.graph.neo4j_sync import (
    edge_rows,
    merge_frame,
    node_rows,
    one,
    run_batched,
    sync_window,
)
from flowsync_pipelines.graph.store import HUB_KINDS, TRAVERSAL_MIN_CONFIDENCE, write_window
from flowsync_pipelines.graph.traversal import TraversalRequest, traverse_duckdb, traverse_neo4j
from flowsync_pipelines.neo4j_server import Neo4jServer
from flowsync_pipelines.warehouse import query

START = date(2025, 1, 1)
DAYS = 365
ENVIRONMENTS = ("dev", "qa", "staging", "production")


# --- the synthetic graph --------------------------------------------------------------------


def _sha(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 20), dtype=np.uint8)
    return np.array([bytes(r).hex() for r in raw])


def _pick(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.integers(0, n, size=k)


def synthetic_graph(n_nodes: int, n_edges: int, seed: int = 7) -> ContextGraph:
    """A time-ordered work graph with exactly ``n_nodes`` nodes and ``n_edges`` edges."""
    rng = np.random.default_rng(seed)
    scale = n_nodes / 1_000_000
    count = {
        "team": max(4, int(50 * scale)),
        "repo": max(8, int(400 * scale)),
        "person": max(20, int(5_000 * scale)),
        "epic": max(10, int(2_000 * scale)),
        "sprint": max(4, int(500 * scale)),
        "ticket": int(110_000 * scale),
        "pull_request": int(150_000 * scale),
        "ci_run": int(200_000 * scale),
        "deployment": int(60_000 * scale),
        "incident": int(4_000 * scale),
    }
    count["commit"] = 3 * count["pull_request"]
    count["design_comment"] = n_nodes - sum(count.values())
    assert count["design_comment"] > 0, "too few nodes for the mix"

    nodes: list[pl.DataFrame] = []
    edges: list[pl.DataFrame] = []

    def add_nodes(kind: str, ids: np.ndarray, day: np.ndarray, title: str) -> None:
        nodes.append(
            pl.DataFrame({"node_id": ids, "day": day}).with_columns(
                pl.lit(kind).alias("kind"), pl.lit(title).alias("title")
            )
        )

    def add_edges(
        edge_type: str, link_type: str, method: str, src: np.ndarray, dst: np.ndarray, conf: float
    ) -> None:
        confidence = np.clip(rng.normal(conf, 0.05, len(src)), 0.1, 0.9999).round(4)
        if link_type == "fact":
            confidence = np.ones(len(src))
        edges.append(
            pl.DataFrame({"src": src, "dst": dst, "confidence": confidence}).with_columns(
                pl.lit(edge_type).alias("edge_type"),
                pl.lit(link_type).alias("link_type"),
                pl.lit(method).alias("method"),
            )
        )

    last = np.full(1, DAYS - 1)
    teams = np.array([f"team:team-{i:03d}" for i in range(count["team"])])
    repo_names = np.array([f"org/service-{i:04d}" for i in range(count["repo"])])
    repos = np.array([f"repo:{r}" for r in repo_names])
    people = np.array([f"p_{i:024x}" for i in range(count["person"])])
    epics = np.array([f"ticket:EPIC-{i + 1}" for i in range(count["epic"])])
    sprints = np.array([f"sprint:sprint/{i + 1}" for i in range(count["sprint"])])
    for kind, ids in (
        ("team", teams),
        ("repo", repos),
        ("person", people),
        ("epic", epics),
        ("sprint", sprints),
    ):
        add_nodes(kind, ids, np.repeat(last, len(ids)), kind)
    add_edges("OWNS", "fact", "configured", teams[np.arange(len(repos)) % len(teams)], repos, 1)
    add_edges(
        "MEMBER_OF",
        "person_team",
        "configured",
        people,
        teams[np.arange(len(people)) % len(teams)],
        0.99,
    )

    # Tickets, then the pull requests that implement them, in time order.
    n_t = count["ticket"]
    t_day = np.sort(rng.integers(0, DAYS - 20, n_t))
    tickets = np.array([f"ticket:PRJ{i % 97}-{i + 1}" for i in range(n_t)])
    add_nodes("ticket", tickets, np.minimum(t_day + rng.integers(1, 15, n_t), DAYS - 1), "T")
    with_epic = rng.random(n_t) < 0.8
    add_edges(
        "PART_OF",
        "ticket_epic",
        "parent_field",
        tickets[with_epic],
        epics[
            (t_day[with_epic] * len(epics) // DAYS + _pick(rng, 30, with_epic.sum())) % len(epics)
        ],
        0.998,
    )
    sprint_of = t_day * len(sprints) // DAYS
    add_edges("IN_SPRINT", "ticket_sprint", "sprint_field", tickets, sprints[sprint_of], 0.999)
    carried = rng.random(n_t) < 1.0
    add_edges(
        "IN_SPRINT",
        "ticket_sprint",
        "sprint_field",
        tickets[carried],
        sprints[np.minimum(sprint_of[carried] + 1, len(sprints) - 1)],
        0.999,
    )

    n_p = count["pull_request"]
    p_ticket = np.sort(_pick(rng, n_t, n_p))
    p_day = np.minimum(t_day[p_ticket] + rng.integers(0, 6, n_p), DAYS - 2)
    p_merge_day = np.minimum(p_day + rng.integers(0, 4, n_p), DAYS - 2)
    p_repo = _pick(rng, len(repos), n_p)
    p_author = _pick(rng, len(people), n_p)
    prs = np.array([f"pull_request:{repo_names[r]}#{i + 1}" for i, r in enumerate(p_repo)])
    add_nodes("pull_request", prs, p_merge_day, "Add the thing (PRJ-1)")
    linked = rng.random(n_p) < 0.8
    add_edges(
        "REFERENCES", "pr_ticket", "key_in_title", prs[linked], tickets[p_ticket[linked]], 0.97
    )
    add_edges("AUTHORED", "fact", "event_actor", people[p_author], prs, 1)
    add_edges("IN_REPO", "fact", "event_field", prs, repos[p_repo], 1)

    # Commits: three per pull request (the last one is its merge commit).
    n_c = count["commit"]
    c_pr = np.repeat(np.arange(n_p), 3)
    shas = _sha(rng, n_c)
    commits = np.array(
        [f"commit:{repo_names[p_repo[p]]}@{s}" for p, s in zip(c_pr, shas, strict=True)]
    )
    c_day = np.maximum(p_merge_day[c_pr] - rng.integers(0, 3, n_c), 0)
    add_nodes("commit", commits, c_day, "Fix the thing")
    add_edges("PART_OF", "commit_pr", "branch_head", commits, prs[c_pr], 0.99)
    add_edges("AUTHORED", "fact", "event_actor", people[p_author[c_pr]], commits, 1)

    # CI runs: each builds the commits of a push and runs for its pull request.
    n_ci = count["ci_run"]
    ci_pr = np.sort(_pick(rng, n_p, n_ci))
    ci_ids = np.array(
        [
            f"ci_run:{repo_names[p_repo[p]]}/actions/runs/{10_000_000 + i}"
            for i, p in enumerate(ci_pr)
        ]
    )
    add_nodes("ci_run", ci_ids, p_day[ci_pr], "CI")
    add_edges("BUILT", "ci_pr", "pr_number", ci_ids, prs[ci_pr], 0.999)
    for k in range(3):
        add_edges("BUILT", "ci_commit", "head_sha", ci_ids, commits[ci_pr * 3 + k], 0.999)

    # Deployments: per environment, each ships the commits merged since the previous one.
    n_d = count["deployment"]
    per_env = n_d // len(ENVIRONMENTS)
    d_nodes, d_days = [], []
    for e, env in enumerate(ENVIRONMENTS):
        n_env = per_env if e else n_d - per_env * (len(ENVIRONMENTS) - 1)
        boundaries = np.sort(rng.choice(np.arange(1, n_p), size=n_env - 1, replace=False))
        starts = np.concatenate([[0], boundaries])
        ends = np.concatenate([boundaries, [n_p]])
        ids = np.array([f"deployment:org/deploys/{env}/{i}" for i in range(n_env)])
        day = np.minimum(p_merge_day[ends - 1] + e // 2, DAYS - 1)
        d_nodes.append(ids)
        d_days.append(day)
        lengths = (ends - starts) * 3
        dep_of_commit = np.repeat(np.arange(n_env), lengths)
        add_edges(
            "DEPLOYED", "deployment_commit", "deploy_range", ids[dep_of_commit], commits, 0.995
        )
        if env == "production":
            prod_ids, prod_day = ids, day
    add_nodes("deployment", np.concatenate(d_nodes), np.concatenate(d_days), "service to env")

    n_i = count["incident"]
    i_dep = np.sort(_pick(rng, len(prod_ids), n_i))
    incidents = np.array([f"incident:sentry:svc/{5_000_000_000 + i}" for i in range(n_i)])
    add_nodes("incident", incidents, prod_day[i_dep], "TypeError: x is undefined")
    add_edges(
        "FOLLOWED_BY_INCIDENT",
        "incident_deployment",
        "release_match",
        prod_ids[i_dep],
        incidents,
        0.9,
    )

    n_dc = count["design_comment"]
    dc_ticket = np.sort(_pick(rng, n_t, n_dc))
    designs = np.array([f"design_comment:figma:file/comments/{i}" for i in range(n_dc)])
    add_nodes("design_comment", designs, t_day[dc_ticket], "#flowsync PRJ-1 spacing")
    add_edges("ABOUT", "design_ticket", "flowsync_tag_and_key", designs, tickets[dc_ticket], 0.99)

    # Reviews fill the edge budget: reviewers of each pull request.
    missing = n_edges - sum(e.height for e in edges)
    assert missing >= 0, "too few edges for the mix"
    r_pr = np.sort(_pick(rng, n_p, missing * 2))
    r_person = (p_author[r_pr] + 1 + _pick(rng, 12, len(r_pr))) % len(people)
    reviews = pl.DataFrame({"src": people[r_person], "dst": prs[r_pr]}).unique().head(missing)
    add_edges(
        "REVIEWED",
        "fact",
        "event_actor",
        reviews.get_column("src").to_numpy(),
        reviews.get_column("dst").to_numpy(),
        1,
    )

    node_frame = (
        pl.concat(nodes)
        .with_columns(
            (pl.lit(START) + pl.duration(days=pl.col("day"))).alias("partition_day"),
            pl.lit(None, pl.String).alias("url"),
            pl.lit(False).alias("stub"),
        )
        .select(list(NODE_SCHEMA))
    )
    days = node_frame.select("node_id", "partition_day")
    edge_frame = (
        pl.concat(edges)
        .with_columns(
            (pl.col("edge_type") + ":" + pl.col("src") + "->" + pl.col("dst")).alias("edge_id"),
            pl.concat_list(
                pl.lit("github:pull_request:org/service#1:opened:2025-01-01T00:00:00.000000Z"),
                pl.lit("jira:ticket:PRJ-1:transitioned:2025-01-01T00:00:00.000000Z"),
            ).alias("evidence"),
            band_expr().alias("band"),
        )
        .join(days.rename({"node_id": "src", "partition_day": "d1"}), on="src")
        .join(days.rename({"node_id": "dst", "partition_day": "d2"}), on="dst")
        .with_columns(pl.max_horizontal("d1", "d2").alias("partition_day"))
        .select(list(EDGE_SCHEMA))
    )
    assert node_frame.get_column("node_id").n_unique() == n_nodes
    assert edge_frame.get_column("edge_id").n_unique() == n_edges, "duplicate edges"
    return ContextGraph(nodes=node_frame, edges=edge_frame)


# --- timing helpers ---------------------------------------------------------------------------


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    return (
        f"p50 {np.percentile(ms, 50):6.1f} ms   p95 {np.percentile(ms, 95):6.1f} ms   "
        f"max {ms.max():6.1f} ms  (n={len(ms)})"
    )


def java_with_pagecache(directory: Path, pagecache: str) -> Path:
    """A ``java`` wrapper that raises Neo4j's page cache (the test config pins 128m)."""
    real = shutil.which(os.environ.get("JAVA", "java"))
    if real is None:
        raise SystemExit("java not found: install a JDK 17 or 21")
    wrapper = directory / "java"
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        'for a in "$@"; do\n'
        '  if [[ "$a" == --home-dir=* ]]; then\n'
        f'    exec "{real}" "$@" -c server.memory.pagecache.size={pagecache}\n'
        "  fi\n"
        "done\n"
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper


# --- the bench --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per UNWIND batch")
    parser.add_argument("--sample", type=int, default=5_000, help="rows written one by one")
    parser.add_argument("--traversals", type=int, default=200)
    parser.add_argument("--heap", default="4g")
    parser.add_argument("--pagecache", default="4g")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    clock = time.perf_counter()
    graph = synthetic_graph(args.nodes, args.edges, seed=args.seed)
    print(
        f"synthetic graph: {graph.nodes.height:,} nodes, {graph.edges.height:,} edges "
        f"in {time.perf_counter() - clock:.1f} s"
    )
    try:
        from neo4j import _rust  # noqa: F401

        codec = "Rust extension (neo4j-rust-ext)"
    except ImportError:
        codec = "pure Python (install neo4j-rust-ext for ~3x faster parameter packing)"
    print(f"Neo4j driver {neo4j.__version__}, packstream codec: {codec}")
    print(graph.nodes.group_by("kind").len().sort("len", descending=True).to_dicts())
    print(graph.edges.group_by("edge_type").len().sort("len", descending=True).to_dicts())
    window = (START, START + timedelta(days=DAYS))

    with tempfile.TemporaryDirectory(prefix="flowsync-graph-bench-") as tmp:
        tmp_path = Path(tmp)
        # DuckDB, with the pipeline's writer.
        con = duckdb.connect(str(tmp_path / "graph.duckdb"))
        con.execute("SET TimeZone = 'UTC'")
        clock = time.perf_counter()
        write_window(con, graph, *window, refresh_context=False)
        duck_load = time.perf_counter() - clock
        clock = time.perf_counter()
        warehouse.run_sql(
            con,
            "graph_ticket_context",
            stop_kinds=list(HUB_KINDS),
            min_confidence=TRAVERSAL_MIN_CONFIDENCE,
        )
        context_seconds = time.perf_counter() - clock
        context_rows = query(con, "graph_counts").row(0)
        print(
            f"\nDuckDB: graph tables + adjacency written in {duck_load:.1f} s "
            f"({args.edges / duck_load:,.0f} edges/s); materialised ticket context "
            f"refreshed in {context_seconds:.1f} s; stored {context_rows}"
        )

        # Neo4j: batched UNWIND for every node and all but a held-out sample of edges; then the
        # sample edges, and as many extra nodes, with the same MERGE one row per transaction.
        sample_edges = graph.edges.sample(args.sample, seed=args.seed)
        extra_nodes = graph.nodes.sample(args.sample, seed=args.seed).with_columns(
            ("bench-extra:" + pl.col("node_id")).alias("node_id")
        )
        bulk = ContextGraph(
            nodes=graph.nodes,
            edges=graph.edges.join(sample_edges.select("edge_id"), on="edge_id", how="anti"),
        )
        java = java_with_pagecache(tmp_path, args.pagecache)
        os.environ["JAVA"] = str(java)
        with (
            Neo4jServer(heap=args.heap, start_timeout=300) as server,
            neo4j.GraphDatabase.driver(server.uri) as driver,
        ):
            clock = time.perf_counter()
            report = sync_window(driver, bulk, *window, batch_size=args.batch)
            total = time.perf_counter() - clock
            node_rate = bulk.nodes.height / report.seconds["merge_nodes"]
            edge_rate = bulk.edges.height / report.seconds["merge_edges"]
            print(
                f"\nNeo4j batched UNWIND + MERGE ({args.batch:,} rows per batch): "
                f"{bulk.nodes.height:,} nodes in {report.seconds['merge_nodes']:.1f} s "
                f"({node_rate:,.0f}/s), {bulk.edges.height:,} edges in "
                f"{report.seconds['merge_edges']:.1f} s ({edge_rate:,.0f}/s); "
                f"whole sync {total:.1f} s"
            )
            clock = time.perf_counter()
            merge_frame(driver, one("merge_nodes"), extra_nodes, node_rows, batch_size=1)
            single_node_rate = extra_nodes.height / (time.perf_counter() - clock)
            run_batched(driver, one("delete_nodes"), "ids", extra_nodes["node_id"].to_list())
            clock = time.perf_counter()
            merge_frame(driver, one("merge_edges"), sample_edges, edge_rows, batch_size=1)
            single_edge_rate = sample_edges.height / (time.perf_counter() - clock)
            print(
                f"Neo4j one MERGE per row (same statement, one transaction each): "
                f"{extra_nodes.height:,} nodes at {single_node_rate:,.0f}/s, "
                f"{sample_edges.height:,} edges at {single_edge_rate:,.0f}/s"
            )
            print(
                f"batched / one-per-row: nodes x{node_rate / single_node_rate:,.1f}, "
                f"edges x{edge_rate / single_edge_rate:,.1f}"
            )
            (count,) = driver.execute_query("MATCH ()-[e]->() RETURN count(e) AS n").records
            print(f"Neo4j holds {count['n']:,} relationships")

            # 3-hop traversals from random tickets.
            tickets = graph.nodes.filter(pl.col("kind") == "ticket").get_column("node_id").to_list()
            starts = random.Random(args.seed).sample(tickets, args.traversals)
            for start in starts[:5]:  # warm caches and plans
                query(con, "graph_traverse", depth=3, **TraversalRequest(start).params())
                driver.execute_query(one("traverse_depth_3"), TraversalRequest(start).params())
            results: dict[str, list[float]] = {k: [] for k in ("dq", "dc", "nq", "nc")}
            sizes = []
            for start in starts:
                request = TraversalRequest(start, depth=3, budget=1e12)
                t = time.perf_counter()
                frame = query(con, "graph_traverse", depth=3, **request.params())
                results["dq"].append(time.perf_counter() - t)
                sizes.append(frame.height)
                t = time.perf_counter()
                traverse_duckdb(con, request)
                results["dc"].append(time.perf_counter() - t)
                t = time.perf_counter()
                driver.execute_query(one("traverse_depth_3"), request.params())
                results["nq"].append(time.perf_counter() - t)
                t = time.perf_counter()
                traverse_neo4j(driver, request)
                results["nc"].append(time.perf_counter() - t)
            print(
                f"\n3-hop traversals from {len(starts)} random tickets "
                f"(mean {np.mean(sizes):.0f} nodes reached, max {max(sizes)}):"
            )
            print(f"  DuckDB query          {percentiles(results['dq'])}")
            print(f"  DuckDB costed call    {percentiles(results['dc'])}")
            print(f"  Neo4j query           {percentiles(results['nq'])}")
            print(f"  Neo4j costed call     {percentiles(results['nc'])}")
        con.close()


if __name__ == "__main__":
    main()
