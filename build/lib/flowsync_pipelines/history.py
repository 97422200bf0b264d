"""``flowsync import``: years of history through the same assets, one run per month or year.

A daily partition per day is right for the daily tick, not for the first import: asking Dagster for
a thousand daily partitions at once spends minutes planning before any work. The import runs
every asset but the digests (nobody is sent last year's mornings) over coarse windows instead —
one single run per calendar year (or month), through the partition range tags every FlowSync
asset honours (``BackfillPolicy.single_run()``) — so the same code lands, normalises and derives
each window, and the instance records every day as materialised. After it, the daily partitions
take over. Each window re-reads every record updated since it opened (a record's later versions
hold its earlier events), so fewer, larger windows cost less in total.

Nothing outside the windows disappears silently: each window's ``signals`` run counts the events
it read that no partition will hold (dated before ``start_date``) and those that belong to days
outside the window, and the import reports them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import dagster as dg

from flowsync_pipelines.definitions import HISTORY_JOB
from flowsync_pipelines.env import DAGSTER_EVENT_BATCH_ENV, DAGSTER_PLANNED_EVENTS_ENV
from flowsync_pipelines.partitions import range_tags

Window = Literal["month", "year", "all"]


def import_windows(since: date, until: date, size: Window) -> list[tuple[date, date]]:
    """Calendar months or years covering ``since`` … ``until`` (inclusive), clipped to them.

    >>> [f"{a}…{b}" for a, b in import_windows(date(2024, 11, 15), date(2025, 1, 3), "month")]
    ['2024-11-15…2024-11-30', '2024-12-01…2024-12-31', '2025-01-01…2025-01-03']
    >>> [f"{a}…{b}" for a, b in import_windows(date(2024, 11, 15), date(2025, 2, 3), "year")]
    ['2024-11-15…2024-12-31', '2025-01-01…2025-02-03']
    """
    if until < since:
        raise ValueError(f"--until {until} is before --since {since}: nothing to import")
    if size == "all":
        return [(since, until)]
    windows = []
    first = since
    while first <= until:
        if size == "year":
            following = date(first.year + 1, 1, 1)
        else:
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = min(until, following - timedelta(days=1))
        windows.append((first, last))
        first = following
    return windows


@dataclass
class WindowRun:
    """One window's run: where its time went and what its ``signals`` counted."""

    first: str
    last: str
    run_id: str
    success: bool
    seconds_planning: float  # from asking for the run to its first step
    seconds_working: float  # from the first step's start to the last step's end
    seconds_total: float
    events: int = 0
    events_before_start_date: int = 0
    records_before_start_date: int = 0
    events_before_window: int = 0
    events_after_window: int = 0


