"""Ingestion assets: one per configured source, each an incremental sync into landing."""

import dagster as dg

from flowsync_pipelines.ingest import run_sync
from resources.http import RequestStats
from resources.stores import LandingResource, MetadataResource

INGESTION_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def landing_asset(
    source_name: str, source_type: str, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """The ingestion asset of one source: sync since its cursor, land, report the cost."""

    @dg.asset(
        name=f"{source_name}_landing",
        group_name="landing",
        kinds={source_type, "parquet"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=INGESTION_RETRY,
        # The tool resource is named after the source, so it is looked up by key.
        required_resource_keys={source_name, "landing", "metadata"},
        description=f"Raw {source_type} records, landed incrementally with provenance.",
    )
    def _landing(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        tool = getattr(context.resources, source_name)
        landing: LandingResource = context.resources.landing
        metadata: MetadataResource = context.resources.metadata
        stats = RequestStats()
        connector = tool.connector(stats)
        store = metadata.store()
        try:
            report = run_sync(connector, landing.store(), store, source=source_name)
        finally:
            # HTTP connectors hold a client; the local git connector holds nothing.
            (getattr(connector, "close", None) or connector.client.close)()
            store.dispose()
        before = {f"{e['scope']}/{e['endpoint']}": e["cursor_before"] for e in report.endpoints}
        after = {f"{e['scope']}/{e['endpoint']}": e["cursor_after"] for e in report.endpoints}
        return dg.MaterializeResult(
            metadata={
                "records_landed": report.landed,
                "records_fetched": report.fetched,
                **stats.as_metadata(),
                "cursors_before": dg.MetadataValue.json(before),
                "cursors_after": dg.MetadataValue.json(after),
                "endpoints": dg.MetadataValue.json(report.endpoints),
            }
        )

    return _landing
