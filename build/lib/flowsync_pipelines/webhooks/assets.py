"""``webhook_landing``: the queued deliveries about a window's days, drained into the landing zone.

A delivery belongs to the day it is *about* (the newest event it holds, see
:func:`~flowsync_pipelines.webhooks.drain.about_times`), not the day it was received: a late or
replayed delivery lands with the partition of its own day, and that day's ``signals`` count it.
Deliveries about days before the first partition land with the first partition.

No ``from __future__ import annotations`` here: Dagster reads the context and resource
annotations as real types.
"""

from datetime import timedelta

import dagster as dg

from flowsync_pipelines.webhooks.drain import drain
from flowsync_pipelines.webhooks.queue import DeliveryQueue
from resources.stores import LandingResource, MetadataResource

WEBHOOK_LANDING = dg.AssetKey("webhook_landing")
# A tool's clock may run ahead of ours: a delivery received this long before a window opened may
# still be about the window. Older ones are not read when the window's deliveries are drained.
CLOCK_SKEW = timedelta(days=1)


def webhook_landing_asset(partitions_def: dg.TimeWindowPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset that lands the queued webhook deliveries about one UTC day (or a range)."""

    @dg.asset(
        key=WEBHOOK_LANDING,
        group_name="landing",
        kinds={"webhooks", "parquet"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=(
            "Webhook deliveries about the window's days (by their own event times, whenever "
            "received), landed with provenance (request = delivery:<id>); GitHub pull requests "
            "and reviews as polled kinds."
        ),
    )
    def webhook_landing(
        context: dg.AssetExecutionContext, landing: LandingResource, metadata: MetadataResource
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        first = partitions_def.get_first_partition_window()
        # The first partition also takes what happened before it: no other partition would.
        about_from = None if first is None or window.start <= first.start else window.start
        queue = DeliveryQueue(metadata.url)
        try:
            report = drain(
                queue,
                landing.store(),
                about_from=about_from,
                about_before=window.end,
                received_from=None if about_from is None else about_from - CLOCK_SKEW,
            )
            states = queue.count_by_state()
        finally:
            queue.dispose()
        opened = window.start.date().isoformat()
        elsewhere = {day: n for day, n in report.left_pending.items() if day < opened}
        if elsewhere:
            context.log.warning(
                f"{sum(elsewhere.values())} pending deliveries are about earlier days "
                f"{', '.join(sorted(elsewhere))}: webhook_queue_sensor requests their runs; "
                "with the sensor off, `flowsync webhooks drain` lands them and prints the run"
            )
        return dg.MaterializeResult(
            metadata={
                "deliveries_drained": report.deliveries,
                "records_landed": report.new_versions,
                "records_built": report.records,
                "deliveries_quarantined": report.quarantined,
                "deliveries_by_day": dg.MetadataValue.json(dict(sorted(report.days.items()))),
                "records_by_kind": dg.MetadataValue.json(dict(sorted(report.by_kind.items()))),
                "unknown_event_types": dg.MetadataValue.json(dict(report.unknown_events)),
                "pending_about_earlier_days": dg.MetadataValue.json(
                    dict(sorted(elsewhere.items()))
                ),
                "queue_pending": states.get("pending", 0),
            }
        )

    return webhook_landing
