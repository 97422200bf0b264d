"""``webhook_landing``: the deliveries received in a window, drained into the landing zone.

No ``from __future__ import annotations`` here: Dagster reads the context and resource
annotations as real types.
"""

import dagster as dg

from flowsync_pipelines.webhooks.drain import drain
from flowsync_pipelines.webhooks.queue import DeliveryQueue
from resources.stores import LandingResource, MetadataResource

WEBHOOK_LANDING = dg.AssetKey("webhook_landing")


def webhook_landing_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset that lands queued webhook deliveries, one UTC day (or a range) per run."""

    @dg.asset(
        key=WEBHOOK_LANDING,
        group_name="landing",
        kinds={"webhooks", "parquet"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=(
            "Webhook deliveries received in the window, landed with provenance "
            "(request = delivery:<id>); GitHub pull requests and reviews as polled kinds."
        ),
    )
    def webhook_landing(
        context: dg.AssetExecutionContext, landing: LandingResource, metadata: MetadataResource
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        queue = DeliveryQueue(metadata.url)
        try:
            report = drain(
                queue, landing.store(), received_from=window.start, received_before=window.end
            )
            states = queue.count_by_state()
        finally:
            queue.dispose()
        return dg.MaterializeResult(
            metadata={
                "deliveries_drained": report.deliveries,
                "records_landed": report.new_versions,
                "records_built": report.records,
                "deliveries_quarantined": report.quarantined,
                "records_by_kind": dg.MetadataValue.json(dict(sorted(report.by_kind.items()))),
                "unknown_event_types": dg.MetadataValue.json(dict(report.unknown_events)),
                "queue_pending": states.get("pending", 0),
            }
        )

    return webhook_landing
