"""CircleCI webhooks: the gateway checks ``circleci-signature`` and the deliveries become the
polled workflows' and jobs' events.

Fixtures are hand-written in the shape of CircleCI's outbound-webhooks reference (GitHub OAuth
projects: ``project.slug`` like ``gh/acme/api``, ``pipeline.vcs`` with the revision and branch).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import NormaliseResult, normalise
from flowsync_pipelines.normalise.circleci import workflows as polled_workflows
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.webhooks.drain import landing_records
from flowsync_pipelines.webhooks.harness import GatewayProcess, sign, write_gateway_config
from flowsync_pipelines.webhooks.queue import DeliveryQueue

KEY = "circleci-webhook-test-key"
SECRET = "whsec-circleci-0123456789abcdef"
SECRET_ENV = "FLOWSYNC_TEST_WEBHOOK_SECRET_CIRCLECI"
RECEIVED = "2026-09-10T12:00:00+00:00"
AT = datetime(2026, 9, 10, 12, 0, 5, tzinfo=UTC)
SHA = "1dc6aa69429bff4806ad6afe58d3d8f57e25973e"
WORKFLOW_ID = "fda08377-fe7e-46b1-8992-3a7aaecac9c3"


def pipeline(**vcs: Any) -> dict[str, Any]:
    return {
        "id": "1285fe1d-d3a6-44fc-8886-8979558254c4",
        "number": 130,
        "created_at": "2026-09-10T11:49:03.544Z",
        "trigger": {"type": "webhook"},
        "vcs": {
            "provider_name": "github",
            "origin_repository_url": "https://github.com/acme/api",
            "target_repository_url": "https://github.com/acme/api",
            "revision": SHA,
            "commit": {
                "subject": "PLAT-7: retry the payment webhook",
                "body": "",
                "author": {"name": "Jane Doe", "email": "jane.doe@acme.example"},
                "authored_at": "2026-09-10T11:48:53Z",
                "committer": {"name": "Jane Doe", "email": "jane.doe@acme.example"},
                "committed_at": "2026-09-10T11:48:53Z",
            },
            "branch": "feature/PLAT-7-retry",
            **vcs,
        },
    }


def common(event: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": event,
        "id": str(uuid.uuid4()),
        "happened_at": "2026-09-10T11:49:34.317Z",
        "webhook": {"id": "cf8c4fdd-0587-4da1-b4ca-4846e9640af9", "name": "FlowSync"},
        "project": {"id": "84996744-a854-4f5e-aea3-04e2851dc1d2", "name": "api",
                    "slug": "gh/acme/api"},
        "organization": {"id": "f22b6566-597d-46d5-ba74-99ef5bb3d85c", "name": "acme"},
        "pipeline": pipeline(),
        **extra,
    }  # fmt: skip


def workflow_completed(status: str = "success", **extra: Any) -> dict[str, Any]:
    return common(
        "workflow-completed",
        workflow={
            "id": WORKFLOW_ID,
            "name": "build-test-deploy",
            "created_at": "2026-09-10T11:49:03.616Z",
            "stopped_at": "2026-09-10T11:49:34.170Z",
            "url": f"https://app.circleci.com/pipelines/github/acme/api/130/workflows/{WORKFLOW_ID}",
            "status": status,
        },
        **extra,
    )


def job_completed() -> dict[str, Any]:
    return common(
        "job-completed",
        workflow={
            "id": WORKFLOW_ID,
            "name": "build-test-deploy",
            "created_at": "2026-09-10T11:49:03.616Z",
            "stopped_at": "2026-09-10T11:49:34.170Z",
            "url": f"https://app.circleci.com/pipelines/github/acme/api/130/workflows/{WORKFLOW_ID}",
            "status": "failed",
        },
        job={
            "id": "8bd26fb9-3157-4b27-9b52-e6a1e5b1d0ea",
            "name": "test",
            "started_at": "2026-09-10T11:49:06.000Z",
            "stopped_at": "2026-09-10T11:49:33.118Z",
            "status": "failed",
            "number": 136,
        },
    )


def normalised(*bodies: dict[str, Any]) -> NormaliseResult:
    records = [
        FetchedRecord(
            kind=f"webhook:{body['type'].replace('-', '_')}",
            scope=body.get("project", {}).get("slug", ""),
            record_id=body["id"],
            updated_at=RECEIVED,
            payload=body,
            request=f"delivery:{body['id']}",
        )
        for body in bodies
    ]
    return normalise(landing_frame("circleci", records, fetched_at=AT), pseudonym_key=KEY)


def only(result: NormaliseResult) -> dict[str, Any]:
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    assert result.signals.height == 1, result.signals.to_dicts()
    return result.signals.row(0, named=True)


# -- normalisers ---------------------------------------------------------------------------------
def test_workflow_completed_is_the_workflow_runs_completion_with_commit_branch_and_link():
    event = only(normalised(workflow_completed("failed")))
    assert (event["entity_type"], event["entity_id"], event["action"], event["state"]) == (
        "ci_run",
        f"circleci:workflow/{WORKFLOW_ID}",
        "completed",
        "failed",
    )
    assert event["occurred_at"] == datetime(2026, 9, 10, 11, 49, 34, 170000, tzinfo=UTC)
    assert (event["repository"], event["commit_sha"], event["ticket_keys"]) == (
        "acme/api",
        SHA,
        ["PLAT-7"],
    )
    assert event["url"].endswith(f"/130/workflows/{WORKFLOW_ID}")
    assert event["title"] == "build-test-deploy #130"
    attributes = json.loads(event["attributes"])
    assert (attributes["head_branch"], attributes["event"]) == ("feature/PLAT-7-retry", "webhook")
    # CircleCI's webhook names no trigger actor: unknown, never deleted.
    assert (event["actor"], event["actor_kind"]) == (None, "unknown")
    assert "jane" not in json.dumps(event, default=str).lower()


def test_job_completed_is_a_run_of_its_own_linked_under_its_workflow():
    event = only(normalised(job_completed()))
    assert (event["entity_id"], event["action"], event["state"]) == (
        "circleci:job/8bd26fb9-3157-4b27-9b52-e6a1e5b1d0ea",
        "completed",
        "failed",
    )
    assert event["url"].endswith(f"/workflows/{WORKFLOW_ID}/jobs/136")
    assert event["title"] == "test (build-test-deploy #130)"
    assert json.loads(event["attributes"])["workflow_id"] == WORKFLOW_ID


def test_a_fork_pull_request_branch_names_the_pull_request():
    body = workflow_completed(pipeline=pipeline(branch="pull/42"))
    assert only(normalised(body))["pr_number"] == 42


def test_the_repository_comes_from_the_origin_url_or_else_the_slug():
    app_slug = workflow_completed(
        project={"id": "p", "name": "api", "slug": "circleci/5b3f/9a1e"},
        pipeline=pipeline(origin_repository_url="https://github.com/acme/web.git"),
    )
    no_url = workflow_completed(pipeline=pipeline(origin_repository_url=None))
    assert only(normalised(app_slug))["repository"] == "acme/web"
    assert only(normalised(no_url))["repository"] == "acme/api"


def test_a_trigger_actor_is_pseudonymised_as_the_vcs_account_and_bots_are_bots():
    def with_actor(login: str) -> dict[str, Any]:
        body = workflow_completed()
        body["pipeline"]["trigger"]["actor"] = {"login": login, "avatar_url": "https://x"}
        return body

    human = normalised(with_actor("jdoe-acme"))
    event = only(human)
    assert (event["actor"], event["actor_kind"]) == (
        pseudonym(KEY, "github", "jdoe-acme"),
        "human",
    )
    assert human.accounts.row(0, named=True)["handle"] == "jdoe-acme"
    assert "jdoe-acme" not in human.signals.write_json()
    assert only(normalised(with_actor("renovate[bot]")))["actor_kind"] == "bot"


def test_a_missing_stop_time_falls_back_to_happened_at_and_says_so():
    body = workflow_completed()
    body["workflow"]["stopped_at"] = "not a time"
    event = only(normalised(body))
    assert event["occurred_at"] == datetime(2026, 9, 10, 11, 49, 34, 317000, tzinfo=UTC)
    assert json.loads(event["attributes"])["time_source"] == "happened_at"


def test_a_ping_is_a_reference_and_a_workflow_without_id_is_quarantined():
    ping = {"type": "ping", "id": str(uuid.uuid4()), "happened_at": "2026-09-10T11:00:00Z",
            "webhook": {"id": "w", "name": "FlowSync"}}  # fmt: skip
    result = normalised(ping)
    assert result.signals.is_empty() and result.quarantine.is_empty()
    assert result.references.height == 1
    broken = workflow_completed()
    del broken["workflow"]["id"]
    reasons = normalised(broken).quarantine.get_column("reason").to_list()
    assert reasons == ["workflow-completed delivery has no id"]


def test_the_delivery_and_the_polled_workflow_are_one_completed_event():
    body = workflow_completed()
    polled = {
        "pipeline_id": body["pipeline"]["id"],
        "id": WORKFLOW_ID,
        "name": "build-test-deploy",
        "project_slug": "gh/acme/api",
        "status": "success",
        "pipeline_number": 130,
        "created_at": "2026-09-10T11:49:03.616Z",
        "stopped_at": "2026-09-10T11:49:34.170Z",
        "pipeline": {**body["pipeline"], "project_slug": "gh/acme/api"},
    }
    record = FetchedRecord("workflows", "gh/acme/api", "gh/acme/api/130/workflows/x",
                           polled["stopped_at"], polled, "poll")  # fmt: skip
    from_poll = polled_workflows(landing_frame("circleci", [record], fetched_at=AT), KEY)
    [completed] = from_poll.signals.filter(action="completed").get_column("event_id").to_list()
    assert completed == only(normalised(body))["event_id"]


# -- the gateway ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, str]]:
    home: Path = tmp_path_factory.mktemp("circleci-gateway")
    queue_url = f"sqlite:///{home / 'metadata.sqlite'}"
    config = write_gateway_config(home / "flowsync.yaml", {"circleci": SECRET_ENV})
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
    return httpx.post(f"{gateway[0].url}/webhooks/circleci", content=body, headers=headers)


def rows(queue: DeliveryQueue) -> int:
    return sum(queue.count_by_state().values())


def test_a_signed_delivery_is_stored_under_its_body_id_and_type(gateway, queue):
    document = workflow_completed()
    body, headers = sign("circleci", document, SECRET, event="workflow-completed")
    assert set(headers) >= {"circleci-signature", "circleci-event-type"}
    answer = post(gateway, body, headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["delivery_id"] == document["id"]
    [row] = queue.find("circleci", [document["id"]])
    assert (row.event_type, row.state) == ("workflow-completed", "pending")
    assert "circleci-signature" not in row.headers
    [record] = landing_records(row)
    assert (record.kind, record.scope, record.record_id) == (
        "webhook:workflow_completed",
        "gh/acme/api",
        document["id"],
    )


def test_the_event_type_is_read_from_the_body_when_the_header_is_absent(gateway, queue):
    document = job_completed()
    body, headers = sign("circleci", document, SECRET)
    assert "circleci-event-type" not in headers
    assert post(gateway, body, headers).status_code == 202
    [row] = queue.find("circleci", [document["id"]])
    assert row.event_type == "job-completed"


@pytest.mark.parametrize(
    "signature",
    [
        "v1=" + "0" * 64,  # someone else's secret
        "",  # no signature at all
        "v2={good}",  # a version FlowSync does not know, even if it carried the right digest
        "sha256={good}",  # GitHub's form is not CircleCI's
    ],
)
def test_a_wrong_or_missing_signature_gets_401_and_stores_nothing(gateway, queue, signature):
    document = workflow_completed()
    body, headers = sign("circleci", document, SECRET)
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    if signature:
        headers["circleci-signature"] = signature.format(good=good)
    else:
        del headers["circleci-signature"]
    before = rows(queue)
    answer = post(gateway, body, headers)
    assert answer.status_code == 401
    assert "circleci-signature" in answer.json()["error"]
    assert rows(queue) == before


def test_a_body_altered_after_signing_gets_401(gateway):
    body, headers = sign("circleci", workflow_completed(), SECRET)
    assert post(gateway, body.replace(b"success", b"failed"), headers).status_code == 401


def test_any_v1_value_among_several_may_carry_the_signature(gateway, queue):
    document = workflow_completed()
    body, headers = sign("circleci", document, SECRET)
    good = headers["circleci-signature"]
    headers["circleci-signature"] = f"v1={'a' * 64}, {good},v2=future"
    assert post(gateway, body, headers).status_code == 202
    assert len(queue.find("circleci", [document["id"]])) == 1


def test_a_redelivery_of_the_same_event_is_acknowledged_and_stored_once(gateway, queue):
    document = workflow_completed()
    body, headers = sign("circleci", document, SECRET)
    first, again = post(gateway, body, headers), post(gateway, body, headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert (first.json()["status"], again.json()["status"]) == ("stored", "duplicate")
    assert len(queue.find("circleci", [document["id"]])) == 1
