"""PagerDuty connector against the PagerDuty sandbox: the contract, then PagerDuty's quirks.

The sandbox speaks REST API v2 as PagerDuty does: ``Authorization: Token token=…``, classic
``limit`` / ``offset`` / ``more`` pagination, ``since`` / ``until`` at most six months apart, and
429 with ``ratelimit-reset`` (no ``Retry-After``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl
import pytest

from flowsync_pipelines.ingest import utc_iso
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.sandbox import Faults
from flowsync_pipelines.simulator import World, build_world
from flowsync_pipelines.simulator.conventions import DEMO
from flowsync_pipelines.simulator.render_pagerduty import WEB
from flowsync_pipelines.sources.pagerduty.connector import MAX_WINDOW, is_resolved
from resources.http import _retry_after_seconds
from tests.connector_contract import ConnectorContract, Records

KEY = "pagerduty-test-key"

# The demo organisation, paging its on-call through PagerDuty (the demo itself does not).
PAGED = replace(DEMO, name="pagerduty", pagerduty=True)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=7, days=12, conventions=PAGED)


def expected_records(world: World, as_of: datetime) -> Records:
    """Incidents and their log entries at ``as_of``, per service.

    An incident that is not resolved has no watermark, nor have its log entries: the connector
    reads them again on every sync until it is resolved.
    """
    records: Records = {}
    for service in world.pagerduty_services():
        for incident in world.pagerduty_incidents(service, as_of):
            mark = incident["created_at"] if is_resolved(incident) else None
            records["incidents", incident["id"]] = (incident, mark, service)
            for entry in world.pagerduty_log_entries(incident["id"], as_of) or []:
                key = f"{incident['id']}/log_entries/{entry['id']}"
                records["log_entries", key] = (entry, mark, service)
    return records


def _open_at(world: World, as_of: datetime) -> list[dict[str, Any]]:
    return [i for i in world.pagerduty_incidents(None, as_of) if not is_resolved(i)]


class TestPagerDutyConnector(ConnectorContract):
    tool = "pagerduty"
    # PagerDuty sends no ETag: a sync with nothing new re-reads each service's recent incidents.
    conditional = False
    fault_page_size = 2
    # The incident list of the first service, the log of its first incident, then the crash.
    crash_after_requests = 2

    def expected(self, world: World, as_of: datetime) -> Records:
        return expected_records(world, as_of)

    def test_an_immediate_second_sync_is_conditional_and_lands_nothing(self, make, world):
        """No ETags: one list request per service, plus the log of each incident still open."""
        deployment = make()
        deployment.sync()
        report, stats = deployment.sync()
        assert report.landed == 0
        assert stats.requests <= len(report.endpoints) + len(_open_at(world, world.end))

    def test_the_api_key_travels_as_a_token_not_a_bearer(self, make):
        deployment = make()
        url = deployment.server.base_urls()["pagerduty"] + "/incidents"
        bearer = httpx.get(url, headers={"Authorization": "Bearer sandbox-token"})
        assert bearer.status_code == 401
        assert bearer.json()["error"]["message"] == "Unauthorized"
        report, _ = deployment.sync()
        assert report.landed > 0

    def test_small_pages_follow_offset_until_more_is_false(self, make, world):
        deployment = make()
        _, stats = deployment.sync(page_size=2)
        incidents = len(world.pagerduty_incidents(None, world.end))
        assert stats.requests > incidents // 2  # many pages of two
        assert deployment.landed() == self._versions(world)

    def test_a_page_size_over_the_api_limit_is_capped_at_100(self, make, world):
        deployment = make()
        deployment.sync(page_size=500)  # the sandbox answers 400 to limit > 100
        assert deployment.landed() == self._versions(world)

    def test_a_long_pause_is_read_in_windows_of_at_most_six_months(self, make, world):
        deployment = make()
        services = world.pagerduty_services()
        for service in services:  # a cursor from a year ago
            deployment.metadata.save_sync_position(
                "pagerduty", service, "incidents", cursor="2025-09-01T00:00:00+00:00", etag=None
            )
        _, stats = deployment.sync()
        windows = (datetime.now(UTC) - datetime(2025, 9, 1, tzinfo=UTC)) / MAX_WINDOW
        assert stats.requests >= len(services) * int(windows + 1)
        assert deployment.landed() == self._versions(world)

    def test_429_with_ratelimit_reset_is_waited_out_for_the_seconds_it_names(self, make, world):
        faults = Faults(error_rate=0.15, error_kinds=("429",), retry_after_s=1, seed=5)
        deployment = make(faults=faults)
        _, stats = deployment.sync(max_attempts=10)
        assert stats.retries > 0
        assert stats.rate_limit_wait_s == pytest.approx(stats.retries * 1.0)
        assert deployment.landed() == self._versions(world)

    def test_ratelimit_reset_counts_only_when_the_quota_is_spent(self):
        spent = httpx.Response(429, headers={"ratelimit-remaining": "0", "ratelimit-reset": "7"})
        left = httpx.Response(200, headers={"ratelimit-remaining": "5", "ratelimit-reset": "7"})
        assert _retry_after_seconds(spent, 0.0) == 7.0
        assert _retry_after_seconds(left, 0.0) is None

    def test_an_open_incident_is_re_read_until_it_is_resolved(self, make, world):
        incident, ack = _acknowledged_instant(world)
        deployment = make(as_of=ack)
        deployment.sync()
        service = incident["service"]["id"]
        assert _landed_status(deployment, incident["id"]) == "acknowledged"
        cursor, _ = deployment.metadata.sync_position("pagerduty", service, "incidents")
        assert cursor is None or cursor < utc_iso(incident["created_at"])

        resolved_at = _resolved_at(world, incident["id"])
        deployment.server.sandbox.set_clock(resolved_at + timedelta(hours=1))
        deployment.sync()
        assert _landed_status(deployment, incident["id"]) == "resolved"
        kinds = _log_types(deployment, incident["id"])
        assert "resolve_log_entry" in kinds and "acknowledge_log_entry" in kinds
        cursor, _ = deployment.metadata.sync_position("pagerduty", service, "incidents")
        assert cursor >= utc_iso(incident["created_at"])

    def test_landed_incidents_normalise_into_incident_events_citing_html_url(self, make, world):
        deployment = make()
        deployment.sync()
        result = normalise(deployment.landing.latest(source="pagerduty"), pseudonym_key=KEY)
        assert result.quarantine.is_empty(), result.quarantine.to_dicts()
        events = result.signals
        incidents = world.pagerduty_incidents(None, world.end)
        assert set(events.get_column("entity_type")) == {"incident"}
        opened = events.filter(action="first_seen")
        assert sorted(opened.get_column("entity_id")) == sorted(
            f"pagerduty:{i['id']}" for i in incidents
        )
        assert opened.get_column("url").str.starts_with(f"{WEB}/incidents/").all()
        resolved = events.filter(action="resolved").get_column("entity_id").unique()
        assert resolved.len() == sum(is_resolved(i) for i in incidents)
        acked = events.filter(action="acknowledged")
        assert acked.height > 0 and (acked.get_column("actor_kind") == "human").all()
        assert acked.get_column("actor").str.starts_with("p_").all()
        # Names stay in the vault: no user's name in any event, only pseudonyms.
        names = {p.name for p in world.people}
        dumped = events.write_json()
        assert not [n for n in names if n in dumped]
        attributes = [json.loads(a) for a in opened.get_column("attributes")]
        services = {r.service for r in world.organisation.repos}
        assert {a["project"] for a in attributes} <= services
        assert result.accounts.get_column("source").unique().to_list() == ["pagerduty"]
        assert result.accounts.get_column("email").null_count() == result.accounts.height

    @staticmethod
    def _versions(world: World) -> dict[tuple[str, str], str]:
        from tests.connector_contract import versions

        return versions(expected_records(world, world.end))


def _acknowledged_instant(world: World) -> tuple[dict[str, Any], datetime]:
    """An incident and an instant at which it was acknowledged but not yet resolved."""
    for incident in world.pagerduty_incidents(None, world.end):
        entries = world.pagerduty_log_entries(incident["id"], world.end) or []
        times = {e["type"]: e["created_at"] for e in entries}
        if "acknowledge_log_entry" in times:
            at = datetime.fromisoformat(utc_iso(times["acknowledge_log_entry"]))
            return incident, at + timedelta(seconds=30)
    raise AssertionError("no acknowledged incident in the world")


def _resolved_at(world: World, incident_id: str) -> datetime:
    entries = world.pagerduty_log_entries(incident_id, world.end) or []
    [stamp] = [e["created_at"] for e in entries if e["type"] == "resolve_log_entry"]
    return datetime.fromisoformat(utc_iso(stamp))


def _landed_status(deployment: Any, incident_id: str) -> str:
    latest = deployment.landing.latest(source="pagerduty").filter(
        kind="incidents", record_id=incident_id
    )
    return json.loads(latest.get_column("payload")[0])["status"]


def _log_types(deployment: Any, incident_id: str) -> set[str]:
    latest = deployment.landing.latest(source="pagerduty").filter(
        (pl.col("kind") == "log_entries") & pl.col("record_id").str.starts_with(incident_id)
    )
    return {json.loads(p)["type"] for p in latest.get_column("payload")}
