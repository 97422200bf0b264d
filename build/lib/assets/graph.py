"""``context_graph``: signals -> nodes and calibrated links, in DuckDB and (when set) Neo4j."""

import time

import dagster as dg

from flowsync_pipelines.graph.calibrate import LinkModel, ece_bound, fitted_models
from flowsync_pipelines.graph.inputs import jira_issue_records, load_inputs
from flowsync_pipelines.graph.linking import ContextGraph, build_graph
from flowsync_pipelines.graph.neo4j_sync import sync_window
from flowsync_pipelines.graph.spec import LINK_TYPES
from flowsync_pipelines.graph.store import write_window
from flowsync_pipelines.warehouse import query
from resources.neo4j import Neo4jResource
from resources.stores import (
    LandingResource,
    OrganisationResource,
    PrivacyResource,
    WarehouseResource,
)

CALIBRATION_CHECK = "link_calibration"


def context_graph_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="context_graph",
        group_name="context_graph",
        kinds={"duckdb", "neo4j", "scikitlearn"},
        # identities: accounts resolved to persons (read when its table exists).
        deps=["signals", "identities"],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec(CALIBRATION_CHECK, asset="context_graph")],
        description=(
            "People, work items, builds, deployments, incidents and designs as nodes; facts and "
            "inferred links as edges with a calibrated confidence, a method and evidence event "
            "ids. DuckDB graph_nodes/graph_edges always, mirrored to Neo4j when NEO4J_URI is set."
        ),
    )
    def context_graph(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        landing: LandingResource,
        organisation: OrganisationResource,
        privacy: PrivacyResource,
        neo4j: Neo4jResource,
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        models = fitted_models(LINK_TYPES)
        timings["fit_models"] = time.perf_counter() - clock

        config = organisation.config()
        store = landing.store()
        jira_issues = jira_issue_records(store, config)

        clock = time.perf_counter()
        with warehouse.connect() as con:
            inputs = load_inputs(con, config, privacy.pseudonym_key, jira_issues=jira_issues)
            graph = build_graph(con, inputs, lambda link, c: models[link.name].predict(c))
            timings["link"] = time.perf_counter() - clock
            clock = time.perf_counter()
            written = write_window(con, graph, start, end)
            totals = query(con, "graph_counts").row(0, named=True)
            timings["duckdb_write"] = time.perf_counter() - clock

        neo4j_metadata: dict[str, object] = {"neo4j": "disabled (NEO4J_URI not set)"}
        if neo4j.enabled:
            clock = time.perf_counter()
            with neo4j.driver() as driver:
                report = sync_window(
                    driver,
                    graph,
                    start,
                    end,
                    batch_size=neo4j.batch_size,
                    database=neo4j.database_name,
                )
            neo4j_metadata = {"neo4j": "mirrored", **report.as_metadata()}
            timings["neo4j_write"] = time.perf_counter() - clock

        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": written.edges.height,
                "nodes_written": written.nodes.height,
                "edges_written": written.edges.height,
                "nodes_total": int(totals["nodes"]),
                "edges_total": int(totals["edges"]),
                "edges_by_link_type": dg.MetadataValue.json(_by_band(graph)),
                "incidents_without_cause": graph.unexplained_incidents(),
                "calibration": dg.MetadataValue.json(
                    {name: model.describe() for name, model in models.items()}
                ),
                "preview": dg.MetadataValue.md(_preview(graph)),
                "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in timings.items()}),
                **neo4j_metadata,
            },
            check_results=[_calibration_check(models)],
        )

    return context_graph


def _by_band(graph: ContextGraph) -> dict[str, dict[str, int]]:
    counts = graph.edges.group_by("link_type", "band").len()
    out: dict[str, dict[str, int]] = {}
    for link_type, band, n in counts.sort("link_type", "band").iter_rows():
        out.setdefault(link_type, {})[band] = n
    return out


def _calibration_check(models: dict[str, LinkModel]) -> dg.AssetCheckResult:
    per_type = {}
    failing = []
    for name, model in models.items():
        # Held-out conventions where a set exists: the training worlds' out-of-fold figure
        # would flatter a model that learnt their habits.
        c = model.held_out or model.calibration
        bound = ece_bound(c.rows)
        per_type[name] = {
            "measured_on": "held_out_conventions" if model.held_out else "training_out_of_fold",
            "rows": c.rows,
            "ece": round(c.ece, 4),
            "bound": round(bound, 4),
            "brier": round(c.brier, 4),
        }
        if c.ece > bound:
            failing.append(name)
    return dg.AssetCheckResult(
        check_name=CALIBRATION_CHECK,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "Expected calibration error of every link type's confidence on organisations whose "
            "conventions were held out of training (else out of fold, whole worlds left out) "
            "within max(0.05, 1/sqrt(labelled rows))."
            + (f" Over the bound: {', '.join(failing)}." if failing else "")
        ),
        metadata={"link_types": dg.MetadataValue.json(per_type), "failing": ", ".join(failing)},
    )


def _preview(graph: ContextGraph) -> str:
    frame = (
        graph.links("pr_ticket")
        .sort("confidence", "edge_id", descending=[False, False])
        .select("src", "dst", "confidence", "band", "method")
        .head(10)
    )
    if frame.is_empty():
        return "_no pull request ↔ ticket links_"
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows())
    return "Least confident pull request ↔ ticket links:\n\n" + header + body
