"""Tolerant parsing that never guesses: Sentry's alert, error, metric-alert and comment webhooks
become incident timelines; an absent account is unknown (only a ghost or an explicit null is
deleted); every event has a link to cite, built from the repository when the record has none;
reviews and deployments have titles; a malformed time falls back to another time the record
carries, and says so. Payloads are hand-written in the tools' documented shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import NO_NORMALISER, NormaliseResult, normalise
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.simulator import World
from flowsync_pipelines.simulator.render_webhooks import deliveries
from flowsync_pipelines.webhooks.drain import landing_records
from flowsync_pipelines.webhooks.queue import StoredDelivery

KEY = "tolerant-test-key"
RECEIVED = "2026-09-10T12:00:00+00:00"
AT = datetime(2026, 9, 10, 12, 0, 5, tzinfo=UTC)
GHE_API = "https://ghe.acme.example/api/v3/repos/acme/api"
SENTRY_APP = {"id": "sentry", "name": "Sentry", "type": "application"}
SENTRY_PERSON = {"type": "user", "id": 4207, "name": "Rosa Quint"}


def _landed(source: str, records: list[FetchedRecord]) -> NormaliseResult:
    return normalise(landing_frame(source, records, fetched_at=AT), pseudonym_key=KEY)


def _hooks(source: str, event: str, *payloads: dict[str, Any], scope: str = "") -> NormaliseResult:
    return _landed(
        source,
        [
            FetchedRecord(
                kind=f"webhook:{event}",
                scope=scope,
                record_id=f"delivery-{i}",
                updated_at=RECEIVED,
                payload=payload,
                request=f"delivery:delivery-{i}",
            )
            for i, payload in enumerate(payloads)
        ],
    )


def _polled(kind: str, *payloads: dict[str, Any], request: str = "test") -> NormaliseResult:
    return _landed(
        "github",
        [
            FetchedRecord(kind, "acme/api", f"acme/api/{kind}/{i}", None, payload, request)
            for i, payload in enumerate(payloads)
        ],
    )


def _only(result: NormaliseResult) -> dict[str, Any]:
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    assert result.signals.height == 1, result.signals.to_dicts()
    return result.signals.row(0, named=True)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event["attributes"])


# -- Sentry: event_alert, error, metric_alert, comment ------------------------------------------
def _frame(filename: str, *, in_app: bool) -> dict[str, Any]:
    return {
        "abs_path": f"app:///{filename}",
        "filename": filename,
        "function": "charge",
        "in_app": in_app,
        "lineno": 88,
        "colno": None,
        "context_line": "    raise CardDeclined(reason)",
        "data": {"orig_in_app": 1},
        "module": filename.removesuffix(".py").replace("/", "."),
    }


def _sentry_event(**overrides: Any) -> dict[str, Any]:
    """``data.event`` / ``data.error`` as Sentry serialises an event into a webhook."""
    event = {
        "_ref": 7,
        "_ref_version": 2,
        "event_id": "5c0f1e7b9a8d4e2f8c6b3a1d0e9f7a6b",
        "issue_id": "88301",
        "issue_url": "https://sentry.io/api/0/issues/88301/",
        "url": "https://sentry.io/api/0/projects/acme/checkout/events/5c0f1e7b9a8d4e2f8c6b3a1d0e9f7a6b/",
        "web_url": "https://sentry.io/organizations/acme/issues/88301/events/5c0f1e7b9a8d4e2f8c6b3a1d0e9f7a6b/",
        "title": "CardDeclined: insufficient funds",
        "culprit": "payments/charge.py in charge",
        "level": "error",
        "platform": "python",
        "project": 7,
        "release": "checkout@2.14.0",
        "environment": "production",
        "datetime": "2026-09-10T11:58:30.120000Z",
        "timestamp": 1789041510.12,
        "received": 1789041510.5,
        "location": "payments/charge.py",
        "message": "",
        "metadata": {
            "filename": "payments/charge.py",
            "function": "charge",
            "type": "CardDeclined",
            "value": "insufficient funds",
        },
        "exception": {
            "values": [
                {
                    "type": "CardDeclined",
                    "value": "insufficient funds",
                    "mechanism": {"type": "generic", "handled": False},
                    "stacktrace": {
                        "frames": [
                            _frame("venv/lib/stripe/api.py", in_app=False),
                            _frame("payments/gateway.py", in_app=True),
                            _frame("payments/charge.py", in_app=True),
                        ]
                    },
                }
            ]
        },
        "tags": [
            ["environment", "production"],
            ["handled", "no"],
            ["level", "error"],
            ["release", "checkout@2.14.0"],
            ["server_name", "web-3"],
        ],
        "sdk": {"name": "sentry.python", "version": "2.14.0"},
        "type": "error",
        "version": "7",
        "user": {"ip_address": "203.0.113.9"},
    }
    return {**event, **overrides}


def _event_alert(**event: Any) -> dict[str, Any]:
    return {
        "action": "triggered",
        "actor": SENTRY_APP,
        "data": {
            "event": _sentry_event(**event),
            "triggered_rule": "Checkout errors to on-call",
            "issue_alert": {"title": "Checkout errors to on-call", "settings": []},
        },
        "installation": {"uuid": "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
    }


def test_a_sentry_issue_alert_is_an_alert_triggered_event_on_the_issues_incident():
    event = _only(_hooks("sentry", "event_alert", _event_alert()))
    assert event["entity_type"] == "incident"
    assert event["entity_id"] == "sentry:checkout/88301"  # the polled issue's incident
    assert event["action"] == "alert_triggered"
    assert event["occurred_at"] == _utc("2026-09-10T11:58:30.120Z")
    assert event["release"] == "checkout@2.14.0"
    assert event["environment"] == "production"
    assert event["title"] == "CardDeclined: insufficient funds"
    assert event["url"].startswith("https://sentry.io/organizations/acme/issues/88301/events/")
    assert (event["actor"], event["actor_kind"]) == (None, "bot")  # the alert rule fired
    attributes = _attributes(event)
    assert attributes["culprit"] == "payments/charge.py in charge"
    assert attributes["files"] == ["payments/charge.py", "payments/gateway.py"]
    assert attributes["triggered_rule"] == "Checkout errors to on-call"
    assert "time_source" not in attributes


def test_a_sentry_alert_with_a_malformed_datetime_is_dated_by_its_epoch_timestamp_and_says_so():
    event = _only(_hooks("sentry", "event_alert", _event_alert(datetime="10/09/2026 11:58")))
    assert event["occurred_at"] == datetime.fromtimestamp(1789041510.12, UTC)
    attributes = _attributes(event)
    assert attributes["time_source"] == "data.event.timestamp"
    assert attributes["time_fallback"] == (
        "event alert time is not an ISO-8601 timestamp: 10/09/2026 11:58"
    )


def test_a_sentry_error_is_an_error_seen_event_with_release_from_its_tags():
    error = _sentry_event(release=None, environment=None, issue_id=None)
    body = {"action": "created", "actor": SENTRY_APP, "data": {"error": error}}
    event = _only(_hooks("sentry", "error", body))
    assert (event["entity_id"], event["action"]) == ("sentry:checkout/88301", "error_seen")
    assert event["release"] == "checkout@2.14.0"  # the tag, when the field is null
    assert event["environment"] == "production"


def test_a_sentry_alert_that_names_no_project_or_another_action_is_quarantined_with_a_reason():
    no_project = _event_alert(url=None)
    other = {**_event_alert(), "action": "snoozed"}
    result = _hooks("sentry", "event_alert", no_project, other)
    assert result.signals.is_empty()
    assert sorted(result.quarantine.get_column("reason").to_list()) == [
        "event alert has no action",
        "event_alert names no project (data.event.url is not "
        "…/api/0/projects/<org>/<project>/events/…)",
    ]


def _metric_alert(action: str, **alert: Any) -> dict[str, Any]:
    incident = {
        "id": "3301",
        "identifier": "57",
        "title": "p95 checkout latency",
        "organization_id": "12",
        "projects": ["checkout"],
        "status": 2,
        "status_method": 3,
        "type": 2,
        "date_created": "2026-09-10T09:00:00.000000Z",
        "date_detected": "2026-09-10T09:00:00.000000Z",
        "date_started": "2026-09-10T08:59:00.000000Z",
        "date_closed": None,
        "alert_rule": {
            "id": "91",
            "name": "Checkout latency",
            "aggregate": "p95(transaction.duration)",
            "query": "transaction:/checkout",
            "dataset": "transactions",
            "time_window": 5,
            "triggers": [],
            "projects": ["checkout"],
            "created_by": None,
        },
    }
    return {
        "action": action,
        "actor": SENTRY_APP,
        "data": {
            "metric_alert": {**incident, **alert},
            "description_title": f"{action.title()}: Checkout latency",
            "description_text": "p95 above 800ms in the last 5 minutes",
            "web_url": "https://sentry.io/organizations/acme/alerts/57/",
        },
        "installation": {"uuid": "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
    }


def test_a_sentry_metric_alert_is_an_incident_of_its_own_critical_warning_then_resolved():
    result = _hooks(
        "sentry",
        "metric_alert",
        _metric_alert("warning"),
        _metric_alert("critical", date_started=None),
        _metric_alert("resolved", date_closed="2026-09-10T09:40:00Z"),
        _metric_alert("resolved", id="3302"),  # Sentry sent no date_closed
    )
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    rows = {(row["entity_id"], row["action"]): row for row in result.signals.iter_rows(named=True)}
    assert set(rows) == {
        ("sentry:metric_alert/3301", "warning"),
        ("sentry:metric_alert/3301", "critical"),
        ("sentry:metric_alert/3301", "resolved"),
        ("sentry:metric_alert/3302", "resolved"),
    }
    warning = rows["sentry:metric_alert/3301", "warning"]
    assert warning["occurred_at"] == _utc("2026-09-10T08:59:00Z")
    assert (warning["entity_type"], warning["state"]) == ("incident", "warning")
    assert warning["title"] == "Warning: Checkout latency"
    assert warning["url"] == "https://sentry.io/organizations/acme/alerts/57/"
    assert _attributes(warning)["alert_rule"] == "Checkout latency"
    critical = rows["sentry:metric_alert/3301", "critical"]
    assert critical["occurred_at"] == _utc("2026-09-10T09:00:00Z")
    assert _attributes(critical)["time_source"] == "date_detected"
    assert rows["sentry:metric_alert/3301", "resolved"]["occurred_at"] == _utc("2026-09-10T09:40Z")
    assert rows["sentry:metric_alert/3302", "resolved"]["occurred_at"] == _utc(RECEIVED)


def _comment(action: str, **data: Any) -> dict[str, Any]:
    body = {
        "comment": "Rolled back checkout@2.14.0, PAY-311 tracks the fix",
        "project_slug": "checkout",
        "comment_id": 5501,
        "issue_id": 88301,
        "timestamp": "2026-09-10T10:05:00.118160Z",
    }
    return {
        "action": action,
        "data": {**body, **data},
        "installation": {"uuid": "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
        "actor": SENTRY_PERSON,
    }


def test_sentry_comments_are_comment_events_that_name_their_incident_and_author_by_pseudonym():
    result = _hooks(
        "sentry",
        "comment",
        _comment("created"),
        _comment("updated", timestamp="2026-09-10T10:09:00Z"),
        _comment("deleted", timestamp="2026-09-10T10:30:00Z"),
    )
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    actions = dict(zip(result.signals["action"], result.signals["occurred_at"], strict=True))
    assert actions == {
        "commented": _utc("2026-09-10T10:05:00.118160Z"),
        "edited": _utc("2026-09-10T10:09:00Z"),
        "deleted": _utc("2026-09-10T10:30:00Z"),
    }
    comment = result.signals.filter(pl.col("action") == "commented").row(0, named=True)
    assert comment["entity_type"] == "comment"
    assert comment["entity_id"] == "sentry:checkout/88301/comments/5501"
    assert _attributes(comment)["incident"] == "sentry:checkout/88301"
    assert comment["ticket_keys"] == ["PAY-311"]
    assert comment["url"] == "https://sentry.io/issues/88301/activity/"
    assert comment["actor"] == pseudonym(KEY, "sentry", "4207")
    assert comment["actor_kind"] == "human"
    assert "Rosa" not in str(result.signals.to_dicts())
    assert result.accounts.get_column("display_name").to_list() == ["Rosa Quint"]


def test_a_sentry_installation_is_a_reference_and_seer_stays_unsupported():
    installed = {"action": "created", "installation": {"uuid": "1f0e"}, "data": {}}
    result = _hooks("sentry", "installation", installed)
    assert result.signals.is_empty() and result.quarantine.is_empty()
    assert result.references.get_column("note").to_list() == [
        "integration installation lifecycle: no event"
    ]
    seer = _hooks("sentry", "seer", {"action": "root_cause_started", "data": {}})
    assert seer.quarantine.get_column("reason").to_list() == [
        f"{NO_NORMALISER} for source 'sentry' kind 'webhook:seer'"
    ]


# -- GitHub: absent is unknown, null or ghost is deleted -----------------------------------------
def _run(run_id: int, **fields: Any) -> dict[str, Any]:
    """A workflow run as the 2020 Actions API returned it: no actor, no run_started_at."""
    run = {
        "id": run_id,
        "name": "CI",
        "node_id": "MDExOldvcmtmbG93UnVuMTIz",
        "head_branch": "PLAT-9-retry",
        "head_sha": "c" * 40,
        "run_number": 12,
        "event": "push",
        "status": "completed",
        "conclusion": "success",
        "workflow_id": 161335,
        "url": f"{GHE_API}/actions/runs/{run_id}",
        "html_url": f"https://ghe.acme.example/acme/api/actions/runs/{run_id}",
        "pull_requests": [],
        "created_at": "2020-06-02T10:00:00Z",
        "updated_at": "2020-06-02T10:04:00Z",
    }
    return {**run, **fields}


OCTO = {"login": "octo-dev", "id": 501, "type": "User"}
GHOST = {"login": "ghost", "id": 10137, "type": "User"}


def test_a_2020_workflow_run_without_an_actor_is_unknown_not_deleted():
    result = _polled(
        "workflow_runs",
        _run(1),  # neither field: says nothing of who ran it
        _run(2, triggering_actor=None),  # present and null: the account is gone
        _run(3, actor=OCTO),  # 2021: actor, no triggering_actor yet
        _run(4, actor=OCTO, triggering_actor=GHOST),
    )
    started = result.signals.filter(pl.col("action") == "started")
    kinds = dict(zip(started["entity_id"], started["actor_kind"], strict=True))
    assert kinds == {
        "acme/api/actions/runs/1": "unknown",
        "acme/api/actions/runs/2": "deleted",
        "acme/api/actions/runs/3": "human",
        "acme/api/actions/runs/4": "deleted",
    }
    actors = dict(zip(started["entity_id"], started["actor"], strict=True))
    assert actors["acme/api/actions/runs/3"] == pseudonym(KEY, "github", "octo-dev")
    assert actors["acme/api/actions/runs/1"] is None
    # No run_started_at in 2020: created_at stands in, and the event says so.
    first = started.filter(pl.col("entity_id") == "acme/api/actions/runs/1").row(0, named=True)
    assert first["occurred_at"] == _utc("2020-06-02T10:00:00Z")
    assert _attributes(first)["time_source"] == "created_at"
    assert _attributes(first)["time_fallback"] == "run_started_at is missing"


def _review(review_id: int, **fields: Any) -> dict[str, Any]:
    review = {
        "id": review_id,
        "node_id": "PRR_kwDOAbc",
        "user": OCTO,
        "body": "",
        "state": "APPROVED",
        "commit_id": "d" * 40,
        "submitted_at": "2026-09-09T15:00:00Z",
        "author_association": "MEMBER",
        "pull_request_url": f"{GHE_API}/pulls/42",
    }
    return {**review, **fields}


def test_a_review_without_a_user_field_is_unknown_and_with_a_null_user_deleted():
    missing = _review(4)
    del missing["user"]
    result = _polled("reviews", _review(1), _review(2, user=None), _review(3, user=GHOST), missing)
    kinds = dict(zip(result.signals["entity_id"], result.signals["actor_kind"], strict=True))
    assert kinds == {
        "acme/api#42/reviews/1": "human",
        "acme/api#42/reviews/2": "deleted",
        "acme/api#42/reviews/3": "deleted",
        "acme/api#42/reviews/4": "unknown",
    }


def test_a_review_without_html_url_links_to_the_pull_request_on_its_own_host_and_has_a_title():
    bare = _review(7)
    linked = _review(8, _links={"html": {"href": "https://ghe.acme.example/acme/api/pull/42"}})
    titled = _review(9, state="CHANGES_REQUESTED", pull_request={"title": "Retry refunds"})
    result = _polled("reviews", bare, linked, titled)
    rows = {row["entity_id"]: row for row in result.signals.iter_rows(named=True)}
    assert rows["acme/api#42/reviews/7"]["url"] == (
        "https://ghe.acme.example/acme/api/pull/42#pullrequestreview-7"
    )
    assert rows["acme/api#42/reviews/8"]["url"] == (
        "https://ghe.acme.example/acme/api/pull/42#pullrequestreview-8"
    )
    assert rows["acme/api#42/reviews/7"]["title"] == "Review approved"
    assert rows["acme/api#42/reviews/9"]["title"] == "Review of Retry refunds"


OCTO_GIT = {"name": "Octo Dev", "email": "octo@acme.example"}


def _commit(sha: str, **fields: Any) -> dict[str, Any]:
    commit = {
        "sha": sha,
        "commit": {
            "author": {**OCTO_GIT, "date": "2026-09-09T09:00:00Z"},
            "committer": {**OCTO_GIT, "date": "2026-09-09T09:30:00Z"},
            "message": "PLAT-9 retry refunds",
        },
        "author": OCTO,
        "committer": OCTO,
        "parents": [{"sha": "e" * 40}],
    }  # fmt: skip
    return {**commit, **fields}


def test_a_commit_without_html_url_links_to_its_repository_and_sha():
    sha_ghe, sha_api, sha_bare = "1" * 40, "2" * 40, "3" * 40  # fmt: skip
    on_ghe = _commit(sha_ghe, url=f"{GHE_API}/commits/{sha_ghe}")
    listed = _commit(sha_api)  # no url of its own: the request it came from names the repo
    result = _landed(
        "github",
        [
            FetchedRecord("commits", "acme/api", f"acme/api@{sha_ghe}", None, on_ghe, "t"),
            FetchedRecord(
                "commits",
                "acme/api",
                f"acme/api@{sha_api}",
                None,
                listed,
                "https://api.github.com/repos/acme/api/commits?sha=main&per_page=100",
            ),
            FetchedRecord(
                "commits", "acme/api", f"acme/api@{sha_bare}", None, _commit(sha_bare), ""
            ),
        ],
    )  # fmt: skip
    urls = dict(zip(result.signals["commit_sha"], result.signals["url"], strict=True))
    assert urls == {
        sha_ghe: f"https://ghe.acme.example/acme/api/commit/{sha_ghe}",
        sha_api: f"https://github.com/acme/api/commit/{sha_api}",
        sha_bare: f"https://github.com/acme/api/commit/{sha_bare}",
    }


def test_a_malformed_committer_date_falls_back_to_the_author_date_and_says_so():
    odd = _commit("4" * 40)
    odd["commit"]["committer"]["date"] = "Wed Sep 9 09:30"
    event = _only(_polled("commits", odd))
    assert event["occurred_at"] == _utc("2026-09-09T09:00:00Z")
    attributes = _attributes(event)
    assert attributes["time_source"] == "commit.author.date"
    assert attributes["time_fallback"] == (
        "commit.committer.date is not an ISO-8601 timestamp: Wed Sep 9 09:30"
    )
    assert attributes["parents"] == 1  # the record's own attributes are kept


def _deployment(**fields: Any) -> dict[str, Any]:
    deployment = {
        "url": f"{GHE_API}/deployments/77",
        "id": 77,
        "sha": "a" * 40,
        "ref": "a" * 40,
        "task": "deploy",
        "environment": "production",
        "description": None,
        "creator": OCTO,
        "created_at": "2026-09-09T16:00:00Z",
        "updated_at": "2026-09-09T16:02:00Z",
        "statuses_url": f"{GHE_API}/deployments/77/statuses",
        "repository_url": GHE_API,
    }
    return {**deployment, **fields}


def test_a_deployment_has_a_title_and_links_to_the_commit_it_deploys_on_its_own_host():
    result = _polled(
        "deployments",
        _deployment(),
        _deployment(id=78, ref="v2.14.0"),
        _deployment(id=79, sha="abc1234"),  # not a full sha: no commit page to name
    )
    rows = {row["deployment_id"]: row for row in result.signals.iter_rows(named=True)}
    assert rows["77"]["title"] == "production deployment of aaaaaaa"
    assert rows["78"]["title"] == "production deployment of v2.14.0"
    assert rows["77"]["url"] == "https://ghe.acme.example/acme/api/commit/" + "a" * 40
    assert rows["79"]["url"] == "https://ghe.acme.example/acme/api/deployments"


def test_a_malformed_deployment_time_falls_back_to_updated_at_and_one_with_none_is_quarantined():
    result = _polled(
        "deployments",
        _deployment(created_at="2026-09-09 sixteen o'clock"),
        _deployment(id=79, created_at="soon", updated_at=None),
    )
    event = result.signals.row(0, named=True)
    assert result.signals.height == 1
    assert event["occurred_at"] == _utc("2026-09-09T16:02:00Z")
    assert _attributes(event)["time_source"] == "updated_at"
    assert result.quarantine.get_column("reason").to_list() == [
        "created_at is not an ISO-8601 timestamp: soon"
    ]


def test_a_deployment_status_links_to_its_log_else_target_else_environment_else_deployments():
    def status(status_id: int, **fields: Any) -> dict[str, Any]:
        return {
            "url": f"{GHE_API}/deployments/77/statuses/{status_id}",
            "id": status_id,
            "state": "success",
            "creator": OCTO,
            "description": "",
            "environment": "production",
            "target_url": "",
            "log_url": "",
            "created_at": "2026-09-09T16:05:00Z",
            "updated_at": "2026-09-09T16:05:00Z",
            "deployment_url": f"{GHE_API}/deployments/77",
            "repository_url": GHE_API,
            **fields,
        }

    result = _polled(
        "deployment_statuses",
        status(1, state="queued", log_url="https://ci.acme.example/deploys/1"),
        status(
            2,
            state="in_progress",
            target_url="https://ci.acme.example/deploys/2",
            created_at="2026-09-09T16:06:00Z",
        ),
        status(3, created_at="2026-09-09T16:07:00Z"),
        status(4, environment_url="https://api.acme.example", created_at="2026-09-09T16:08:00Z"),
    )
    rows = result.signals.sort("occurred_at")
    assert rows.get_column("url").to_list() == [
        "https://ci.acme.example/deploys/1",
        "https://ci.acme.example/deploys/2",
        "https://ghe.acme.example/acme/api/deployments",
        "https://api.acme.example",
    ]
    kinds = [json.loads(a)["url_is"] for a in rows.get_column("attributes")]
    assert kinds == ["log", "target", "deployments_page", "environment"]
    assert set(result.signals.get_column("title")) == {
        "production deployment queued",
        "production deployment in progress",
        "production deployment success",
    }


def test_a_check_run_with_a_malformed_completion_time_is_dated_by_updated_at_and_says_so():
    check = {
        "id": 4,
        "name": "lint",
        "status": "completed",
        "conclusion": "success",
        "head_sha": "b" * 40,
        "html_url": None,
        "started_at": "2026-09-10T11:00:00Z",
        "completed_at": "yesterday",
        "updated_at": "2026-09-10T11:03:00Z",
        "pull_requests": [],
    }
    body = {
        "action": "completed",
        "check_run": check,
        "sender": OCTO,
        "repository": {"full_name": "acme/api", "html_url": "https://ghe.acme.example/acme/api"},
    }
    event = _only(_hooks("github", "check_run", body, scope="acme/api"))
    assert event["occurred_at"] == _utc("2026-09-10T11:03:00Z")
    assert event["url"] == f"https://ghe.acme.example/acme/api/commit/{'b' * 40}/checks"
    attributes = _attributes(event)
    assert attributes["time_source"] == "updated_at"
    assert attributes["time_fallback"] == "check run time is not an ISO-8601 timestamp: yesterday"


# -- the demo world: every event cites a link; nobody is deleted without the payload saying so --
def _polled_world(world: World) -> pl.DataFrame:
    """Every polled kind of every tool, keyed and requested as the connectors land them."""
    end = world.end
    frames: list[pl.DataFrame] = []

    def land(source: str, records: list[FetchedRecord]) -> None:
        frames.append(landing_frame(source, records, fetched_at=end))

    github: list[FetchedRecord] = []
    for repo in world.github_repos():
        api = f"https://api.github.com/repos/{repo}"
        for pull in world.github_pulls(repo, end):
            github.append(
                FetchedRecord("pulls", repo, f"{repo}#{pull['number']}", None, pull, f"{api}/pulls")
            )
            for review in world.github_reviews(repo, pull["number"], end):
                rid = f"{repo}#{pull['number']}/reviews/{review['id']}"
                github.append(
                    FetchedRecord(
                        "reviews", repo, rid, None, review, f"{api}/pulls/{pull['number']}/reviews"
                    )
                )
        for commit in world.github_commits(repo, end):
            github.append(
                FetchedRecord(
                    "commits", repo, f"{repo}@{commit['sha']}", None, commit, f"{api}/commits"
                )
            )
        for run in world.github_workflow_runs(repo, end):
            github.append(
                FetchedRecord(
                    "workflow_runs",
                    repo,
                    f"{repo}/actions/runs/{run['id']}",
                    None,
                    run,
                    f"{api}/actions/runs",
                )
            )
        for dep in world.github_deployments(repo, end):
            did = f"{repo}/deployments/{dep['id']}"
            github.append(FetchedRecord("deployments", repo, did, None, dep, f"{api}/deployments"))
            for status in world.github_deployment_statuses(repo, dep["id"], end):
                github.append(
                    FetchedRecord(
                        "deployment_statuses",
                        repo,
                        f"{did}/statuses/{status['id']}",
                        None,
                        status,
                        f"{api}/deployments/{dep['id']}/statuses",
                    )
                )
        for rel in world.github_releases(repo, end):
            github.append(
                FetchedRecord(
                    "releases", repo, f"{repo}/releases/{rel['id']}", None, rel, f"{api}/releases"
                )
            )
    land("github", github)

    gitlab: list[FetchedRecord] = []
    for project in world.gitlab_projects():
        pid, path = project["id"], project["path_with_namespace"]
        api = f"https://gitlab.com/api/v4/projects/{pid}"
        for mr in world.gitlab_merge_requests(pid, end):
            gitlab.append(
                FetchedRecord(
                    "merge_requests", path, f"{path}!{mr['iid']}", None, mr, f"{api}/merge_requests"
                )
            )
            for note in world.gitlab_mr_notes(pid, mr["iid"], end):
                gitlab.append(
                    FetchedRecord(
                        "notes",
                        path,
                        f"{path}!{mr['iid']}/notes/{note['id']}",
                        None,
                        note,
                        f"{api}/merge_requests/{mr['iid']}/notes",
                    )
                )
        for pipeline in world.gitlab_pipelines(pid, end):
            gitlab.append(
                FetchedRecord(
                    "pipelines",
                    path,
                    f"{path}/pipelines/{pipeline['id']}",
                    None,
                    pipeline,
                    f"{api}/pipelines",
                )
            )
            for job in world.gitlab_jobs(pid, pipeline["id"], end):
                gitlab.append(
                    FetchedRecord(
                        "jobs", path, f"{path}/jobs/{job['id']}", None, job, f"{api}/jobs"
                    )
                )
        for dep in world.gitlab_deployments(pid, end):
            gitlab.append(
                FetchedRecord(
                    "deployments",
                    path,
                    f"{path}/deployments/{dep['id']}",
                    None,
                    dep,
                    f"{api}/deployments",
                )
            )
        for issue in world.gitlab_issues(pid, end):
            gitlab.append(
                FetchedRecord(
                    "issues", path, f"{path}#{issue['iid']}", None, issue, f"{api}/issues"
                )
            )
        for commit in world.gitlab_commits(pid, end):
            gitlab.append(
                FetchedRecord(
                    "commits",
                    path,
                    f"{path}@{commit['id']}",
                    None,
                    commit,
                    f"{api}/repository/commits",
                )
            )
    land("gitlab", gitlab)

    sentry: list[FetchedRecord] = []
    api = "https://sentry.io/api/0"
    for project in world.sentry_projects():
        slug = project["slug"]
        for issue in world.sentry_issues(slug, end):
            sentry.append(
                FetchedRecord(
                    "issues",
                    slug,
                    str(issue["id"]),
                    None,
                    issue,
                    f"{api}/projects/acme/{slug}/issues/",
                )
            )
            if event := world.sentry_latest_event(issue["id"], end):
                sentry.append(
                    FetchedRecord(
                        "latest_events",
                        slug,
                        str(issue["id"]),
                        None,
                        event,
                        f"{api}/issues/{issue['id']}/events/latest/",
                    )
                )
        for rel in world.sentry_releases(slug, end):
            sentry.append(
                FetchedRecord(
                    "releases",
                    slug,
                    rel["version"],
                    None,
                    rel,
                    f"{api}/projects/acme/{slug}/releases/",
                )
            )
            for deploy in world.sentry_deploys(rel["version"], end):
                sentry.append(
                    FetchedRecord(
                        "deploys",
                        slug,
                        f"{rel['version']}/deploys/{deploy['id']}",
                        None,
                        deploy,
                        f"{api}/organizations/acme/releases/v/deploys/",
                    )
                )
    land("sentry", sentry)

    land(
        "jenkins",
        [
            FetchedRecord(
                "builds",
                job,
                f"{job}#{b['number']}",
                None,
                b,
                f"https://ci.acme.example/job/{job}/api/json",
            )
            for job in world.jenkins_jobs()
            for b in world.jenkins_builds(job, end)
        ],
    )
    land(
        "linear",
        [
            FetchedRecord(
                kind, "MOB", str(node["id"]), None, node, "https://api.linear.app/graphql"
            )
            for kind, nodes in (
                ("issues", world.linear_issues(end)),
                ("comments", world.linear_comments(end)),
                ("cycles", world.linear_cycles(end)),
                ("projects", world.linear_projects(end)),
            )
            for node in nodes
        ],
    )
    land(
        "figma",
        [
            FetchedRecord(
                "comments",
                f["key"],
                str(c["id"]),
                None,
                c,
                f"https://api.figma.com/v1/files/{f['key']}/comments",
            )
            for f in world.figma_files()
            for c in world.figma_comments(f["key"], end)
        ],
    )
    return pl.concat(frames, how="vertical_relaxed")  # fmt: skip


def _delivered_world(world: World) -> pl.DataFrame:
    """Every webhook delivery of the world, landed as the drain lands it."""
    frames = []
    for i, delivery in enumerate(deliveries(world)):
        stored = StoredDelivery(
            id=i,
            source=delivery.route,
            delivery_id=delivery.delivery_id,
            event_type=delivery.event,
            received_at=delivery.delivered_at,
            headers={},
            body=json.dumps(delivery.payload).encode(),
            state="pending",
            reason=None,
            landing_refs=[],
        )
        frames.append(
            landing_frame(stored.source, landing_records(stored), fetched_at=delivery.delivered_at)
        )
    return pl.concat(frames, how="vertical_relaxed")


@pytest.fixture(scope="module")
def world_landing(world: World) -> pl.DataFrame:
    return pl.concat([_polled_world(world), _delivered_world(world)], how="vertical_relaxed")


@pytest.fixture(scope="module")
def world_signals(world_landing: pl.DataFrame) -> NormaliseResult:
    return normalise(world_landing, pseudonym_key=KEY)


# Linear cycles carry no link: the connector's query does not ask for ``url`` nor for the
# workspace (``team { organization { urlKey } }``) the normaliser would build one from. When it
# does, this test fails until the exception is removed.
UNCITED_UNTIL_THE_CONNECTOR_ASKS = {("linear", "sprint")}


def test_every_event_of_the_demo_world_cites_a_link(world_signals: NormaliseResult):
    signals = world_signals.signals
    assert set(signals.get_column("source")) >= {"github", "gitlab", "sentry", "jira", "linear"}
    uncited = signals.filter(pl.col("url").is_null() | (pl.col("url").str.strip_chars() == ""))
    kinds = set(uncited.select("source", "entity_type").unique().iter_rows())
    assert kinds == UNCITED_UNTIL_THE_CONNECTOR_ASKS, (
        uncited.group_by("source", "entity_type", "action").len().to_dicts()
    )


def test_no_event_of_the_demo_world_is_deleted_unless_its_payload_names_a_deleted_account(
    world_signals: NormaliseResult, world_landing: pl.DataFrame
):
    deleted = world_signals.signals.filter(pl.col("actor_kind") == "deleted")
    payloads = deleted.join(
        world_landing.select("landing_ref", "payload"), on="landing_ref", how="left"
    )
    ghostly = pl.col("payload").str.contains(r'"(login|username)":\s*"ghost"')
    explicit_null = pl.col("payload").str.contains(
        r'"(user|author|creator|triggering_actor|actor|sender)":\s*null'
    )
    unexplained = payloads.filter(~(ghostly | explicit_null))
    assert unexplained.is_empty(), unexplained.select("event_id").to_dicts()[:5]


def test_a_linear_cycle_links_to_its_team_cycle_page_when_the_workspace_is_named():
    cycle = {
        "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
        "number": 14,
        "name": None,
        "startsAt": "2026-09-07T00:00:00.000Z",
        "endsAt": "2026-09-21T00:00:00.000Z",
        "completedAt": None,
        "progress": 0.4,
        "team": {"id": "t1", "key": "MOB", "name": "Mobile", "organization": {"urlKey": "acme"}},
    }
    record = FetchedRecord(
        "cycles", "MOB", cycle["id"], None, cycle, "https://api.linear.app/graphql"
    )
    event = _only(_landed("linear", [record]))
    assert (event["action"], event["title"]) == ("started", "Cycle 14")
    assert event["url"] == "https://linear.app/acme/team/MOB/cycle/14"