@dataclass
class ImportReport:
    """Every window's run and the totals the command prints."""

    since: str
    until: str
    window: str
    runs: list[WindowRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return all(run.success for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, with the totals."""
        first, last = (self.runs[0], self.runs[-1]) if self.runs else (None, None)
        return {
            "since": self.since,
            "until": self.until,
            "window": self.window,
            "runs": len(self.runs),
            "succeeded": self.success,
            "seconds": round(self.seconds, 2),
            "seconds_planning": round(sum(r.seconds_planning for r in self.runs), 2),
            "seconds_working": round(sum(r.seconds_working for r in self.runs), 2),
            "events": sum(r.events for r in self.runs),
            # The first window reads every record updated since it opened, so its counts of what
            # predates start_date (or --since) are the whole of it; later windows see subsets.
            "records_before_start_date": first.records_before_start_date if first else 0,
            "events_before_start_date": first.events_before_start_date if first else 0,
            "events_before_since": first.events_before_window if first else 0,
            # Likewise the last window sees every event dated after --until.
            "events_after_until": last.events_after_window if last else 0,
            "windows": [asdict(r) for r in self.runs],
        }


def import_history(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    since: date,
    until: date,
    window: Window = "year",
    progress: Callable[[str], None] = print,
) -> ImportReport:
    """Materialise every asset over ``since`` … ``until``, one single run per window.

    Args:
        defs: FlowSync's Definitions (``build_definitions``).
        instance: the Dagster instance that records the runs and materialised partitions.
        since: the first day to import; not before the partitions' first day (``start_date``).
        until: the last day to import (inclusive).
        window: ``month`` or ``year``: how many days one run covers.
        progress: receives one line per window as it finishes.

    Returns:
        each window's run, timings and counts; stops at the first window that fails.

    Raises:
        ValueError: ``since`` is before ``start_date``, or ``until`` after today.
    """
    job = defs.resolve_job_def(HISTORY_JOB)
    check_range(defs, since, until)
    report = ImportReport(since.isoformat(), until.isoformat(), window)
    windows = import_windows(since, until, window)
    started = time.perf_counter()
    for number, (first, last) in enumerate(windows, start=1):
        run = _run_window(job, instance, first.isoformat(), last.isoformat())
        report.runs.append(run)
        progress(
            f"[{number}/{len(windows)}] {run.first} … {run.last}: "
            f"{'ok' if run.success else 'FAILED'} in {run.seconds_total:.1f} s "
            f"(planning {run.seconds_planning:.1f} s, working {run.seconds_working:.1f} s), "
            f"{run.events} events, run {run.run_id}"
        )
        if not run.success:
            break
    report.seconds = time.perf_counter() - started
    return report


def check_range(defs: dg.Definitions, since: date, until: date) -> None:
    """Refuse a range the daily partitions do not cover, saying what to change.

    Raises:
        ValueError: ``since`` is before ``start_date``, or ``until`` after today.
    """
    partitions = defs.resolve_job_def(HISTORY_JOB).partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    first_key = partitions.get_first_partition_key()
    last_key = partitions.get_last_partition_key()
    if first_key is None or last_key is None:
        raise ValueError("start_date is after today: there is no partition to import into yet")
    if since.isoformat() < first_key:
        message = (
            f"--since {since} is before start_date {first_key}, the first daily partition: set "
            f'start_date: "{since}" in flowsync.yaml to import from {since}'
        )
        raise ValueError(message)
    if until.isoformat() > last_key:
        raise ValueError(f"--until {until} is after today ({last_key}): nothing is known yet")
    if until < since:
        raise ValueError(f"--until {until} is before --since {since}: nothing to import")


# Dagster's own switches for ranged runs, set only while the import's runs execute:
# - one "materialisation planned" event per asset instead of one per asset and day: thousands of
#   writes before the first step of a year's window. The cost: a failed window's days are not
#   marked failed in the UI; the import itself reports the failure.
# - the per-day materialisations of a ranged step written in batches: PostgreSQL (the production
#   instance) inserts each batch at once instead of one transaction per asset and day; SQLite
#   storage still writes them one by one.
IMPORT_SWITCHES = {
    DAGSTER_PLANNED_EVENTS_ENV: "true",
    DAGSTER_EVENT_BATCH_ENV: "1000",
}


@contextmanager
def _import_switches() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in IMPORT_SWITCHES}
    os.environ.update(IMPORT_SWITCHES)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_window(
    job: dg.JobDefinition, instance: dg.DagsterInstance, first: str, last: str
) -> WindowRun:
    asked = time.time()
    clock = time.perf_counter()
    with _import_switches():
        result = job.execute_in_process(
            instance=instance,
            tags={**range_tags(first, last), "flowsync/import": f"{first}...{last}"},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
    total = time.perf_counter() - clock
    steps = [
        entry
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event_type
        in (
            dg.DagsterEventType.STEP_START,
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        )
    ]
    work_start = min((e.timestamp for e in steps), default=asked)
    work_end = max((e.timestamp for e in steps), default=work_start)
    run = WindowRun(
        first=first,
        last=last,
        run_id=result.run_id,
        success=result.success,
        seconds_planning=max(0.0, work_start - asked),
        seconds_working=work_end - work_start,
        seconds_total=total,
    )
    if result.success:
        signals = result.asset_materializations_for_node("signals")
        values = {k: v.value for k, v in signals[0].metadata.items()} if signals else {}
        run.events = int(values.get("dagster/row_count", 0))
        for name in (
            "events_before_start_date",
            "records_before_start_date",
            "events_before_window",
            "events_after_window",
        ):
            setattr(run, name, int(values.get(name, 0)))
    return run
