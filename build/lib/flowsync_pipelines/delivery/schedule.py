"""When a subscription is due, in its recipient's own time zone.

``send_at`` is wall-clock time in the subscription's zone. On a spring-forward day a time that
does not exist (02:30 in Berlin on the last Sunday of March) is read with the offset before the
change, so it goes out at 03:30; on a fall-back day a time that happens twice goes out at its
first occurrence. Either way a subscription is enqueued at most once per local day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flowsync_pipelines.settings import WEEKDAYS, DigestSubscription


def send_instant(subscription: DigestSubscription, day: date) -> datetime:
    """The UTC instant of ``send_at`` on the local day ``day``."""
    local = datetime.combine(day, subscription.local_send_time).replace(
        tzinfo=ZoneInfo(subscription.timezone), fold=0
    )
    return local.astimezone(UTC)


def local_day(subscription: DigestSubscription, now: datetime) -> date:
    return now.astimezone(ZoneInfo(subscription.timezone)).date()


def due(subscription: DigestSubscription, now: datetime) -> date | None:
    """The local day whose digest is due at ``now`` (aware): today's local date when today is one
    of the subscription's weekdays and its ``send_at`` has passed; else None.

    Whether that day was already enqueued is the outbox's business, not this function's.
    """
    if now.tzinfo is None:
        raise ValueError("due() needs an aware datetime (UTC), not a naive one")
    day = local_day(subscription, now)
    if WEEKDAYS[day.weekday()] not in subscription.weekdays:
        return None
    return day if now >= send_instant(subscription, day) else None


def data_day(subscription: DigestSubscription, day: date) -> date:
    """The last complete UTC day (of the pipeline's daily partitions) before the local morning
    of ``day``: the digest for local day D speaks of the data known by D's ``send_at``.

    Berlin, New York and Kolkata at 09:00 get D − 1; Auckland at 09:00 (20:00 UTC of D − 1) gets
    D − 2, since D − 1 UTC has not ended yet.
    """
    return send_instant(subscription, day).date() - timedelta(days=1)
