"""``flowsync import``: history in coarse windows through the same assets, nothing dropped unsaid.

The demo world is served from the sandboxes and imported by the real command in its own process,
into a real Dagster instance; the counts it reports are checked against the landing zone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml

from flowsync_pipelines.history import import_windows
from flowsync_pipelines.instance import prepare_dagster_home
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.normalise import SCHEDULED_KINDS, normalise
from flowsync_pipelines.settings import Paths
from tests.conftest import PSEUDONYM_KEY, Deployment

FLOWSYNC = os.path.join(os.path.dirname(sys.executable), "flowsync")


def flowsync_import(deployment: Deployment, dagster_home: Path, *args: str):
    env = {
        **os.environ,
        "FLOWSYNC_HOME": str(deployment.home),
        "FLOWSYNC_CONFIG": str(deployment.config_file),
        "DAGSTER_HOME": str(dagster_home),
    }
    return subprocess.run(
        [FLOWSYNC, "import", *args], env=env, capture_output=True, text=True, timeout=900
    )


def move_start_date(deployment: Deployment, start: date) -> None:
    config = yaml.safe_load(deployment.config_file.read_text())
    config["start_date"] = start.isoformat()
    deployment.config_file.write_text(yaml.safe_dump(config, sort_keys=False))


def test_windows_are_calendar_months_or_years_clipped_to_the_range():
    assert import_windows(date(2023, 12, 30), date(2024, 3, 2), "month") == [
        (date(2023, 12, 30), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 2)),
    ]
    assert import_windows(date(2023, 12, 30), date(2025, 1, 1), "year") == [
        (date(2023, 12, 30), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 1, 1)),
    ]
    with pytest.raises(ValueError, match="before --since"):
        import_windows(date(2024, 3, 2), date(2024, 3, 1), "month")


def test_import_before_start_date_is_refused_saying_what_to_change(deployment, tmp_path):
    start = deployment.world.start.date()
    earlier = start - timedelta(days=31)
    done = flowsync_import(deployment, tmp_path / "dagster", "--since", earlier.isoformat())
    assert done.returncode == 2
    assert f'set start_date: "{earlier}" in flowsync.yaml' in done.stderr
    assert not Paths(home=deployment.home).duckdb.exists()


def test_import_runs_one_run_per_month_and_reports_what_it_does_not_keep(
    deployment, tmp_path, monkeypatch
):
    world = deployment.world
    start = world.start.date() + timedelta(days=24)  # history before start_date exists
    # Two windows: to the end of start's month, then four days of the next (days after the
    # import exist: the world runs on for weeks).
    until = date(start.year + start.month // 12, start.month % 12 + 1, 4)
    assert until < (world.end - timedelta(days=7)).date()
    move_start_date(deployment, start)
    dagster_home = prepare_dagster_home(tmp_path / "dagster").parent

    done = flowsync_import(
        deployment,
        dagster_home,
        "--since",
        start.isoformat(),
        "--until",
        until.isoformat(),
        "--window",
        "month",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    windows = import_windows(start, until, "month")
    assert [(w["first"], w["last"]) for w in report["windows"]] == [
        (a.isoformat(), b.isoformat()) for a, b in windows
    ]
    assert f"[{len(windows)}/{len(windows)}] {windows[-1][0]} … {until}: ok" in done.stderr

    # Every day of the range is materialised, in as many runs as windows: the daily partitions
    # carry on from there.
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        materialised = instance.get_materialized_partitions(dg.AssetKey("signals"))
        runs = instance.get_runs()
    days = {(start + timedelta(days=n)).isoformat() for n in range((until - start).days + 1)}
    assert materialised == days
    assert len(runs) == len(windows)

    # What the windows kept and what they did not, against the landing zone itself.
    latest = LandingStore(Paths(home=deployment.home).landing).latest()
    start_at = pl.lit(start).cast(pl.Datetime("us", "UTC"))
    end_at = pl.lit(until + timedelta(days=1)).cast(pl.Datetime("us", "UTC"))
    scheduled = pl.concat_str("source", pl.lit("/"), "kind").is_in(
        [f"{s}/{k}" for s, k in SCHEDULED_KINDS]
    )
    read = latest.filter(
        pl.col("updated_at").is_null() | (pl.col("updated_at") >= start_at) | scheduled
    )
    events = normalise(read, pseudonym_key=PSEUDONYM_KEY).signals
    with duckdb.connect(str(Paths(home=deployment.home).duckdb), read_only=True) as con:
        (kept,) = con.execute("SELECT count(*) FROM signals").fetchone()
    in_range = events.filter((pl.col("occurred_at") >= start_at) & (pl.col("occurred_at") < end_at))
    # signals holds each event id once (two records may state the same event).
    assert report["events"] == kept == in_range.unique("event_id").height
    assert report["records_before_start_date"] == latest.height - read.height > 0
    before = events.filter(pl.col("occurred_at") < start_at).height
    assert report["events_before_start_date"] == before > 0
    after = events.filter(pl.col("occurred_at") >= end_at).height
    assert report["events_after_until"] == after > 0
    assert report["seconds_planning"] > 0 and report["seconds_working"] > 0


def test_the_refresh_schedule_runs_today_hourly_and_completes_yesterday_at_five(deployment):
    defs = deployment.definitions()
    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    today = datetime.now(UTC).date()  # the partitions end with the current day

    def requested(hour: int) -> list[tuple[str | None, str | None, str | None]]:
        moment = datetime.combine(today, time(hour), tzinfo=UTC)
        with dg.build_schedule_context(
            scheduled_execution_time=moment, repository_def=defs.get_repository_def()
        ) as context:
            result = schedule.evaluate_tick(context)
        return [
            (
                r.partition_key,
                r.tags.get("dagster/asset_partition_range_start"),
                r.tags.get("dagster/asset_partition_range_end"),
            )
            for r in result.run_requests or []
        ]

    yesterday = (today - timedelta(days=1)).isoformat()
    assert requested(14) == [(today.isoformat(), None, None)]
    assert requested(5) == [(None, yesterday, today.isoformat())]
