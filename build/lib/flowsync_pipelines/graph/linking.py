"""Build the context graph from the warehouse: nodes, fact edges and calibrated inferred links.

:func:`build_graph` registers the inputs (:mod:`~flowsync_pipelines.graph.inputs`), prepares the
entity tables (``sql/duckdb/graph_prepare.sql``), then for each link type in dependency order
proposes candidates with features (``graph_candidates_<type>.sql``), scores them with the link
type's calibrated model and keeps those with confidence >= :data:`MIN_CONFIDENCE` as edges.

Every edge carries ``confidence``, ``band``, ``method`` and ``evidence`` (event ids). Every node
and edge carries a ``partition_day``: the UTC day it last changed — a node's latest event, an
edge's later endpoint (eventless nodes such as teams take their latest neighbour's). Writing one
day's partition writes exactly the rows that changed that day (see :mod:`.store`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from flowsync_pipelines.bands import MEDIUM, band_expr
from flowsync_pipelines.graph.inputs import GraphInputs
from flowsync_pipelines.graph.spec import LINK_TYPES, MIN_CONFIDENCE, LinkType
from flowsync_pipelines.warehouse import query, run_sql

# (link type, candidates) -> confidence per candidate row.
Scorer = Callable[[LinkType, pl.DataFrame], np.ndarray]

S = pl.String
NODE_SCHEMA = {
    "node_id": S,
    "kind": S,
    "title": S,
    "url": S,
    "stub": pl.Boolean,
    "partition_day": pl.Date,
}
EDGE_SCHEMA = {
    "edge_id": S,
    "edge_type": S,
    "link_type": S,
    "src": S,
    "dst": S,
    "confidence": pl.Float64,
    "band": S,
    "method": S,
    "evidence": pl.List(S),
    "partition_day": pl.Date,
}


@dataclass
class ContextGraph:
    """The whole graph as of the warehouse's signals, plus each link type's scored candidates."""

    nodes: pl.DataFrame
    edges: pl.DataFrame
    candidates: dict[str, pl.DataFrame] = field(default_factory=dict)

    def links(self, link_type: str) -> pl.DataFrame:
        """The edges of one inferred link type."""
        return self.edges.filter(pl.col("link_type") == link_type)

    def unexplained_incidents(self) -> int:
        """Incidents no deployment is linked to at Medium or above: FlowSync names no cause."""
        incidents = self.nodes.filter(pl.col("kind") == "incident").get_column("node_id")
        caused = self.links("incident_deployment").filter(pl.col("confidence") >= MEDIUM)
        return incidents.is_in(caused.get_column("dst").implode()).not_().sum()


def prepare(con: duckdb.DuckDBPyConnection, inputs: GraphInputs) -> None:
    """Register the inputs and build the entity tables the linkers read (``g_*``)."""
    inputs.register(con)
    run_sql(con, "graph_prepare")
    empty = pl.DataFrame(schema={"src": S, "dst": S, "confidence": pl.Float64})
    for link in LINK_TYPES:
        _register(con, f"g_link_{link.name}", empty)


def propose(con: duckdb.DuckDBPyConnection, link: LinkType) -> pl.DataFrame:
    """The candidates of one link type, with their features (earlier types already kept)."""
    return query(con, f"graph_candidates_{link.name}")


def keep(con: duckdb.DuckDBPyConnection, link: LinkType, scored: pl.DataFrame) -> None:
    """Register a link type's kept links as ``g_link_<type>``, for the linkers after it (a pull
    request's keys in its commits; a deployment's changed files through the commits it
    shipped)."""
    kept = scored.filter(pl.col("confidence") >= MIN_CONFIDENCE)
    _register(con, f"g_link_{link.name}", kept.select("src", "dst", "confidence"))


def score_candidates(
    con: duckdb.DuckDBPyConnection, scorer: Scorer, links: tuple[LinkType, ...] = LINK_TYPES
) -> dict[str, pl.DataFrame]:
    """Candidates of every link type with a ``confidence`` column (after :func:`prepare`)."""
    scored: dict[str, pl.DataFrame] = {}
    for link in links:
        candidates = propose(con, link)
        confidence = scorer(link, candidates)
        scored[link.name] = candidates.with_columns(pl.Series("confidence", confidence, pl.Float64))
        keep(con, link, scored[link.name])
    return scored


def build_graph(
    con: duckdb.DuckDBPyConnection, inputs: GraphInputs, scorer: Scorer
) -> ContextGraph:
    """The context graph of everything in the warehouse's ``signals``.

    Args:
        con: a warehouse connection (temporary ``g_*`` tables are created on it).
        inputs: people, team and ticket-hierarchy frames.
        scorer: confidence for a link type's candidates (a fitted
            :class:`~flowsync_pipelines.graph.calibrate.LinkModel` per type, in the pipeline).
    """
    prepare(con, inputs)
    scored = score_candidates(con, scorer)

    inferred = []
    for link in LINK_TYPES:
        kept = scored[link.name].filter(pl.col("confidence") >= MIN_CONFIDENCE)
        inferred.append(
            kept.select(
                pl.lit(link.edge_type).alias("edge_type"),
                pl.lit(link.name).alias("link_type"),
                "src",
                "dst",
                "confidence",
                "method",
                pl.col("evidence").cast(pl.List(S)),
            )
        )
    facts = query(con, "graph_fact_edges").select(
        "edge_type",
        pl.lit("fact").alias("link_type"),
        "src",
        "dst",
        pl.lit(1.0).alias("confidence"),
        "method",
        pl.col("evidence").cast(pl.List(S)),
    )
    edges = (
        pl.concat([*inferred, facts])
        .with_columns(
            (pl.col("edge_type") + ":" + pl.col("src") + "->" + pl.col("dst")).alias("edge_id"),
            pl.col("evidence").list.unique().list.sort(),
        )
        # One edge per (type, src, dst): the most confident candidate wins (a total order, so
        # that the same signals always give the same graph).
        .with_columns(pl.col("evidence").list.join(" ").alias("_tiebreak"))
        .sort(
            "edge_id", "confidence", "method", "_tiebreak", descending=[False, True, False, False]
        )
        .unique("edge_id", keep="first", maintain_order=True)
        .drop("_tiebreak")
        .with_columns(band_expr().alias("band"))
    )
    nodes = _nodes(query(con, "graph_entity_nodes"), edges)
    edges = _edge_partitions(edges, nodes)
    return ContextGraph(
        nodes=nodes.select(list(NODE_SCHEMA)).sort("node_id"),
        edges=edges.select(list(EDGE_SCHEMA)).sort("edge_id"),
        candidates=scored,
    )


def _nodes(entities: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Entity nodes, plus stub nodes for edge ends never seen as entities, with partitions."""
    entities = (
        entities.sort("node_id", "kind", "title", nulls_last=True).unique(
            "node_id", keep="first", maintain_order=True
        )
    ).with_columns(
        pl.lit(False).alias("stub"),
        pl.col("changed_at").dt.convert_time_zone("UTC").dt.date().alias("partition_day"),
    )
    ends = pl.concat(
        [edges.select(pl.col("src").alias("node_id")), edges.select(pl.col("dst").alias("node_id"))]
    ).unique()
    stubs = ends.join(entities.select("node_id"), on="node_id", how="anti").with_columns(
        pl.col("node_id").str.split(":").list.first().alias("kind"),
        pl.lit(None, S).alias("title"),
        pl.lit(None, S).alias("url"),
        pl.lit(True).alias("stub"),
        pl.lit(None, pl.Date).alias("partition_day"),
    )
    nodes = pl.concat(
        [entities.select(list(NODE_SCHEMA)), stubs.select(list(NODE_SCHEMA))], how="vertical"
    )
    # Nodes without events of their own (people, teams, repos, stubs) change when a neighbour does.
    both = pl.concat(
        [
            edges.select(pl.col("src").alias("node_id"), pl.col("dst").alias("other")),
            edges.select(pl.col("dst").alias("node_id"), pl.col("src").alias("other")),
        ]
    )
    neighbour_day = (
        both.join(
            nodes.select(pl.col("node_id").alias("other"), pl.col("partition_day").alias("d")),
            on="other",
        )
        .group_by("node_id")
        .agg(pl.col("d").max().alias("neighbour_day"))
    )
    nodes = nodes.join(neighbour_day, on="node_id", how="left").with_columns(
        pl.coalesce("partition_day", "neighbour_day").alias("partition_day")
    )
    fallback = nodes.get_column("partition_day").min()
    if fallback is None:  # no node is dated (a day without signals): nothing to fill from
        return nodes.drop("neighbour_day")
    return nodes.with_columns(pl.col("partition_day").fill_null(fallback)).drop("neighbour_day")


def _edge_partitions(edges: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    days = nodes.select("node_id", "partition_day")
    return (
        edges.join(days.rename({"node_id": "src", "partition_day": "d1"}), on="src", how="left")
        .join(days.rename({"node_id": "dst", "partition_day": "d2"}), on="dst", how="left")
        .with_columns(pl.max_horizontal("d1", "d2").alias("partition_day"))
        .drop("d1", "d2")
    )


def _register(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    con.register("_graph_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _graph_frame")
    finally:
        con.unregister("_graph_frame")
