"""Graph traversals with a cost estimate first, and a degraded answer when over budget.

Every traversal FlowSync runs ("what is ticket X connected to, up to 3 hops") goes through
:func:`traverse_duckdb` or :func:`traverse_neo4j`. Before running, each depth ``d`` from the
requested one down is costed:

* **DuckDB** — ``EXPLAIN`` of the walk unrolled into ``i`` joins
  (``sql/duckdb/graph_traverse_cost_d<i>.sql``, never executed): the estimated cardinality of
  the outermost join is the rows the planner expects at hop ``i``; ``E(d)`` is their sum over
  ``i <= d`` (the walk touches every level).
* **Neo4j** — ``EXPLAIN`` of the traversal itself (``sql/neo4j/traverse_depth_<d>.cypher``):
  ``E(d)`` is the largest ``EstimatedRows`` of its operators (it returns every node up to ``d``).

Both planners estimate from statistics (average fan-out per hop), not from the start node, so
the estimate is scaled by the start node's actual degree, read with one index lookup:
``cost(d) = degree(start) * E(d) / E(1)`` — the rows a walk from *this* node is expected to
touch. The budget (:data:`DEFAULT_BUDGET` unless the request says otherwise) is in those rows.

The rule: run at the requested depth when ``cost <= budget``. Otherwise degrade, and say so in
the result (``degraded``, ``mode``, ``reason``):

1. ``materialised_view`` — the start is a ticket and the request matches the materialised
   ``graph_ticket_context`` (depth <= 3, default confidence floor and hub kinds): answer from it
   (it is rebuilt in the same transaction as the DuckDB graph, so it is as fresh as DuckDB's graph;
   against Neo4j it is as fresh as the last DuckDB write);
2. ``shallower`` — otherwise the deepest depth whose cost fits the budget;
3. ``refused`` — nothing fits: no rows, and the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import neo4j
import polars as pl

from flowsync_pipelines.graph.neo4j_sync import one
from flowsync_pipelines.graph.store import HUB_KINDS, TRAVERSAL_MIN_CONFIDENCE
from flowsync_pipelines.warehouse import SQL_DIR, query

MAX_DEPTH = 3
DEFAULT_BUDGET = 20_000.0
RESULT_SCHEMA = {"node_id": pl.String, "kind": pl.String, "depth": pl.Int64}
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def _explain(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> Any:
    """DuckDB's JSON plan of ``sql/duckdb/<name>.sql`` (one statement), without running it."""
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    statement = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    used = {k: params[k] for k in _PARAM.findall(statement)}
    (row,) = con.execute("EXPLAIN (FORMAT json) " + statement.strip().rstrip(";"), used).fetchall()
    return json.loads(row[1])


@dataclass(frozen=True)
class TraversalRequest:
    start_id: str
    depth: int = MAX_DEPTH
    min_confidence: float = TRAVERSAL_MIN_CONFIDENCE
    stop_kinds: tuple[str, ...] = HUB_KINDS
    budget: float = DEFAULT_BUDGET  # estimated rows a traversal may touch

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"traversal depth must be 1..{MAX_DEPTH}, got {self.depth}")

    def params(self) -> dict[str, Any]:
        return {
            "start_id": self.start_id,
            "min_confidence": self.min_confidence,
            "stop_kinds": list(self.stop_kinds),
        }

    @property
    def view_compatible(self) -> bool:
        """Whether ``graph_ticket_context`` holds this request's answer."""
        return (
            self.start_id.startswith("ticket:")
            and self.min_confidence == TRAVERSAL_MIN_CONFIDENCE
            and tuple(self.stop_kinds) == HUB_KINDS
        )


@dataclass(frozen=True)
class TraversalResult:
    """The answer, and how it was obtained."""

    request: TraversalRequest
    nodes: pl.DataFrame  # node_id, kind, depth
    store: str  # duckdb | neo4j
    depth: int  # the depth answered (0 when refused)
    mode: str  # exact | materialised_view | shallower | refused
    degraded: bool
    reason: str | None
    estimated_cost: float  # at the requested depth
    costs: dict[int, float] = field(default_factory=dict)  # per depth considered

    def summary(self) -> dict[str, Any]:
        return {
            "start_id": self.request.start_id,
            "store": self.store,
            "requested_depth": self.request.depth,
            "depth": self.depth,
            "mode": self.mode,
            "degraded": self.degraded,
            "reason": self.reason,
            "estimated_cost": round(self.estimated_cost, 1),
            "budget": self.request.budget,
            "nodes": self.nodes.height,
        }


def _plan_estimates_duckdb(plan: list[dict[str, Any]]) -> list[float]:
    """Estimated cardinalities of a DuckDB JSON plan's join operators, outermost first."""
    out: list[float] = []

    def walk(node: dict[str, Any]) -> None:
        if "JOIN" in node.get("name", ""):
            value = node.get("extra_info", {}).get("Estimated Cardinality")
            if value is not None:
                out.append(float(value))
        for child in node.get("children", []):
            walk(child)

    for root in plan:
        walk(root)
    return out


