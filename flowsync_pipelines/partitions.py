"""Time partitions: one per UTC day, from the organisation's configured start date."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import dagster as dg

# The tags that make one run cover a range of partitions (a single-run backfill), as Dagster's
# own backfills and `dagster asset materialize --partition-range` set them.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


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
