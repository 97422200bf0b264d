"""The sensor that turns queued webhook deliveries into runs for the days they are *about*.

Each tick reads the pending deliveries queued after its cursor (the highest queue id it has read)
and works out the UTC day each is about: the newest event it holds, whenever it was received
(:func:`~flowsync_pipelines.webhooks.drain.about_times`). It then requests one run of
``webhook_ingestion`` — ``webhook_landing`` and everything downstream of it — per stretch of
consecutive days, each a single run over its range (every asset has
``BackfillPolicy.single_run()``). Days already materialised are run again: that is how a late or
replayed delivery counts on its own day. The sensor itself writes nothing; the run lands the
deliveries about its days and re-derives them.

Run keys name the range and its newest queue id, so a range is asked for again only when something
new arrived about it. Today is a partition while it runs (``end_offset=1``), so a delivery received
this morning is landed and normalised by the run the next tick requests; each later delivery about
today re-runs it. Only days after today — a tool whose clock runs ahead of ours — are not partitions
yet: their deliveries stay pending and the sweep asks for them once the day is one. Deliveries
about days before the first partition land with the first partition.

The sweep: deliveries at or before the cursor still pending ten minutes after they were received —
their day was not a partition yet, their run failed before landing them, or another gateway
committed a lower id late.
"""

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from flowsync_pipelines.partitions import consecutive_days, range_tags
from flowsync_pipelines.webhooks.assets import WEBHOOK_LANDING
from flowsync_pipelines.webhooks.drain import about_times
from flowsync_pipelines.webhooks.queue import DeliveryQueue, StoredDelivery
from resources.stores import MetadataResource

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

WEBHOOK_JOB = "webhook_ingestion"
# Pending this long after they were received and passed by the cursor, deliveries are looked at
# again (see the sweep).
STRANDED_AFTER = timedelta(minutes=10)
PAGE = 1000
MAX_PER_TICK = 20_000  # deliveries read per tick and look; the rest waits for the next tick


def webhook_ingestion_job(
    partitions_def: dg.PartitionsDefinition,
) -> "UnresolvedAssetJobDefinition":
    """``webhook_landing`` and everything downstream of it, for a day or a range of days."""
    return dg.define_asset_job(
        WEBHOOK_JOB,
        selection=dg.AssetSelection.assets(WEBHOOK_LANDING).downstream(),
        partitions_def=partitions_def,
        description=(
            "Land the queued webhook deliveries about a range of days and re-derive those days "
            "(signals, identities, role views, graph, digests)."
        ),
    )


def webhook_queue_sensor(
    job: "UnresolvedAssetJobDefinition",
    partitions_def: dg.PartitionsDefinition,
    *,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """A sensor requesting ``job`` for the days newly queued (or stranded) deliveries are about."""

    @dg.sensor(
        name="webhook_queue_sensor",
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "A webhook_ingestion run over each stretch of days that queued deliveries are about, "
            "including days already materialised."
        ),
    )
    def webhook_queue_sensor(
        context: dg.SensorEvaluationContext, metadata: MetadataResource
    ) -> dg.SensorResult:
        cursor = int(context.cursor) if context.cursor else 0
        queue = DeliveryQueue(metadata.url)
        about: dict[int, datetime] = {}
        new_cursor = cursor
        try:
            for page in _pages(queue, after_id=cursor):
                about |= about_times(queue, page)
                new_cursor = max(new_cursor, page[-1].id)
            cutoff = datetime.now(UTC) - STRANDED_AFTER
            for page in _pages(queue, after_id=0, up_to=cursor, received_before=cutoff):
                about |= about_times(queue, page)
        finally:
            queue.dispose()
        requests, waiting = run_requests(about, partitions_def)
        skip_reason = None
        if not requests:
            skip_reason = f"no webhook deliveries to land after queue id {cursor}"
            if waiting:
                skip_reason += "; " + "; ".join(waiting)
        return dg.SensorResult(
            run_requests=requests, cursor=str(new_cursor), skip_reason=skip_reason
        )

    return webhook_queue_sensor


def _pages(
    queue: DeliveryQueue,
    *,
    after_id: int,
    up_to: int | None = None,
    received_before: datetime | None = None,
) -> Iterator[list[StoredDelivery]]:
    """Pending deliveries after ``after_id`` (up to ``up_to``) in queue order, page by page."""
    read = 0
    while read < MAX_PER_TICK:
        page = queue.pending(after_id=after_id, limit=PAGE, received_before=received_before)
        if up_to is not None:
            page = [d for d in page if d.id <= up_to]
        if not page:
            return
        yield page
        read += len(page)
        after_id = page[-1].id


def run_requests(
    about: dict[int, datetime], partitions_def: dg.PartitionsDefinition
) -> tuple[list[dg.RunRequest], list[str]]:
    """One run request per stretch of consecutive partition days the deliveries are about.

    Args:
        about: queue id → the time that delivery is about.
        partitions_def: the daily partitions.

    Returns:
        the run requests, and a note for each day that is not a partition yet.
    """
    newest: dict[str, int] = {}  # day → the newest queue id about it
    for queue_id, moment in about.items():
        day = landing_day(moment, partitions_def)
        newest[day] = max(newest.get(day, 0), queue_id)
    ranges, notes = partition_ranges(newest, partitions_def)
    requests = []
    for first, last in ranges:
        top = max(queue_id for day, queue_id in newest.items() if first <= day <= last)
        tags = {"flowsync/webhook_max_queue_id": str(top)}
        if first == last:
            run_key = f"webhooks:{first}:{top}"
            requests.append(dg.RunRequest(run_key=run_key, partition_key=first, tags=tags))
        else:
            run_key = f"webhooks:{first}...{last}:{top}"
            requests.append(
                dg.RunRequest(run_key=run_key, tags={**tags, **range_tags(first, last)})
            )
    return requests, notes


def landing_day(moment: datetime, partitions_def: dg.PartitionsDefinition) -> str:
    """The partition day a delivery about ``moment`` lands in: its UTC day, or the first
    partition for anything before it (as ``webhook_landing`` lands them)."""
    day = moment.astimezone(UTC).date().isoformat()
    first_day = partitions_def.get_first_partition_key()
    return first_day if first_day is not None and day < first_day else day


def partition_ranges(
    days: Iterable[str], partitions_def: dg.PartitionsDefinition
) -> tuple[list[tuple[str, str]], list[str]]:
    """Stretches of consecutive days that are partitions, and a note for each day not one yet."""
    days = sorted(set(days))
    notes = [
        f"{day} is not a partition yet; asked for again once it is"
        for day in days
        if not partitions_def.has_partition_key(day)
    ]
    return consecutive_days(d for d in days if partitions_def.has_partition_key(d)), notes
