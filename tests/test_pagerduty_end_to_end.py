"""PagerDuty end to end: a small world's incidents are polled by the ``pagerduty_landing`` asset,
normalised into ``signals``, and counted as incidents by the role views (opened, restored and
restore time per team), as Sentry's are — through the Dagster job, no piece bypassed.

Only the PagerDuty source is configured (with the organisation's teams), so the run is cheap.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from flowsync_pipelines.definitions import build_definitions
from flowsync_pipelines.ingest import utc_iso
from flowsync_pipelines.sandbox import Sandbox, SandboxServer
from flowsync_pipelines.simulator import World, build_world
from flowsync_pipelines.simulator.conventions import DEMO
from flowsync_pipelines.warehouse import connect

# The demo organisation, paging its on-call through PagerDuty (the demo itself does not).
PAGED = replace(DEMO, name="pagerduty", pagerduty=True)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=7, days=6, conventions=PAGED)


@pytest.fixture(scope="module")
def home(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("pagerduty-e2e") / "home"
    home.mkdir()
    with SandboxServer(Sandbox(world)) as server:
        config = world.config(server.base_urls())
        config["sources"] = [s for s in config["sources"] if s["type"] == "pagerduty"]
        config_file = home / "flowsync.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        defs = build_definitions(home=home, config_file=config_file)
        # Identities and digests are not inputs of the views read here; leaving them out is cheap.
        selection = dg.AssetSelection.all() - dg.AssetSelection.assets("identities", "team_digests")
        result = defs.resolve_job_def("daily_refresh").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=list(selection.resolve(defs.resolve_asset_graph())),
            tags={
                "dagster/asset_partition_range_start": world.start.date().isoformat(),
                "dagster/asset_partition_range_end": (world.end - timedelta(days=1))
                .date()
                .isoformat(),
            },
        )
        assert result.success
    yield home


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(utc_iso(stamp))


def test_every_pagerduty_incident_is_an_incident_citing_its_page(world, home):
    incidents = world.pagerduty_incidents(None, world.end)
    assert incidents
    with connect(home / "flowsync.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT entity_id, url, title, first_seen_at FROM incidents WHERE source = 'pagerduty'"
        ).fetchall()
    found = {entity_id: (url, title, seen) for entity_id, url, title, seen in rows}
    assert set(found) == {f"pagerduty:{i['id']}" for i in incidents}
    for incident in incidents:
        url, title, seen = found[f"pagerduty:{incident['id']}"]
        assert (url, title) == (incident["html_url"], incident["title"])
        assert seen == _at(incident["created_at"])


def test_the_executive_view_counts_them_and_their_restore_time_per_team(world, home):
    """No deployment is configured: an incident is restored when PagerDuty resolved it."""
    team_of = {repo.service: repo.team for repo in world.organisation.repos}
    last_day = (world.end - timedelta(days=1)).date()
    hours: dict[str, list[float]] = {}
    for incident in world.pagerduty_incidents(None, world.end):
        restored = _at(incident["resolved_at"]) - _at(incident["created_at"])
        team = team_of[incident["service"]["summary"]]
        hours.setdefault(team, []).append(restored / timedelta(hours=1))
    with connect(home / "flowsync.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT team, incidents_opened, incidents_restored, restore_p50_hours "
            "FROM exec_team_weekly WHERE as_of_date = ?",
            [last_day],
        ).fetchall()
    by_team = {team: (opened, restored, p50) for team, opened, restored, p50 in rows}
    for team, durations in hours.items():
        opened, restored, p50 = by_team[team]
        assert (opened, restored) == (len(durations), len(durations))
        assert p50 == pytest.approx(statistics.median(durations))
