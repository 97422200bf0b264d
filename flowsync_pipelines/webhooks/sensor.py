"""The sensor that turns queued webhook deliveries into runs of ``webhook_landing`` + ``signals``.

The cursor is the highest queue id seen. Each tick asks the queue which UTC days received
deliveries after it and requests one run per day (``partition_key`` = the day). Run keys name
the day and its newest delivery id, so a day is asked for again only when something new arrived.

A second look sweeps deliveries at or before the cursor that are still pending ten minutes on:
their run failed, or their day was not yet a partition (a daily partition exists once its day has
ended, unless the partitions definition has an ``end_offset``), or another gateway committed a
lower id late.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from flowsync_pipelines.webhooks.assets import WEBHOOK_LANDING
from flowsync_pipelines.webhooks.queue import DayActivity, DeliveryQueue
from resources.stores import MetadataResource

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

WEBHOOK_JOB = "webhook_ingestion"
SIGNALS = dg.AssetKey("signals")
# Pending this long after the cursor passed them, deliveries are asked for again (see the sweep).
STRANDED_AFTER = timedelta(minutes=10)


def webhook_ingestion_job(
    partitions_def: dg.PartitionsDefinition,
) -> "UnresolvedAssetJobDefinition":
    """``webhook_landing`` and the ``signals`` it feeds, for one day."""
    return dg.define_asset_job(
        WEBHOOK_JOB,
        selection=dg.AssetSelection.assets(WEBHOOK_LANDING, SIGNALS),
        partitions_def=partitions_def,
        description="Land queued webhook deliveries of a day and re-derive that day's signals.",
    )


def webhook_queue_sensor(
    job: "UnresolvedAssetJobDefinition",
    partitions_def: dg.PartitionsDefinition,
    *,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """A sensor requesting ``job`` for each UTC day with newly queued (or stranded) deliveries."""

    @dg.sensor(
        name="webhook_queue_sensor",
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="A webhook_landing + signals run for each day that received deliveries.",
    )
    def webhook_queue_sensor(
        context: dg.SensorEvaluationContext, metadata: MetadataResource
    ) -> dg.SensorResult:
        cursor = int(context.cursor) if context.cursor else 0
        queue = DeliveryQueue(metadata.url)
        try:
            fresh = queue.days_after(cursor)
            stranded = queue.days_pending_up_to(
                cursor, received_before=datetime.now(UTC) - STRANDED_AFTER
            )
        finally:
            queue.dispose()
        new_cursor = max([cursor, *(d.max_id for d in fresh)])
        requests, waiting = _run_requests([*fresh, *stranded], partitions_def)
        skip_reason = None
        if not requests:
            skip_reason = f"no webhook deliveries to land after queue id {cursor}"
            if waiting:
                skip_reason += "; " + "; ".join(waiting)
        return dg.SensorResult(
            run_requests=requests, cursor=str(new_cursor), skip_reason=skip_reason
        )

    return webhook_queue_sensor


def _run_requests(
    activity: list[DayActivity], partitions_def: dg.PartitionsDefinition
) -> tuple[list[dg.RunRequest], list[str]]:
    """One run request per day that is a partition; a note for each day that is not."""
    newest: dict[str, int] = {}
    for day in activity:
        newest[day.day] = max(newest.get(day.day, 0), day.max_id)
    first_day = partitions_def.get_first_partition_key()
    requests, notes = [], []
    for day, max_id in sorted(newest.items()):
        if first_day is not None and day < first_day:
            notes.append(
                f"{day} is before the first partition {first_day}: "
                "land it with `flowsync webhooks drain`"
            )
        elif not partitions_def.has_partition_key(day):
            notes.append(f"{day} is not a partition yet; asked for again once it is")
        else:
            requests.append(
                dg.RunRequest(
                    run_key=f"webhooks:{day}:{max_id}",
                    partition_key=day,
                    tags={"flowsync/webhook_max_queue_id": str(max_id)},
                )
            )
    return requests, notes
