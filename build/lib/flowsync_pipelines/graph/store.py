"""Writing the context graph to DuckDB, one window of partitions at a time.

A window's write replaces the nodes and edges whose ``partition_day`` falls in it (plus the end
nodes of those edges, so that an edge never points at nothing), removes rows of the window that
no longer exist in the freshly built graph (and vanished edges that touch a node written now),
then rebuilds the traversal structure (``graph_node_keys``, ``graph_adjacency``) and the
materialised ticket context. All in one transaction: a re-run of the same window changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from flowsync_pipelines.bands import MEDIUM
from flowsync_pipelines.graph.linking import ContextGraph
from flowsync_pipelines.warehouse import query, run_sql

# Node kinds a traversal reaches but does not walk through: expanding a person, team, repository,
# sprint or epic would pull in a large part of the organisation at the next hop.
HUB_KINDS = ("person", "team", "repo", "sprint", "epic")
# Edges below Medium are not followed by traversals (Low band is never stated as fact).
TRAVERSAL_MIN_CONFIDENCE = MEDIUM


@dataclass(frozen=True)
class WindowRows:
    """The rows one window's write upserts."""

    nodes: pl.DataFrame
    edges: pl.DataFrame


def window_rows(graph: ContextGraph, start: date, end: date) -> WindowRows:
    """Nodes and edges whose ``partition_day`` is in ``[start, end)``, with the edges' end nodes."""
    in_window = pl.col("partition_day").is_between(start, end, closed="left")
    edges = graph.edges.filter(in_window)
    ends = pl.concat(
        [edges.select(pl.col("src").alias("node_id")), edges.select(pl.col("dst").alias("node_id"))]
    )
    nodes = graph.nodes.filter(
        in_window | pl.col("node_id").is_in(ends.get_column("node_id").implode())
    )
    return WindowRows(nodes=nodes.sort("node_id"), edges=edges.sort("edge_id"))


def write_window(
    con: duckdb.DuckDBPyConnection,
    graph: ContextGraph,
    start: date,
    end: date,
    *,
    refresh_context: bool = True,
) -> WindowRows:
    """Write the window ``[start, end)`` of ``graph`` into ``graph_nodes`` / ``graph_edges``.

    Returns the rows written (for metadata and for the Neo4j mirror).
    """
    rows = window_rows(graph, start, end)
    run_sql(con, "graph_schema")
    frames = {
        "_graph_nodes_window": rows.nodes,
        "_graph_edges_window": rows.edges,
        "_graph_node_ids": graph.nodes.select("node_id"),
        "_graph_edge_ids": graph.edges.select("edge_id"),
    }
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            run_sql(con, "graph_write_partition", start_day=start, end_day=end)
            rebuild_traversal(con, refresh_context=refresh_context)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        for name in frames:
            con.unregister(name)
    return rows


def rebuild_traversal(con: duckdb.DuckDBPyConnection, *, refresh_context: bool = True) -> None:
    """Rebuild node keys, adjacency and (optionally) the materialised ticket context."""
    run_sql(con, "graph_rebuild_adjacency")
    if refresh_context:
        run_sql(
            con,
            "graph_ticket_context",
            stop_kinds=list(HUB_KINDS),
            min_confidence=TRAVERSAL_MIN_CONFIDENCE,
        )


def read_graph(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(nodes, edges)`` as stored, sorted by id (for comparisons and tests)."""
    return query(con, "graph_read_nodes"), query(con, "graph_read_edges")
