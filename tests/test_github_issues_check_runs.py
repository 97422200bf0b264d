"""GitHub issues and check runs read by polling, as they are read by webhook (issue 11).

A polled issue or check run is the record a delivery embeds; both ways it must become the same
events. Deliveries go through the drain's ``landing_records`` (they land whole); polled records
through the connector against the GitHub sandbox, which serves GitHub's wire format.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from flowsync_pipelines.ingest import EndpointSync
from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import NormaliseResult, normalise
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.sandbox import Sandbox, SandboxServer
from flowsync_pipelines.simulator import World
from flowsync_pipelines.webhooks.drain import landing_records
from flowsync_pipelines.webhooks.queue import StoredDelivery
from resources.github import GitHubResource
from resources.http import ApiError, RequestStats
from tests.connector_contract import Deployment

KEY = "polled-as-delivered-key"
AT = datetime(2026, 9, 10, 12, 0, 5, tzinfo=UTC)
API = "https://api.github.com/repos/acme/api"
REPO = {"full_name": "acme/api", "html_url": "https://github.com/acme/api"}
AUTHOR = {"login": "mlopez", "id": 9, "type": "User"}
CLOSER = {"login": "octo-dev", "id": 501, "type": "User"}
SAME = (
    "event_id", "entity_type", "entity_id", "action", "occurred_at", "actor", "actor_kind",
    "title", "url", "state", "ticket_keys", "attributes", "commit_sha", "pr_number",
)  # fmt: skip


def _issue(**changes: Any) -> dict[str, Any]:
    """``GET /repos/{o}/{r}/issues`` item (the issue object a delivery embeds is the same)."""
    return {
        "url": f"{API}/issues/41",
        "repository_url": API,
        "html_url": "https://github.com/acme/api/issues/41",
        "id": 2001,
        "number": 41,
        "title": "PLAT-12 refunds fail for partial captures",
        "user": AUTHOR,
        "labels": [{"id": 1, "name": "bug"}],
        "state": "open",
        "created_at": "2026-09-08T09:00:00Z",
        "updated_at": "2026-09-08T09:00:00Z",
        "closed_at": None,
        "body": "Seen on main.",
        **changes,
    }


CLOSED = {"state": "closed", "closed_at": "2026-09-09T16:30:00Z"} | {
    "updated_at": "2026-09-09T16:30:00Z"
}


def _check_run(**changes: Any) -> dict[str, Any]:
    """``GET /repos/{o}/{r}/commits/{sha}/check-runs`` item (as a ``check_run`` delivery)."""
    return {
        "id": 31_000_000_001,
        "name": "security-scan",
        "head_sha": "a" * 40,
        "url": f"{API}/check-runs/31000000001",
        "html_url": "https://github.com/acme/api/runs/31000000001",
        "status": "completed",
        "conclusion": "failure",
        "started_at": "2026-09-09T10:00:00Z",
        "completed_at": "2026-09-09T10:04:00Z",
        "check_suite": {"id": 21_000_000_001},
        "app": {"id": 412907, "slug": "acme-scan"},
        "pull_requests": [{"number": 8, "url": f"{API}/pulls/8"}],
        **changes,
    }


def _delivered(event: str, body: dict[str, Any], n: int = 1) -> list[FetchedRecord]:
    delivery = StoredDelivery(
        id=n,
        source="github",
        delivery_id=f"{event}-{n}",
        event_type=event,
        received_at=AT,
        headers={},
        body=json.dumps({"repository": REPO, **body}).encode(),
        state="pending",
        reason=None,
        landing_refs=[],
    )
    return landing_records(delivery)


def _polled(kind: str, record_id: str, payload: dict[str, Any]) -> FetchedRecord:
    return FetchedRecord(kind, "acme/api", record_id, None, payload, f"{API}/{kind}?page=1")


def _normalised(records: list[FetchedRecord]) -> NormaliseResult:
    result = normalise(landing_frame("github", records, fetched_at=AT), pseudonym_key=KEY)
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    return result


def _events(result: NormaliseResult) -> list[dict[str, Any]]:
    return result.signals.sort("event_id").select(SAME).to_dicts()


# -- issues ----------------------------------------------------------------------------------------


def test_a_polled_closed_issue_is_the_same_events_as_its_opened_and_closed_deliveries():
    delivered = _delivered("issues", {"action": "opened", "issue": _issue(), "sender": AUTHOR})
    closed_issue = _issue(**CLOSED)
    delivered += _delivered(
        "issues", {"action": "closed", "issue": closed_issue, "sender": CLOSER}, n=2
    )
    assert {r.kind for r in delivered} == {"webhook:issues"}  # deliveries land whole
    polled = _polled("issues", "acme/api#41", {**closed_issue, "closed_by": CLOSER})

    by_webhook, by_polling = _normalised(delivered), _normalised([polled])

    assert _events(by_polling) == _events(by_webhook)
    events = {e["action"]: e for e in _events(by_polling)}
    assert set(events) == {"created", "closed"}
    assert events["created"]["actor"] == pseudonym(KEY, "github", "mlopez")
    assert events["closed"]["actor"] == pseudonym(KEY, "github", "octo-dev")
    assert (events["created"]["state"], events["closed"]["state"]) == ("open", "closed")
    assert events["closed"]["event_id"] == (
        "github:ticket:acme/api#41:closed:2026-09-09T16:30:00.000000Z"
    )
    assert events["created"]["ticket_keys"] == ["acme/api#41", "PLAT-12"]
    assert events["created"]["url"] == "https://github.com/acme/api/issues/41"


def test_a_polled_issue_without_closed_by_says_the_closer_is_unknown_not_deleted():
    closed = _events(_normalised([_polled("issues", "acme/api#41", _issue(**CLOSED))]))
    closer = next(e for e in closed if e["action"] == "closed")
    assert (closer["actor"], closer["actor_kind"]) == (None, "unknown")


def test_a_reopened_issue_polled_open_is_created_only():
    """GitHub keeps ``closed_at`` on a reopened issue; only the state says it is open again."""
    reopened = _issue(closed_at="2026-09-09T16:30:00Z", updated_at="2026-09-10T08:00:00Z")
    events = _events(_normalised([_polled("issues", "acme/api#41", reopened)]))
    assert [(e["action"], e["state"]) for e in events] == [("created", "open")]


def test_a_polled_enterprise_issue_without_html_url_links_to_the_enterprise_host():
    ghe = "https://ghe.acme.example/api/v3/repos/acme/api"
    issue = {**_issue(url=f"{ghe}/issues/41", repository_url=ghe), "html_url": None}
    (event,) = _events(_normalised([_polled("issues", "acme/api#41", issue)]))
    assert event["url"] == "https://ghe.acme.example/acme/api/issues/41"


# -- check runs ------------------------------------------------------------------------------------


def test_a_polled_check_run_is_the_same_event_as_its_delivery_but_for_who_sent_it():
    queued = _check_run(status="queued", conclusion=None, completed_at=None)
    delivered = _delivered(
        "check_run", {"action": "created", "check_run": queued, "sender": CLOSER}
    )
    delivered += _delivered(
        "check_run", {"action": "completed", "check_run": _check_run(), "sender": CLOSER}, n=2
    )
    record_id = "acme/api/check-runs/31000000001"
    polled = [
        _polled("check_runs", record_id, queued),
        _polled("check_runs", record_id, _check_run()),
    ]

    by_webhook, by_polling = _events(_normalised(delivered)), _events(_normalised(polled))

    # A REST check run names no person: the poll cannot say who the delivery's sender was.
    who = ("actor", "actor_kind")
    assert [{k: v for k, v in e.items() if k not in who} for e in by_polling] == [
        {k: v for k, v in e.items() if k not in who} for e in by_webhook
    ]
    assert {(e["actor"], e["actor_kind"]) for e in by_polling} == {(None, "unknown")}
    completed = next(e for e in by_polling if e["action"] == "completed")
    assert (completed["entity_id"], completed["state"], completed["commit_sha"]) == (
        record_id,
        "failure",
        "a" * 40,
    )
    assert (completed["pr_number"], completed["url"]) == (
        8,
        "https://github.com/acme/api/runs/31000000001",
    )
    assert [e["action"] for e in by_polling] == ["completed", "queued"]


# -- the sandbox speaks GitHub's wire format ------------------------------------------------------


@pytest.fixture(scope="module")
def server(world: World):
    with SandboxServer(Sandbox(world)) as running:
        yield running


def _get(server: SandboxServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/github{path}", headers={"Authorization": "Bearer t", **headers}, timeout=10
    )


def test_the_issues_list_holds_pull_requests_marked_by_their_pull_request_key(server, world):
    repo = world.github_repos()[0]
    first = _get(server, f"/repos/{repo}/issues?state=all&sort=updated&direction=desc&per_page=5")
    assert first.status_code == 200 and 'rel="next"' in first.headers["link"]
    items: list[dict[str, Any]] = []
    url = f"/repos/{repo}/issues?state=all&per_page=100"
    while url:
        page = _get(server, url)
        items += page.json()
        following = page.links.get("next", {}).get("url")
        url = following.split("/github", 1)[1] if following else ""
    pulls = [i for i in items if "pull_request" in i]
    issues = [i for i in items if "pull_request" not in i]
    assert len(pulls) == len(world.github_pulls(repo, world.end)) and issues
    assert all(p["pull_request"]["url"] == f"{API.replace('acme/api', repo)}/pulls/{p['number']}"
               for p in pulls)  # fmt: skip
    assert len({i["number"] for i in items}) == len(items)  # one sequence of numbers
    stamps = [i["updated_at"] for i in first.json()]
    assert stamps == sorted(stamps, reverse=True)
    again = _get(
        server,
        f"/repos/{repo}/issues?state=all&sort=updated&direction=desc&per_page=5",
        **{"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304


def test_check_runs_of_a_commit_come_wrapped_with_a_total_count(server, world):
    repo = world.github_repos()[0]
    commits = world.github_commits(repo, world.end)
    merge = next(c for c in commits if len(c["parents"]) > 1)
    body = _get(server, f"/repos/{repo}/commits/{merge['sha']}/check-runs").json()
    assert body["total_count"] == len(body["check_runs"]) == 1
    assert body["check_runs"][0]["head_sha"] == merge["sha"]
    branch = next(c for c in commits if len(c["parents"]) == 1)
    assert _get(server, f"/repos/{repo}/commits/{branch['sha']}/check-runs").json() == {
        "total_count": 0,
        "check_runs": [],
    }
    missing = _get(server, f"/repos/{repo}/commits/{'f' * 40}/check-runs")
    assert missing.status_code == 422


# -- the connector reads them incrementally --------------------------------------------------------


def _running_check(world: World, repo: str) -> tuple[datetime, int]:
    """An instant at which the check run of ``repo``'s newest commit is in progress, and the id
    of that run."""
    newest = world.github_commits(repo, world.end)[0]
    (run,) = world.github_check_runs(repo, newest["sha"], world.end)
    started = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
    return started + timedelta(seconds=30), run["id"]


def test_a_check_run_running_at_one_sync_is_read_completed_by_the_next(world, tmp_path: Path):
    repo = world.github_repos()[0]
    during, run_id = _running_check(world, repo)
    with SandboxServer(Sandbox(world, as_of=during)) as server:
        deployment = Deployment("github", world, tmp_path, server)
        deployment.sync(repos=[repo])
        key = f"{repo}/check-runs/{run_id}"

        def landed_run() -> dict[str, Any]:
            rows = deployment.landing.latest(source="github", kind="check_runs")
            row = rows.filter(pl.col("record_id") == key).row(0, named=True)
            return json.loads(row["payload"])

        assert landed_run()["status"] == "in_progress"
        assert world.github_commits(repo, during) == world.github_commits(repo, world.end)
        # The run is on the newest commit: the commit list does not change when it finishes, so
        # the sync that saw it running kept no ETag and the next one asks again.
        server.sandbox.set_clock(world.end)
        report, _ = deployment.sync(repos=[repo])
        assert landed_run()["status"] == "completed"
        endpoints = {e["endpoint"]: e for e in report.endpoints}
        assert endpoints["check_runs"]["landed"] >= 1
        # Everything finished: the next sync is one 304 per endpoint again.
        report, stats = deployment.sync(repos=[repo])
        assert stats.requests == stats.not_modified == len(report.endpoints) == 7


class _IssuesDisabled(BaseHTTPRequestHandler):
    """GitHub's answer for the issues of a repository that turned issues off."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "message": "Issues are disabled for this repo",
                "documentation_url": "https://docs.github.com/v3/issues/",
            }
        ).encode()
        self.send_response(410 if "/issues" in self.path else 404)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_repository_with_issues_turned_off_has_no_issues_and_the_sync_goes_on():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IssuesDisabled)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        resource = GitHubResource(
            base_url=f"http://127.0.0.1:{server.server_address[1]}", repos=["acme/api"], token="t"
        )
        stats = RequestStats()
        connector = resource.connector(stats)
        sync = EndpointSync(
            scope="acme/api", endpoint="issues", cursor_before=None, etag_before=None
        )
        assert list(connector.fetch(sync)) == []
        assert stats.requests == 1  # a 410 is an answer, not a fault to retry
        missing = EndpointSync(scope="acme/api", endpoint="releases", cursor_before=None,
                               etag_before=None)  # fmt: skip
        with pytest.raises(ApiError):
            list(connector.fetch(missing))  # other errors still stop the sync
        connector.client.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)
