"""Mirror the context graph into Neo4j, one window of partitions at a time, idempotently.

Design (Cypher in ``sql/neo4j/*.cypher``, values always passed as parameters):

* Schema first: ``constraints.cypher`` (``IF NOT EXISTS``) makes ``:Node(id)`` unique, makes each
  relationship type's ``id`` unique, and indexes ``:Node(partition)``.
* Upserts in ``UNWIND`` batches of thousands: ``MERGE`` on the id, then ``SET n = props`` /
  ``SET e = props``, which *replaces* the property map — a property that disappeared is removed,
  and writing the same rows again leaves the graph exactly as it was. Nodes get a second label for
  their kind (``:Ticket``, ``:PullRequest``…), relationships their edge type, both as dynamic
  labels/types (Neo4j 5.26).
* Deletions by difference: the window's stored nodes (by partition index) and the relationships
  touching them or the nodes written now are read back; those absent from the freshly built graph
  are deleted (relationships first, found from their start node; then nodes, ``DETACH``).

The same window rows as DuckDB's (:func:`~flowsync_pipelines.graph.store.window_rows`) are
written, so both stores hold the same nodes and edges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import neo4j
import polars as pl

from flowsync_pipelines.graph.linking import ContextGraph
from flowsync_pipelines.graph.store import window_rows
from flowsync_pipelines.packaged import shipped

CYPHER_DIR = shipped("sql/neo4j")
BATCH_SIZE = 5_000


@cache
def cypher(name: str) -> tuple[str, ...]:
    """The statements of ``sql/neo4j/<name>.cypher`` (``//`` comment lines dropped)."""
    text = (CYPHER_DIR / f"{name}.cypher").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    return tuple(s.strip() for s in body.split(";") if s.strip())


def one(name: str) -> str:
    (statement,) = cypher(name)
    return statement


def kind_label(kind: str) -> str:
    """``pull_request`` -> ``PullRequest`` (the node's second label)."""
    return "".join(part.capitalize() for part in kind.split("_"))


@dataclass
class SyncReport:
    """What one window's sync did, for asset metadata."""

    nodes_written: int = 0
    edges_written: int = 0
    nodes_deleted: int = 0
    edges_deleted: int = 0
    batches: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "neo4j_nodes_written": self.nodes_written,
            "neo4j_edges_written": self.edges_written,
            "neo4j_nodes_deleted": self.nodes_deleted,
            "neo4j_edges_deleted": self.edges_deleted,
            "neo4j_batches": self.batches,
            "neo4j_seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def ensure_schema(driver: neo4j.Driver, *, database: str | None = None) -> None:
    for statement in cypher("constraints"):
        driver.execute_query(statement, database_=database)


def node_rows(nodes: pl.DataFrame) -> list[dict[str, Any]]:
    """``merge_nodes`` parameters: id, label and the full property map (nulls omitted)."""
    out = []
    for row in nodes.iter_rows(named=True):
        props = {
            "id": row["node_id"],
            "kind": row["kind"],
            "title": row["title"],
            "url": row["url"],
            "stub": row["stub"],
            "partition": row["partition_day"],
        }
        out.append(
            {
                "id": row["node_id"],
                "label": kind_label(row["kind"]),
                "props": {k: v for k, v in props.items() if v is not None},
            }
        )
    return out


def edge_rows(edges: pl.DataFrame) -> list[dict[str, Any]]:
    """``merge_edges`` parameters: id, type, ends and the full property map."""
    return [
        {
            "id": row["edge_id"],
            "type": row["edge_type"],
            "src": row["src"],
            "dst": row["dst"],
            "props": {
                "id": row["edge_id"],
                "link_type": row["link_type"],
                "confidence": row["confidence"],
                "band": row["band"],
                "method": row["method"],
                "evidence": list(row["evidence"]),
                "partition": row["partition_day"],
            },
        }
        for row in edges.iter_rows(named=True)
    ]


def batches(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def run_batched(
    driver: neo4j.Driver,
    statement: str,
    key: str,
    rows: Sequence[Any],
    *,
    batch_size: int = BATCH_SIZE,
    database: str | None = None,
) -> int:
    """Run ``statement`` with ``{key: batch}`` for each batch (one transaction each)."""
    count = 0
    for batch in batches(rows, batch_size):
        driver.execute_query(statement, {key: list(batch)}, database_=database)
        count += 1
    return count


def merge_frame(
    driver: neo4j.Driver,
    statement: str,
    frame: pl.DataFrame,
    to_rows: Callable[[pl.DataFrame], list[dict[str, Any]]],
    *,
    batch_size: int = BATCH_SIZE,
    database: str | None = None,
) -> int:
    """``UNWIND`` ``frame`` in batches, converting each slice to parameters only when sent."""
    count = 0
    for offset in range(0, frame.height, batch_size):
        rows = to_rows(frame.slice(offset, batch_size))
        driver.execute_query(statement, {"rows": rows}, database_=database)
        count += 1
    return count


def sync_window(
    driver: neo4j.Driver,
    graph: ContextGraph,
    start: date,
    end: date,
    *,
    batch_size: int = BATCH_SIZE,
    database: str | None = None,
) -> SyncReport:
    """Make Neo4j's window ``[start, end)`` match ``graph`` (the whole freshly built graph)."""
    report = SyncReport()
    clock = time.perf_counter()
    ensure_schema(driver, database=database)
    rows = window_rows(graph, start, end)
    written_ids = rows.nodes.get_column("node_id").to_list()
    stored_nodes, _, _ = driver.execute_query(
        one("window_nodes"), {"start": start, "end": end}, database_=database
    )
    stored_edges, _, _ = driver.execute_query(
        one("window_edges"), {"start": start, "end": end, "ids": written_ids}, database_=database
    )
    # What is stored but absent from the freshly built graph has vanished.
    stale_edges = (
        pl.DataFrame([r.data() for r in stored_edges], schema={"id": pl.String, "src": pl.String})
        .join(graph.edges.select(pl.col("edge_id").alias("id")), on="id", how="anti")
        .sort("id")
        .to_dicts()
    )
    stale_nodes = (
        pl.DataFrame([r.data() for r in stored_nodes], schema={"id": pl.String})
        .join(graph.nodes.select(pl.col("node_id").alias("id")), on="id", how="anti")
        .sort("id")
        .get_column("id")
        .to_list()
    )
    report.seconds["read_window"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report.batches += run_batched(
        driver, one("delete_edges"), "rows", stale_edges, batch_size=batch_size, database=database
    )
    report.batches += run_batched(
        driver, one("delete_nodes"), "ids", stale_nodes, batch_size=batch_size, database=database
    )
    report.edges_deleted, report.nodes_deleted = len(stale_edges), len(stale_nodes)
    report.seconds["delete"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report.batches += merge_frame(
        driver, one("merge_nodes"), rows.nodes, node_rows, batch_size=batch_size, database=database
    )
    report.nodes_written = rows.nodes.height
    report.seconds["merge_nodes"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report.batches += merge_frame(
        driver, one("merge_edges"), rows.edges, edge_rows, batch_size=batch_size, database=database
    )
    report.edges_written = rows.edges.height
    report.seconds["merge_edges"] = time.perf_counter() - clock
    return report


def read_graph(
    driver: neo4j.Driver, *, database: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(nodes, edges)`` as stored in Neo4j, shaped like ``graph_nodes`` / ``graph_edges``."""
    node_records, _, _ = driver.execute_query(one("read_nodes"), database_=database)
    edge_records, _, _ = driver.execute_query(one("read_edges"), database_=database)
    nodes = pl.DataFrame(
        [{**r.data(), "partition_day": _native(r["partition_day"])} for r in node_records],
        schema={
            "node_id": pl.String,
            "kind": pl.String,
            "title": pl.String,
            "url": pl.String,
            "stub": pl.Boolean,
            "partition_day": pl.Date,
            "labels": pl.List(pl.String),
        },
        orient="row",
    )
    edges = pl.DataFrame(
        [{**r.data(), "partition_day": _native(r["partition_day"])} for r in edge_records],
        schema={
            "edge_id": pl.String,
            "edge_type": pl.String,
            "link_type": pl.String,
            "src": pl.String,
            "dst": pl.String,
            "confidence": pl.Float64,
            "band": pl.String,
            "method": pl.String,
            "evidence": pl.List(pl.String),
            "partition_day": pl.Date,
        },
        orient="row",
    )
    return nodes, edges


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value
