"""The context graph mirrored into a real Neo4j 5.26 server: idempotent per partition, the same
nodes and edges as DuckDB, vanished links removed, and traversals that degrade over budget."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import neo4j
import polars as pl
import pytest

from flowsync_pipelines import warehouse
from flowsync_pipelines.graph.neo4j_sync import kind_label
from flowsync_pipelines.graph.neo4j_sync import read_graph as read_neo4j
from flowsync_pipelines.graph.store import read_graph as read_duckdb
from flowsync_pipelines.graph.traversal import TraversalRequest, traverse_duckdb, traverse_neo4j
from flowsync_pipelines.settings import Paths
from tests.conftest import Deployment
from tests.test_graph import materialise_graph


@pytest.fixture(scope="module")
def driver(neo4j_uri: str) -> Iterator[neo4j.Driver]:
    with neo4j.GraphDatabase.driver(neo4j_uri) as driver:
        yield driver


@pytest.fixture(scope="module")
def mirrored(
    full_run: Deployment, neo4j_uri: str, driver: neo4j.Driver
) -> dg.ExecuteInProcessResult:
    """The demo's graph materialised once into an empty Neo4j (and DuckDB)."""
    driver.execute_query("MATCH (n) DETACH DELETE n")
    return materialise_graph(full_run, neo4j_uri=neo4j_uri)


def _snapshot(driver: neo4j.Driver) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_neo4j(driver)


def test_materialising_the_same_partitions_twice_leaves_neo4j_identical(
    full_run: Deployment, neo4j_uri: str, driver: neo4j.Driver, mirrored: dg.ExecuteInProcessResult
) -> None:
    nodes, edges = _snapshot(driver)
    assert nodes.height > 1_000 and edges.height > 5_000
    materialise_graph(full_run, neo4j_uri=neo4j_uri)
    again_nodes, again_edges = _snapshot(driver)
    assert again_nodes.height == nodes.height and again_edges.height == edges.height
    assert again_nodes.equals(nodes)  # every property of every node
    assert again_edges.equals(edges)  # every property of every relationship

    day = (full_run.world.start + timedelta(days=30)).date().isoformat()
    result = materialise_graph(full_run, neo4j_uri=neo4j_uri, first=day, last=day)
    metadata = result.asset_materializations_for_node("context_graph")[-1].metadata
    assert metadata["neo4j_nodes_deleted"].value == 0
    assert metadata["neo4j_edges_deleted"].value == 0
    day_nodes, day_edges = _snapshot(driver)
    assert day_nodes.equals(nodes) and day_edges.equals(edges)


def test_duckdb_and_neo4j_hold_the_same_nodes_and_edges(
    full_run: Deployment, driver: neo4j.Driver, mirrored: dg.ExecuteInProcessResult
) -> None:
    with warehouse.connect(Paths(home=full_run.home).duckdb, read_only=True) as con:
        duck_nodes, duck_edges = read_duckdb(con)
    neo_nodes, neo_edges = _snapshot(driver)
    assert neo_nodes.drop("labels").equals(duck_nodes)
    assert neo_edges.equals(duck_edges)
    # Each node also carries its kind as a label, e.g. :PullRequest.
    labels = neo_nodes.select(pl.col("labels").list.first(), pl.col("kind"))
    assert labels.get_column("labels").to_list() == [kind_label(k) for k in labels["kind"]]


def test_vanished_links_are_removed_from_neo4j(
    full_run: Deployment,
    neo4j_uri: str,
    driver: neo4j.Driver,
    mirrored: dg.ExecuteInProcessResult,
    tmp_path: Path,
) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(Paths(home=full_run.home).duckdb, copy)
    with warehouse.connect(copy) as con:
        commit, pr = con.execute(
            "SELECT src, dst FROM graph_edges WHERE link_type = 'commit_pr' "
            "AND method = 'author_time_proximity' AND band = 'high' ORDER BY edge_id LIMIT 1"
        ).fetchone()
        # The commit disappears from signals (history rewritten, or re-normalised away).
        con.execute(
            "DELETE FROM signals WHERE entity_type = 'commit' AND entity_id = $id",
            {"id": commit.removeprefix("commit:")},
        )
        warehouse.run_sql(con, "current_state")
    result = materialise_graph(full_run, warehouse_path=copy, neo4j_uri=neo4j_uri)
    metadata = result.asset_materializations_for_node("context_graph")[-1].metadata
    assert metadata["neo4j_edges_deleted"].value >= 1
    neo_nodes, neo_edges = _snapshot(driver)
    assert commit not in set(neo_nodes.get_column("node_id"))
    assert neo_edges.filter((pl.col("src") == commit) | (pl.col("dst") == commit)).is_empty()
    with warehouse.connect(copy, read_only=True) as con:
        duck_nodes, duck_edges = read_duckdb(con)
    assert neo_nodes.drop("labels").equals(duck_nodes) and neo_edges.equals(duck_edges)
    # Put the demo's graph back for the other tests of this module.
    materialise_graph(full_run, neo4j_uri=neo4j_uri)
    assert pr in set(_snapshot(driver)[0].get_column("node_id"))


def test_neo4j_traversal_matches_duckdb_and_degrades_over_budget(
    full_run: Deployment, driver: neo4j.Driver, mirrored: dg.ExecuteInProcessResult
) -> None:
    with warehouse.connect(Paths(home=full_run.home).duckdb, read_only=True) as con:
        ticket = con.execute(
            "SELECT dst FROM graph_edges WHERE link_type = 'pr_ticket' AND band = 'high' "
            "ORDER BY edge_id LIMIT 1"
        ).fetchone()[0]
        exact = traverse_neo4j(driver, TraversalRequest(ticket, budget=1e9), fallback=con)
        in_duckdb = traverse_duckdb(con, TraversalRequest(ticket, budget=1e9))
        degraded = traverse_neo4j(driver, TraversalRequest(ticket, budget=1.0), fallback=con)
        pr = exact.nodes.filter(pl.col("kind") == "pull_request").item(0, "node_id")
        costs = traverse_neo4j(driver, TraversalRequest(pr, budget=1e9)).costs
        shallower = traverse_neo4j(driver, TraversalRequest(pr, budget=costs[2] + 0.01))
    assert exact.mode == "exact" and not exact.degraded
    assert exact.nodes.equals(in_duckdb.nodes)
    assert degraded.degraded and degraded.mode == "materialised_view"
    assert degraded.nodes.equals(exact.nodes)
    assert "exceed the budget" in (degraded.reason or "")
    assert shallower.degraded and shallower.mode == "shallower" and shallower.depth == 2
    assert shallower.nodes.get_column("depth").max() <= 2