def duckdb_costs(con: duckdb.DuckDBPyConnection, request: TraversalRequest) -> dict[int, float]:
    """Estimated rows a walk from ``request.start_id`` touches, per depth 1..request.depth."""
    params = request.params()
    per_hop: dict[int, float] = {}
    for d in range(1, request.depth + 1):
        joins = _plan_estimates_duckdb(_explain(con, f"graph_traverse_cost_d{d}", params))
        per_hop[d] = joins[0] if joins else 0.0
    # The walk touches every level up to d: cumulative rows.
    cumulative = {d: sum(per_hop[i] for i in range(1, d + 1)) for d in per_hop}
    degree = float(query(con, "graph_start_degree", **params).item(0, "degree"))
    return _scale(cumulative, degree)


def _scale(cumulative: dict[int, float], degree: float) -> dict[int, float]:
    """Scale the planner's cumulative row estimates per depth to a start node of ``degree``."""
    first = cumulative.get(1) or 0.0
    if first <= 0:
        return {d: degree * d for d in cumulative}
    return {d: degree * cumulative[d] / first for d in sorted(cumulative)}


def neo4j_costs(
    driver: neo4j.Driver, request: TraversalRequest, *, database: str | None = None
) -> dict[int, float]:
    """Like :func:`duckdb_costs`, from Neo4j's ``EXPLAIN`` of the traversal at each depth."""
    params = request.params()
    # The traversal at depth d returns every node up to d: its estimate is already cumulative.
    cumulative: dict[int, float] = {}
    for d in range(1, request.depth + 1):
        result = driver.execute_query(
            "EXPLAIN " + one(f"traverse_depth_{d}"), params, database_=database
        )
        cumulative[d] = _max_estimated_rows(result.summary.plan or {})
    records, _, _ = driver.execute_query(
        one("start_degree"),
        {"start_id": request.start_id, "min_confidence": request.min_confidence},
        database_=database,
    )
    degree = float(records[0]["degree"]) if records else 0.0
    return _scale(cumulative, degree)


def _max_estimated_rows(plan: dict[str, Any]) -> float:
    rows = float(plan.get("args", {}).get("EstimatedRows", 0.0))
    for child in plan.get("children", []):
        rows = max(rows, _max_estimated_rows(child))
    return rows


def _degrade(
    request: TraversalRequest,
    costs: dict[int, float],
    store: str,
    run_at: Callable[[int], pl.DataFrame],
    from_view: Callable[[], pl.DataFrame] | None,
) -> TraversalResult:
    cost = costs[request.depth]
    base = {"request": request, "store": store, "estimated_cost": cost, "costs": costs}
    if cost <= request.budget:
        return TraversalResult(
            nodes=run_at(request.depth),
            depth=request.depth,
            mode="exact",
            degraded=False,
            reason=None,
            **base,
        )
    over = (
        f"estimated {cost:,.0f} rows at depth {request.depth} exceed the budget of "
        f"{request.budget:,.0f}"
    )
    if from_view is not None and request.view_compatible:
        return TraversalResult(
            nodes=from_view(),
            depth=request.depth,
            mode="materialised_view",
            degraded=True,
            reason=f"{over}; answered from the materialised view graph_ticket_context "
            "(as of the last graph write)",
            **base,
        )
    for depth in range(request.depth - 1, 0, -1):
        if costs[depth] <= request.budget:
            return TraversalResult(
                nodes=run_at(depth),
                depth=depth,
                mode="shallower",
                degraded=True,
                reason=f"{over}; answered at depth {depth} (estimated {costs[depth]:,.0f} rows)",
                **base,
            )
    return TraversalResult(
        nodes=pl.DataFrame(schema=RESULT_SCHEMA),
        depth=0,
        mode="refused",
        degraded=True,
        reason=f"{over}, and so does every shallower depth; no materialised answer applies",
        **base,
    )


def _view(con: duckdb.DuckDBPyConnection, request: TraversalRequest) -> pl.DataFrame:
    frame = query(con, "graph_ticket_context_read", start_id=request.start_id, depth=request.depth)
    return frame.cast(RESULT_SCHEMA)  # type: ignore[arg-type]


def traverse_duckdb(con: duckdb.DuckDBPyConnection, request: TraversalRequest) -> TraversalResult:
    """Run ``request`` on DuckDB's graph, costed first and degraded when over budget."""
    costs = duckdb_costs(con, request)

    def run_at(depth: int) -> pl.DataFrame:
        frame = query(con, "graph_traverse", depth=depth, **request.params())
        return frame.cast(RESULT_SCHEMA)  # type: ignore[arg-type]

    return _degrade(request, costs, "duckdb", run_at, lambda: _view(con, request))


def traverse_neo4j(
    driver: neo4j.Driver,
    request: TraversalRequest,
    *,
    fallback: duckdb.DuckDBPyConnection | None = None,
    database: str | None = None,
) -> TraversalResult:
    """Run ``request`` on Neo4j; over budget, degrade (to DuckDB's view when ``fallback``)."""
    costs = neo4j_costs(driver, request, database=database)

    def run_at(depth: int) -> pl.DataFrame:
        records, _, _ = driver.execute_query(
            one(f"traverse_depth_{depth}"), request.params(), database_=database
        )
        return pl.DataFrame([r.data() for r in records], schema=RESULT_SCHEMA, orient="row")

    view = (lambda: _view(fallback, request)) if fallback is not None else None
    return _degrade(request, costs, "neo4j", run_at, view)
