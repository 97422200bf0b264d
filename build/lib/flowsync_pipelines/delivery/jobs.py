"""The thin Dagster side of delivery: one sensor dispatching due subscriptions, one job that
renders and queues them and sends whatever the outbox holds pending.

The sensor ticks every minute; for each subscription it asks :func:`schedule.due` whether the
recipient's local ``send_at`` has passed today (on one of its weekdays) and, unless the outbox
already holds that local day, requests one ``digest_delivery`` run per local day for all of
them. Run keys carry the UTC hour, so a day whose data was not ready is asked for again an hour
later, never twice within one.
"""

import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime

import dagster as dg
from pydantic import Field

from flowsync_pipelines.delivery.compose import compose
from flowsync_pipelines.delivery.outbox import Outbox
from flowsync_pipelines.delivery.roles import recipient_accounts
from flowsync_pipelines.delivery.schedule import due
from flowsync_pipelines.delivery.send import deliver_pending
from resources.delivery import DeliveryResource
from resources.stores import (
    MetadataResource,
    OrganisationResource,
    OutboxResource,
    PrivacyResource,
    WarehouseResource,
)

DELIVERY_JOB = "digest_delivery"


class DeliverConfig(dg.Config):
    """The subscriptions and the recipients' local day to render; none = only send pending."""

    subscription_ids: list[str] = Field(default_factory=list)
    day: str = ""


@dg.op(
    name="deliver_digests",
    description="Render and queue the digests asked for, then send every pending outbox row.",
)
def deliver_digests(
    context: dg.OpExecutionContext,
    config: DeliverConfig,
    warehouse: WarehouseResource,
    metadata: MetadataResource,
    organisation: OrganisationResource,
    outbox: OutboxResource,
    delivery: DeliveryResource,
    privacy: PrivacyResource,
) -> dg.Output[None]:
    settings = organisation.config()
    subscriptions = {s.id: s for s in settings.digests}
    store = metadata.store()
    try:
        queue = Outbox(store)
        inserted = 0
        skipped: list[str] = []
        if config.subscription_ids:
            day = date.fromisoformat(config.day)
            unknown = [i for i in config.subscription_ids if i not in subscriptions]
            if unknown:
                raise ValueError(f"no subscription {', '.join(unknown)} in flowsync.yaml")
            done = queue.enqueued_days(config.subscription_ids, day)
            wanted = [(subscriptions[i], day) for i in config.subscription_ids if i not in done]
            root = outbox.path()
            teams = {t.key: t for t in settings.teams}
            with warehouse.connect(read_only=True) as con:
                composed = compose(
                    con,
                    wanted,
                    teams,
                    resolve=store.resolve,
                    html_base_url=delivery.digest_url(root),
                    accounts=lambda s: recipient_accounts(s, teams, privacy.pseudonym_key),
                )
            inserted, _ = queue.enqueue(composed.rows)
            skipped = composed.skipped
        report = deliver_pending(queue, subscriptions, delivery.senders(outbox.path()))
        counts = queue.counts()
    finally:
        store.dispose()
    return dg.Output(
        None,
        metadata={
            "queued": inserted,
            **{f"delivered_{k}": v for k, v in report.as_dict().items()},
            **{f"outbox_{k}": v for k, v in sorted(counts.items())},
            "not_rendered": dg.MetadataValue.md(
                "\n".join(f"- {s}" for s in skipped) or "_every due subscription rendered_"
            ),
        },
    )


@dg.job(name=DELIVERY_JOB, description="Render, queue and send digests (see the sensor).")
def digest_delivery_job() -> None:
    deliver_digests()


def digest_subscriptions_sensor(
    *, clock: Callable[[], datetime] | None = None, minimum_interval_seconds: int = 60
) -> dg.SensorDefinition:
    """The sensor that sends each subscription at its local ``send_at`` (``clock``: for tests)."""
    now_of = clock or (lambda: datetime.now(UTC))

    @dg.sensor(
        name="digest_subscriptions_sensor",
        job=digest_delivery_job,
        minimum_interval_seconds=minimum_interval_seconds,
        description=(
            "Each subscription's digest at its local send_at on its weekdays (time zones and "
            "daylight saving included), once per local day."
        ),
    )
    def _sensor(
        context: dg.SensorEvaluationContext,
        organisation: OrganisationResource,
        metadata: MetadataResource,
    ) -> dg.SensorResult | dg.SkipReason:
        now = now_of()
        by_day: dict[date, list[str]] = defaultdict(list)
        for subscription in organisation.config().digests:
            day = due(subscription, now)
            if day is not None:
                by_day[day].append(subscription.id)
        if not by_day:
            return dg.SkipReason(f"no subscription is due at {now:%Y-%m-%d %H:%M} UTC")
        store = metadata.store()
        try:
            queue = Outbox(store)
            requests = []
            for day, ids in sorted(by_day.items()):
                wanted = sorted(set(ids) - queue.enqueued_days(ids, day))
                if not wanted:
                    continue
                # One run per local day for everything due at this tick (thousands of
                # subscriptions share a 09:00): the key names the set, so a later arrival
                # gets its own run and a repeated tick none.
                names = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:12]
                requests.append(
                    dg.RunRequest(
                        run_key=f"digest:{day}:{names}:{now:%Y%m%dT%H}",
                        run_config={
                            "ops": {
                                "deliver_digests": {
                                    "config": {"subscription_ids": wanted, "day": str(day)}
                                }
                            }
                        },
                        tags={"flowsync/day": str(day), "flowsync/subscriptions": str(len(wanted))},
                    )
                )
        finally:
            store.dispose()
        if not requests:
            return dg.SkipReason("every due subscription is already in the outbox")
        return dg.SensorResult(run_requests=requests)

    return _sensor
