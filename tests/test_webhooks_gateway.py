"""The webhook gateway as a real process on loopback, with its queue on SQLite and PostgreSQL.

Every test talks HTTP to ``flowsync webhooks serve`` and checks the queue table directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowsync_pipelines.webhooks.harness import (
    GatewayProcess,
    fresh_postgres_database,
    sign,
    write_gateway_config,
)
from flowsync_pipelines.webhooks.queue import DeliveryQueue

# route -> flowsync.yaml source type (and landing source)
ROUTES = {
    "github": "github",
    "gitlab": "gitlab",
    "jira": "jira",
    "linear": "linear",
    "sentry": "sentry",
    "figma": "figma",
    "ci": "jenkins",
}
SECRETS = {route: f"whsec-{route}-0123456789abcdef" for route in ROUTES}
# The headers that carry each tool's proof of origin (Figma's is in the body).
AUTH_HEADERS = {
    "github": "X-Hub-Signature-256",
    "gitlab": "X-Gitlab-Token",
    "jira": "X-Hub-Signature",
    "linear": "Linear-Signature",
    "sentry": "Sentry-Hook-Signature",
    "ci": "X-Signature-256",
}
MAX_BODY = 256 * 1024


def secret_env(route: str) -> str:
    return f"FLOWSYNC_TEST_WEBHOOK_SECRET_{route.upper()}"


def start_gateway(
    home: Path, queue_url: str, *args: str, port: int | None = None
) -> GatewayProcess:
    config = write_gateway_config(
        home / "flowsync.yaml", {ROUTES[r]: secret_env(r) for r in ROUTES}
    )
    env = {secret_env(r): SECRETS[r] for r in ROUTES}
    return GatewayProcess(
        home=home, config_file=config, metadata_url=queue_url, env=env, args=args, port=port
    ).start()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def queue_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('queue')}/metadata.sqlite"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module")
def gateway(queue_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = start_gateway(
        tmp_path_factory.mktemp("gateway"),
        queue_url,
        "--max-body-bytes",
        str(MAX_BODY),
        "--rate-limit",
        "1000",
        "--rate-burst",
        "1000",
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def queue(queue_url: str) -> Iterator[DeliveryQueue]:
    store = DeliveryQueue(queue_url)
    yield store
    store.dispose()


def post(gateway: GatewayProcess, route: str, body: bytes, headers: dict[str, str]):
    return httpx.post(f"{gateway.url}/webhooks/{route}", content=body, headers=headers)


def total_rows(queue: DeliveryQueue) -> int:
    return sum(queue.count_by_state().values())


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_correctly_signed_delivery_is_acknowledged_after_it_is_queued(gateway, queue, route):
    delivery_id = f"ok-{uuid.uuid4()}"
    body, headers = sign(
        route, {"action": "opened", "n": 1}, SECRETS[route], delivery_id=delivery_id
    )
    answer = post(gateway, route, body, headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "stored"
    stored_id = answer.json()["delivery_id"]
    if route != "figma":  # Figma sends no delivery id: the gateway derives one from the body
        assert stored_id == delivery_id
    [row] = queue.find(ROUTES[route], [stored_id])
    assert row.state == "pending"
    assert json.loads(row.body)["n"] == 1
    assert row.headers["content-type"] == "application/json"


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_no_secret_is_stored_with_a_delivery(gateway, queue, route):
    body, headers = sign(route, {"n": 2}, SECRETS[route])
    answer = post(gateway, route, body, headers)
    [row] = queue.find(ROUTES[route], [answer.json()["delivery_id"]])
    assert SECRETS[route].encode() not in row.body
    assert SECRETS[route] not in json.dumps(row.headers)
    assert not {h.lower() for h in AUTH_HEADERS.values()} & set(row.headers)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_wrong_secret_gets_401_and_stores_nothing(gateway, queue, route):
    before = total_rows(queue)
    body, headers = sign(route, {"n": 3}, "not-the-secret")
    answer = post(gateway, route, body, headers)
    assert answer.status_code == 401
    assert "secret" in answer.json()["error"] or "passcode" in answer.json()["error"]
    assert total_rows(queue) == before


@pytest.mark.parametrize("route", sorted(AUTH_HEADERS))
def test_a_missing_signature_gets_401_naming_the_header(gateway, queue, route):
    before = total_rows(queue)
    body, headers = sign(route, {"n": 4}, SECRETS[route])
    del headers[AUTH_HEADERS[route]]
    answer = post(gateway, route, body, headers)
    assert answer.status_code == 401
    assert "missing" in answer.json()["error"]
    assert total_rows(queue) == before


def test_a_figma_delivery_without_passcode_gets_401(gateway, queue):
    before = total_rows(queue)
    answer = post(gateway, "figma", b'{"event_type": "PING"}', {"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "body has no passcode"
    assert total_rows(queue) == before


def test_a_body_altered_after_signing_gets_401(gateway):
    body, headers = sign("github", {"n": 5}, SECRETS["github"], event="push")
    answer = post(gateway, "github", body.replace(b"5", b"6"), headers)
    assert answer.status_code == 401


def test_a_ci_sender_may_authenticate_with_a_bearer_token(gateway, queue):
    body = b'{"build": {"phase": "COMPLETED", "status": "SUCCESS"}}'
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {SECRETS['ci']}",
        "X-Delivery-ID": f"jenkins-{uuid.uuid4()}",
        "X-Event-Type": "build",
    }
    assert post(gateway, "ci", body, headers).status_code == 202
    headers["Authorization"] = "Bearer wrong"
    assert post(gateway, "ci", body, headers).status_code == 401


def test_a_stale_linear_timestamp_gets_401(gateway):
    an_hour_ago = time.time() - 3600
    body, headers = sign("linear", {"type": "Issue"}, SECRETS["linear"], now_s=an_hour_ago)
    answer = post(gateway, "linear", body, headers)
    assert answer.status_code == 401
    assert "webhookTimestamp" in answer.json()["error"]


def test_signature_failures_are_counted_by_source(gateway):
    def failures() -> int:
        text = httpx.get(f"{gateway.url}/metrics").text
        line = 'flowsync_webhook_signature_failures_total{source="sentry"} '
        return next(
            (int(float(x.removeprefix(line))) for x in text.splitlines() if x.startswith(line)), 0
        )

    before = failures()
    body, headers = sign("sentry", {"n": 6}, "forged")
    post(gateway, "sentry", body, headers)
    post(gateway, "sentry", body, headers)
    assert failures() == before + 2


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_replayed_delivery_is_acknowledged_and_stored_once(gateway, queue, route):
    body, headers = sign(route, {"n": 7}, SECRETS[route], delivery_id=f"replay-{uuid.uuid4()}")
    first = post(gateway, route, body, headers)
    again = post(gateway, route, body, headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert (first.json()["status"], again.json()["status"]) == ("stored", "duplicate")
    assert len(queue.find(ROUTES[route], [first.json()["delivery_id"]])) == 1


def test_a_tool_without_delivery_ids_is_deduplicated_by_body(gateway, queue):
    body = json.dumps({"event_type": "FILE_UPDATE", "file_key": "k1", "passcode": SECRETS["figma"]})
    headers = {"Content-Type": "application/json"}
    first = post(gateway, "figma", body.encode(), headers)
    again = post(gateway, "figma", body.encode(), headers)
    assert again.json() == {**first.json(), "status": "duplicate"}
    assert first.json()["delivery_id"].startswith("sha256:")


def test_a_body_over_the_limit_gets_413_whether_declared_or_streamed(gateway, queue):
    before = total_rows(queue)
    big = json.dumps({"blob": "x" * (MAX_BODY + 1)}).encode()
    body, headers = sign("github", big, SECRETS["github"], event="push")
    assert post(gateway, "github", body, headers).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the gateway must count as it reads
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    streamed = httpx.post(f"{gateway.url}/webhooks/github", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert total_rows(queue) == before


def test_a_form_encoded_delivery_gets_415(gateway, queue):
    before = total_rows(queue)
    body, headers = sign("github", b"payload=%7B%7D", SECRETS["github"], event="push")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    answer = post(gateway, "github", body, headers)
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]
    assert total_rows(queue) == before


def test_a_signed_body_that_is_not_json_is_quarantined_and_acknowledged(gateway, queue):
    body, headers = sign("github", b'{"action": "opened", ', SECRETS["github"], event="issues")
    answer = post(gateway, "github", body, headers)
    assert answer.status_code == 202
    assert answer.json()["status"] == "quarantined"
    [row] = queue.find("github", [answer.json()["delivery_id"]])
    assert row.state == "quarantined"
    assert row.reason.startswith("body is not valid JSON")
    assert row.body == body  # kept byte for byte, for whoever investigates


def test_a_signed_json_array_is_quarantined_with_its_reason(gateway, queue):
    body, headers = sign("sentry", b"[1, 2]", SECRETS["sentry"])
    answer = post(gateway, "sentry", body, headers)
    [row] = queue.find("sentry", [answer.json()["delivery_id"]])
    assert (row.state, row.reason) == ("quarantined", "body is JSON but a list, not an object")


def test_an_unknown_event_type_is_stored_and_reported(gateway, queue):
    body, headers = sign("github", {"zen": "x"}, SECRETS["github"], event="brand_new_event")
    answer = post(gateway, "github", body, headers)
    assert answer.status_code == 202
    assert answer.json()["known_event"] is False
    [row] = queue.find("github", [answer.json()["delivery_id"]])
    assert (row.state, row.event_type) == ("pending", "brand_new_event")
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert (
        'flowsync_webhook_unknown_events_total{source="github",event="brand_new_event"} 1'
        in metrics
    )


def test_an_unconfigured_or_unknown_provider_gets_404(gateway):
    answer = httpx.post(f"{gateway.url}/webhooks/bitbucket", content=b"{}")
    assert answer.status_code == 404
    assert "github" in answer.json()["error"]


def test_healthz_and_metrics_describe_the_gateway(gateway, queue):
    health = httpx.get(f"{gateway.url}/healthz").json()
    # Each source by its name (Jenkins' is "jenkins"), and by its type's path ("ci") while it is
    # the only source of its type.
    endpoints = sorted({*ROUTES, *ROUTES.values()})
    assert health == {"status": "ok", "providers": sorted(ROUTES), "endpoints": endpoints}
    metrics = httpx.get(f"{gateway.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert f"flowsync_webhook_queue_depth {queue.pending_count()}" in text
    assert 'flowsync_webhook_deliveries_total{source="github",outcome="stored"}' in text
    assert "flowsync_webhook_ack_latency_seconds_count" in text


def test_a_source_over_its_rate_gets_429_with_retry_after(queue_url, tmp_path_factory):
    limited = start_gateway(
        tmp_path_factory.mktemp("limited"), queue_url, "--rate-limit", "0.5", "--rate-burst", "3"
    )
    try:
        answers = []
        for n in range(4):
            body, headers = sign("gitlab", {"n": n}, SECRETS["gitlab"])
            answers.append(post(limited, "gitlab", body, headers))
        forged, forged_headers = sign("jira", {"n": 0}, "forged")
        body, headers = sign("jira", {"n": 0}, SECRETS["jira"])
        other_source = post(limited, "jira", body, headers)
        unsigned = post(limited, "jira", forged, forged_headers)
    finally:
        limited.stop()
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert other_source.status_code == 202  # each source has its own bucket
    assert unsigned.status_code == 401  # forged requests are refused before they spend tokens


def test_every_acknowledged_body_is_stored_byte_for_byte(gateway, queue):
    body, headers = sign("github", {"text": "naïve ✓", "n": 8}, SECRETS["github"], event="push")
    answer = post(gateway, "github", body, headers)
    [row] = queue.find("github", [answer.json()["delivery_id"]])
    assert hashlib.sha256(row.body).digest() == hashlib.sha256(body).digest()


def test_every_acknowledged_delivery_survives_sigkill_exactly_once(queue_url, queue, tmp_path):
    """A burst in flight, the gateway SIGKILLed mid-way and restarted, the sender retrying all."""
    burst = 800
    run = uuid.uuid4().hex[:8]
    deliveries = [
        sign(
            "github",
            {"n": n, "run": run},
            SECRETS["github"],
            event="push",
            delivery_id=f"{run}-{n}",
        )
        for n in range(burst)
    ]
    gateway = start_gateway(tmp_path / "crash", queue_url, "--rate-limit", "0")
    acknowledged: set[int] = set()

    async def send_burst() -> None:
        in_flight = asyncio.Semaphore(48)
        killed = asyncio.Event()

        async def send(client: httpx.AsyncClient, n: int) -> None:
            body, headers = deliveries[n]
            async with in_flight:
                try:
                    answer = await client.post(
                        f"{gateway.url}/webhooks/github", content=body, headers=headers
                    )
                except httpx.TransportError:
                    return  # no answer: the sender will retry
            if answer.status_code == 202:
                acknowledged.add(n)
            if len(acknowledged) >= burst // 4 and not killed.is_set():
                killed.set()
                gateway.kill()  # with ~48 requests in flight, some inside a group commit

        limits = httpx.Limits(max_connections=48)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            await asyncio.gather(*(send(client, n) for n in range(burst)))

    asyncio.run(send_burst())
    assert burst // 4 <= len(acknowledged) < burst, "the kill must land mid-burst"
    stored_before_restart = {
        row.delivery_id for row in queue.find("github", [f"{run}-{n}" for n in range(burst)])
    }
    assert {f"{run}-{n}" for n in acknowledged} <= stored_before_restart

    restarted = start_gateway(tmp_path / "crash", queue_url, "--rate-limit", "0", port=gateway.port)
    try:
        outcomes = asyncio.run(resend(restarted, deliveries))
    finally:
        restarted.stop()
    rows = queue.find("github", [f"{run}-{n}" for n in range(burst)])
    assert len(rows) == len({r.delivery_id for r in rows}) == burst  # each exactly once
    assert outcomes.count("duplicate") == len(stored_before_restart)
    for row in rows:
        body, _ = deliveries[int(row.delivery_id.split("-")[1])]
        assert row.body == body


async def resend(
    gateway: GatewayProcess, deliveries: list[tuple[bytes, dict[str, str]]]
) -> list[str]:
    """What a sender does after an outage: deliver everything again, concurrently."""
    in_flight = asyncio.Semaphore(48)

    async def send(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> str:
        async with in_flight:
            answer = await client.post("/webhooks/github", content=body, headers=headers)
        return answer.json()["status"]

    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        return await asyncio.gather(*(send(client, b, h) for b, h in deliveries))


def test_the_gateway_refuses_to_start_when_a_named_secret_is_unset(tmp_path):
    config = write_gateway_config(tmp_path / "flowsync.yaml", {"github": secret_env("github")})
    process = GatewayProcess(
        home=tmp_path,
        config_file=config,
        metadata_url=f"sqlite:///{tmp_path}/metadata.sqlite",
        env={secret_env("github"): ""},
    )
    with pytest.raises(RuntimeError, match="exited at start") as failure:
        process.start()
    assert (
        f"source 'github' names webhook_secret_env '{secret_env('github')}', "
        "but that environment variable is unset or empty"
    ) in str(failure.value)
