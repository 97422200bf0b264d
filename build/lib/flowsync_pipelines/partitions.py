"""Time partitions: one per UTC day, from the organisation's configured start date to today.

Today is a partition while it runs (``end_offset=1``): what arrives this morning is landed and
normalised this morning. A day is *complete* once it has ended; role views and digests speak only
of complete days (:func:`complete_days_end`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import dagster as dg

# The tags that make one run cover a range of partitions (a single-run backfill), as Dagster's
# own backfills and `dagster asset materialize --partition-range` set them.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


# Partitions reach one day past the last complete one: the current UTC day.
TODAY_OFFSET = 1


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from ``start`` up to and including the current day."""
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone="UTC", end_offset=TODAY_OFFSET
    )


def complete_days_end(window_end: datetime, *, now: datetime | None = None) -> datetime:
    """The end of the part of a window made of complete days: ``window_end``, or the start of
    the current UTC day when the window reaches into it (today is still filling up).

    >>> now = datetime(2026, 9, 3, 8, 30, tzinfo=UTC)
    >>> complete_days_end(datetime(2026, 9, 4, tzinfo=UTC), now=now).isoformat()
    '2026-09-03T00:00:00+00:00'
    >>> complete_days_end(datetime(2026, 9, 2, tzinfo=UTC), now=now).isoformat()
    '2026-09-02T00:00:00+00:00'
    """
    now = now or datetime.now(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return min(window_end, today)


def consecutive_days(days: Iterable[str]) -> list[tuple[str, str]]:
    """ISO days grouped into runs of consecutive days, as ``(first, last)`` pairs, in order.

    >>> consecutive_days(["2026-03-03", "2026-03-01", "2026-03-02", "2026-03-09"])
    [('2026-03-01', '2026-03-03'), ('2026-03-09', '2026-03-09')]
    """
    ranges: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if ranges and date.fromisoformat(ranges[-1][1]) + timedelta(days=1) == date.fromisoformat(
            day
        ):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags for one run over the partitions ``first`` … ``last`` (assets need
    ``BackfillPolicy.single_run()``, as FlowSync's all have)."""
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}
