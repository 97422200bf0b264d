"""From queue to pipeline: the sensor (by cursor), ``webhook_landing``, and signals that meet polls.

Queue contents are written with :meth:`DeliveryQueue.insert`, the gateway's own write path, with
receive times chosen per test; the gateway's HTTP side is covered in ``test_webhooks_gateway``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.partitions import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    daily_partitions,
)
from flowsync_pipelines.webhooks.assets import webhook_landing_asset
from flowsync_pipelines.webhooks.drain import drain
from flowsync_pipelines.webhooks.harness import fresh_postgres_database
from flowsync_pipelines.webhooks.queue import Delivery, DeliveryQueue
from flowsync_pipelines.webhooks.sensor import webhook_ingestion_job, webhook_queue_sensor
from resources.stores import LandingResource, MetadataResource

PARTITIONS = daily_partitions(date(2026, 1, 1))
PSEUDONYM_KEY = "pipeline-test-pseudonym-key"


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/metadata.sqlite"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def queue(queue_url: str) -> Iterator[DeliveryQueue]:
    store = DeliveryQueue(queue_url)
    yield store
    store.dispose()


def delivery(received_at: datetime, document: dict[str, Any], event: str = "push") -> Delivery:
    body = json.dumps(document).encode()
    return Delivery(
        source="github",
        delivery_id=str(uuid.uuid4()),
        event_type=event,
        received_at=received_at,
        headers={"x-github-event": event},
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
    )


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def evaluate(queue_url: str, cursor: str | None) -> dg.SensorResult:
    sensor = webhook_queue_sensor(webhook_ingestion_job(PARTITIONS), PARTITIONS)
    context = dg.build_sensor_context(
        cursor=cursor, resources={"metadata": MetadataResource(url=queue_url)}
    )
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_the_sensor_requests_one_run_per_stretch_of_days_and_moves_its_cursor(
    queue_url, queue, tmp_path
):
    """Deliveries that date nothing are about the day they were received."""
    queue.insert(
        [delivery(at("2026-03-01", 9), {"n": 1}), delivery(at("2026-03-01", 18), {"n": 2})]
    )
    queue.insert([delivery(at("2026-03-02"), {"n": 3}), delivery(at("2026-03-05"), {"n": 4})])

    first = evaluate(queue_url, cursor=None)
    assert [
        (
            r.partition_key,
            r.tags.get(PARTITION_RANGE_START_TAG),
            r.tags.get(PARTITION_RANGE_END_TAG),
            r.run_key,
        )
        for r in first.run_requests
    ] == [
        (None, "2026-03-01", "2026-03-02", "webhooks:2026-03-01...2026-03-02:3"),
        ("2026-03-05", None, None, "webhooks:2026-03-05:4"),
    ]
    assert first.cursor == "4"

    drain(queue, LandingStore(tmp_path / "landing"))  # what the requested runs do
    again = evaluate(queue_url, cursor=first.cursor)
    assert (again.run_requests, again.cursor) == ([], "4")

    queue.insert([delivery(at("2026-03-02", 20), {"n": 5})])
    later = evaluate(queue_url, cursor=again.cursor)
    assert [(r.partition_key, r.run_key) for r in later.run_requests] == [
        ("2026-03-02", "webhooks:2026-03-02:5")
    ]


def test_the_sensor_sweeps_deliveries_its_cursor_passed_but_nobody_landed(queue_url, queue):
    queue.insert([delivery(at("2026-03-05"), {"n": 1})])
    result = evaluate(queue_url, cursor="1")  # the run for 2026-03-05 was requested and failed
    assert [r.partition_key for r in result.run_requests] == ["2026-03-05"]


def test_the_sensor_runs_todays_deliveries_on_its_next_tick(queue_url, queue):
    today = datetime.now(UTC).date().isoformat()
    queue.insert([delivery(datetime.now(UTC), {"n": 1})])
    result = evaluate(queue_url, cursor=None)
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        (today, f"webhooks:{today}:1")
    ]
    assert result.cursor == "1"


def test_the_sensor_waits_for_a_day_after_today_to_become_a_partition(queue_url, queue):
    tomorrow = datetime.now(UTC) + timedelta(days=1)  # a sender whose clock runs a day ahead
    queue.insert([delivery(tomorrow, {"n": 1})])
    result = evaluate(queue_url, cursor=None)
    assert result.run_requests == []
    assert result.cursor == "1"
    assert f"{tomorrow.date().isoformat()} is not a partition yet" in str(result.skip_reason)


def test_webhook_landing_lands_exactly_the_partitions_deliveries(queue_url, queue, tmp_path):
    queue.insert(
        [
            delivery(at("2026-03-01"), {"repository": {"full_name": "acme/api"}, "n": 1}),
            delivery(at("2026-03-02"), {"n": 2}, event="workflow_run"),
        ]
    )
    landing_root = tmp_path / "landing"
    result = dg.materialize(
        [webhook_landing_asset(PARTITIONS)],
        partition_key="2026-03-01",
        resources={
            "landing": LandingResource(root=str(landing_root)),
            "metadata": MetadataResource(url=queue_url),
        },
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("webhook_landing")
    assert materialization.metadata["deliveries_drained"].value == 1
    assert materialization.metadata["queue_pending"].value == 1  # 2026-03-02 waits for its run

    landed = LandingStore(landing_root).scan().collect()
    assert landed.select("source", "kind", "scope").rows() == [
        ("github", "webhook:push", "acme/api")
    ]
    assert landed["fetched_at"].to_list() == [at("2026-03-01")]  # provenance: when it arrived
    assert queue.count_by_state() == {"landed": 1, "pending": 1}


def test_a_pull_request_both_polled_and_delivered_yields_each_event_once(queue, tmp_path):
    """The webhook's pull request is a superset of the REST list item; both cite the same events."""
    polled_pull = {
        "number": 7,
        "html_url": "https://github.com/acme/api/pull/7",
        "title": "PLAT-12 speed up checkout",
        "state": "closed",
        "draft": False,
        "created_at": "2026-03-01T09:00:00Z",
        "updated_at": "2026-03-01T15:00:00Z",
        "closed_at": "2026-03-01T15:00:00Z",
        "merged_at": "2026-03-01T15:00:00Z",
        "merge_commit_sha": "abc123",
        "user": {"login": "dev-one", "id": 1, "type": "User"},
        "head": {"ref": "feature", "sha": "f00"},
        "base": {"ref": "main", "repo": {"full_name": "acme/api"}},
    }
    landing = LandingStore(tmp_path / "landing")
    polled = FetchedRecord(
        kind="pulls",
        scope="acme/api",
        record_id="acme/api#7",
        updated_at=polled_pull["updated_at"],
        payload=polled_pull,
        request="https://api.github.com/repos/acme/api/pulls?state=all",
    )
    landing.append(landing_frame("github", [polled], fetched_at=at("2026-03-01", 16)))
    webhook_pull = {**polled_pull, "additions": 10, "deletions": 2, "merged": True}
    document = {
        "action": "closed",
        "number": 7,
        "pull_request": webhook_pull,
        "repository": {"full_name": "acme/api"},
    }
    queue.insert([delivery(at("2026-03-01", 15), document, event="pull_request")])
    report = drain(queue, landing)
    assert report.by_kind == {"pulls": 1}

    records = landing.scan().collect()
    assert records["record_id"].to_list() == ["acme/api#7", "acme/api#7"]  # two versions
    signals = normalise(records, pseudonym_key=PSEUDONYM_KEY).signals
    assert signals.select("entity_id", "action").sort("action").rows() == [
        ("acme/api#7", "merged"),
        ("acme/api#7", "opened"),
    ]
    assert signals.filter(pl.col("landing_ref").str.contains("@")).height == 2
