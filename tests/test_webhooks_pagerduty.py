"""PagerDuty V3 webhooks: the gateway checks ``X-PagerDuty-Signature`` and the deliveries become
the same incident events polling gives.

Deliveries are the simulated account's (``World.pagerduty_webhooks``), in the shape of PagerDuty's
V3 reference: ``{"event": {"id", "event_type", "occurred_at", "agent", "data"}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import NormaliseResult, normalise
from flowsync_pipelines.simulator import World, build_world
from flowsync_pipelines.simulator.conventions import DEMO
from flowsync_pipelines.sources.pagerduty.connector import SOURCE
from flowsync_pipelines.webhooks.drain import landing_records
from flowsync_pipelines.webhooks.harness import GatewayProcess, sign, write_gateway_config
from flowsync_pipelines.webhooks.providers import Inbound, event_kind, providers
from flowsync_pipelines.webhooks.queue import DeliveryQueue

KEY = "pagerduty-webhook-test-key"
SECRET = "pd-webhook-secret-0123456789abcdef"
OTHER_SECRET = "pd-webhook-secret-rotated-fedcba98"
SECRET_ENV = "FLOWSYNC_TEST_WEBHOOK_SECRET_PAGERDUTY"
AT = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)

# The demo organisation, paging its on-call through PagerDuty (the demo itself does not).
PAGED = replace(DEMO, name="pagerduty", pagerduty=True)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=7, days=12, conventions=PAGED)


@pytest.fixture(scope="module")
def bodies(world: World) -> list[dict[str, Any]]:
    return world.pagerduty_webhooks(world.end)


def normalised(*bodies: dict[str, Any]) -> NormaliseResult:
    records = [
        FetchedRecord(
            kind=event_kind(SOURCE, body["event"]["event_type"]),
            scope="",
            record_id=body["event"]["id"],
            updated_at=AT.isoformat(),
            payload=body,
            request=f"delivery:{body['event']['id']}",
        )
        for body in bodies
    ]
    return normalise(landing_frame(SOURCE, records, fetched_at=AT), pseudonym_key=KEY)


def polled(world: World) -> NormaliseResult:
    """What the connector lands for the whole account, normalised."""
    records = []
    for incident in world.pagerduty_incidents(None, world.end):
        service = incident["service"]["id"]
        updated = incident["updated_at"]
        records.append(
            FetchedRecord("incidents", service, incident["id"], updated, incident, "poll")
        )
        for entry in world.pagerduty_log_entries(incident["id"], world.end) or []:
            record_id = f"{incident['id']}/log_entries/{entry['id']}"
            records.append(
                FetchedRecord("log_entries", service, record_id, entry["created_at"], entry, "poll")
            )
    return normalise(landing_frame(SOURCE, records, fetched_at=AT), pseudonym_key=KEY)


def of_type(bodies: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    return next(b for b in bodies if b["event"]["event_type"] == event_type)


# -- normalisers ---------------------------------------------------------------------------------
def test_every_delivery_is_the_same_event_polling_gives(world, bodies):
    hooks = normalised(*bodies)
    assert hooks.quarantine.is_empty(), hooks.quarantine.to_dicts()
    assert hooks.signals.height == len(bodies)
    from_poll = polled(world)
    missing = set(hooks.signals.get_column("event_id")) - set(from_poll.signals["event_id"])
    assert not missing
    types = {b["event"]["event_type"] for b in bodies}
    assert {"incident.triggered", "incident.acknowledged", "incident.resolved"} <= types
    assert {"incident.annotated", "incident.reassigned"} <= types


def test_a_triggered_delivery_opens_the_incident_citing_its_page(bodies):
    body = of_type(bodies, "incident.triggered")
    [event] = normalised(body).signals.to_dicts()
    data = body["event"]["data"]
    assert (event["entity_type"], event["entity_id"], event["action"]) == (
        "incident",
        f"pagerduty:{data['id']}",
        "first_seen",
    )
    assert (event["url"], event["title"], event["state"]) == (
        data["html_url"],
        data["title"],
        "triggered",
    )
    assert json.loads(event["attributes"])["project"] == data["service"]["summary"]
    assert event["actor_kind"] == "unknown"  # PagerDuty itself triggers it


def test_an_acknowledgement_is_by_the_user_pseudonymised_and_named_only_in_the_vault(bodies):
    body = of_type(bodies, "incident.acknowledged")
    result = normalised(body)
    [event] = result.signals.to_dicts()
    agent = body["event"]["agent"]
    assert (event["action"], event["state"], event["actor_kind"]) == (
        "acknowledged",
        "acknowledged",
        "human",
    )
    assert event["actor"].startswith("p_")
    assert agent["summary"] not in json.dumps(event, default=str)
    vault = result.accounts.filter(handle=agent["id"]).to_dicts()
    assert vault and vault[0]["display_name"] == agent["summary"]


def test_a_note_is_annotated_on_its_incident_without_its_text(bodies):
    body = of_type(bodies, "incident.annotated")
    [event] = normalised(body).signals.to_dicts()
    note = body["event"]["data"]
    assert (event["entity_id"], event["action"]) == (
        f"pagerduty:{note['incident']['id']}",
        "annotated",
    )
    assert event["url"] == note["incident"]["html_url"]
    assert note["content"] not in json.dumps(event, default=str)


def test_milliseconds_of_occurred_at_are_dropped_so_poll_and_push_meet(bodies):
    body = json.loads(json.dumps(of_type(bodies, "incident.resolved")))
    plain = normalised(body).signals.get_column("event_id")[0]
    body["event"]["occurred_at"] = body["event"]["occurred_at"].replace("Z", ".169Z")
    assert normalised(body).signals.get_column("event_id")[0] == plain


def test_a_ping_is_a_reference_and_an_incident_without_id_is_quarantined(bodies):
    event = {"id": "01PING", "event_type": "pagey.ping", "resource_type": "pagey",
             "occurred_at": "2026-09-10T11:00:00Z", "agent": None, "data": {}}  # fmt: skip
    ping = {"event": event}
    result = normalised(ping)
    assert result.signals.is_empty() and result.quarantine.is_empty()
    assert result.references.height == 1
    broken = json.loads(json.dumps(of_type(bodies, "incident.acknowledged")))
    del broken["event"]["data"]["id"]
    reasons = normalised(broken).quarantine.get_column("reason").to_list()
    assert reasons == ["incident.acknowledged delivery has no id"]


# -- signatures ----------------------------------------------------------------------------------
def inbound(body: bytes, signature: str | None) -> Inbound:
    headers = {"x-pagerduty-signature": signature} if signature is not None else {}
    return Inbound(headers=headers, body=body, received_epoch_s=0.0)


def v1(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_any_one_of_several_signatures_under_any_secret_authenticates():
    authenticate = providers()["pagerduty"].authenticate
    body = b'{"event": {"id": "x"}}'
    secrets = (SECRET.encode(), OTHER_SECRET.encode())
    assert authenticate(inbound(body, v1(SECRET, body)), secrets) is None
    rotated = f"v1={'0' * 64}, {v1(OTHER_SECRET, body)}"
    assert authenticate(inbound(body, rotated), secrets) is None
    assert authenticate(inbound(body + b" ", v1(SECRET, body)), secrets) is not None
    assert "missing" in authenticate(inbound(body, None), secrets)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, str]]:
    home: Path = tmp_path_factory.mktemp("pagerduty-gateway")
    queue_url = f"sqlite:///{home / 'metadata.sqlite'}"
    config = write_gateway_config(home / "flowsync.yaml", {"pagerduty": SECRET_ENV})
    process = GatewayProcess(
        home=home, config_file=config, metadata_url=queue_url, env={SECRET_ENV: SECRET}
    ).start()
    yield process, queue_url
    process.stop()


@pytest.fixture(scope="module")
def queue(gateway: tuple[GatewayProcess, str]) -> Iterator[DeliveryQueue]:
    store = DeliveryQueue(gateway[1])
    yield store
    store.dispose()


def post(gateway: tuple[GatewayProcess, str], body: bytes, headers: dict[str, str]):
    return httpx.post(f"{gateway[0].url}/webhooks/pagerduty", content=body, headers=headers)


def test_a_signed_delivery_is_stored_under_its_webhook_id_and_body_event_type(
    gateway, queue, bodies
):
    document = of_type(bodies, "incident.resolved")
    body, headers = sign("pagerduty", document, SECRET, delivery_id="wh-resolved-1")
    answer = post(gateway, body, headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["delivery_id"] == "wh-resolved-1"
    [row] = queue.find("pagerduty", ["wh-resolved-1"])
    assert (row.event_type, row.state) == ("incident.resolved", "pending")
    assert "x-pagerduty-signature" not in row.headers
    [record] = landing_records(row)
    assert (record.kind, record.record_id) == ("webhook:incident_resolved", "wh-resolved-1")
    assert post(gateway, body, headers).json()["status"] == "duplicate"


def test_several_comma_separated_signatures_are_accepted_if_one_matches(gateway, queue, bodies):
    document = of_type(bodies, "incident.triggered")
    body, headers = sign("pagerduty", document, SECRET, delivery_id="wh-triggered-1")
    headers["X-PagerDuty-Signature"] = f"v1={'a' * 64},{headers['X-PagerDuty-Signature']}"
    assert post(gateway, body, headers).status_code == 202
    assert len(queue.find("pagerduty", ["wh-triggered-1"])) == 1


@pytest.mark.parametrize(
    "signature",
    [
        "v1=" + "0" * 64,  # someone else's secret
        "",  # no signature at all
        "v2={good}",  # a version FlowSync does not know, even with the right digest
        "sha256={good}",  # GitHub's form is not PagerDuty's
    ],
)
def test_a_wrong_or_missing_signature_gets_401_and_stores_nothing(
    gateway, queue, bodies, signature
):
    document = of_type(bodies, "incident.acknowledged")
    body, headers = sign("pagerduty", document, SECRET, delivery_id=f"wh-bad-{signature[:4]}")
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    if signature:
        headers["X-PagerDuty-Signature"] = signature.format(good=good)
    else:
        del headers["X-PagerDuty-Signature"]
    before = sum(queue.count_by_state().values())
    answer = post(gateway, body, headers)
    assert answer.status_code == 401
    assert good not in answer.text and SECRET not in answer.text
    assert sum(queue.count_by_state().values()) == before


def test_the_drained_delivery_normalises_like_the_polled_log_entry(gateway, queue, world, bodies):
    document = of_type(bodies, "incident.acknowledged")
    body, headers = sign("pagerduty", document, SECRET, delivery_id="wh-ack-1")
    assert post(gateway, body, headers).status_code == 202
    [row] = queue.find("pagerduty", ["wh-ack-1"])
    records = landing_records(row)
    result = normalise(landing_frame(SOURCE, records, fetched_at=AT), pseudonym_key=KEY)
    [event_id] = result.signals.get_column("event_id").to_list()
    assert event_id in polled(world).signals.filter(pl.col("action") == "acknowledged")["event_id"]
