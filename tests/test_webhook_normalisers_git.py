"""GitHub, GitLab and Jenkins webhook deliveries that no polled kind covers → signals.

Fixtures are hand-written in the tools' documented shapes (the conformance test runs the
published examples). Each delivery lands whole, as the drain lands it: kind ``webhook:<event>``,
the delivery id as record id, the receipt time as ``updated_at``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import NO_NORMALISER, NormaliseResult, normalise
from flowsync_pipelines.pseudonym import pseudonym

KEY = "webhook-test-key"
RECEIVED = "2026-09-10T12:00:00+00:00"
AT = datetime(2026, 9, 10, 12, 0, 5, tzinfo=UTC)
SENDER = {"login": "octo-dev", "id": 501, "type": "User"}
REPO = {"full_name": "acme/api", "html_url": "https://github.com/acme/api"}
GITLAB_USER = {"id": 7, "username": "gl.dev", "name": "Gitte Lab", "email": "gitte@example.com"}
PROJECT = {"path_with_namespace": "acme/web", "web_url": "https://gitlab.example/acme/web"}


def _deliveries(source: str, *deliveries: tuple[str, str, dict[str, Any]]) -> NormaliseResult:
    records = [
        FetchedRecord(
            kind=f"webhook:{event}",
            scope=scope,
            record_id=f"delivery-{i}",
            updated_at=RECEIVED,
            payload=payload,
            request=f"delivery:delivery-{i}",
        )
        for i, (event, scope, payload) in enumerate(deliveries)
    ]
    return normalise(landing_frame(source, records, fetched_at=AT), pseudonym_key=KEY)


def _github(event: str, payload: dict[str, Any]) -> NormaliseResult:
    return _deliveries(
        "github", (event, "acme/api", {"sender": SENDER, "repository": REPO, **payload})
    )


def _gitlab(event: str, payload: dict[str, Any]) -> NormaliseResult:
    body = {"user": GITLAB_USER, "project": PROJECT, **payload}
    return _deliveries("gitlab", (event, "acme/web", body))


def _only(result: NormaliseResult) -> dict[str, Any]:
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    assert result.signals.height == 1, result.signals.to_dicts()
    return result.signals.row(0, named=True)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_github_issue_events_are_tickets_at_the_time_of_the_change():
    issue = {
        "number": 12,
        "title": "Crash on login PLAT-7",
        "state": "closed",
        "html_url": "https://github.com/acme/api/issues/12",
        "created_at": "2026-09-01T08:00:00Z",
        "updated_at": "2026-09-09T10:00:00Z",
        "closed_at": "2026-09-09T09:59:58Z",
        "labels": [{"name": "bug"}],
        "user": SENDER,
    }
    closed = _only(_github("issues", {"action": "closed", "issue": issue}))
    assert (closed["entity_type"], closed["entity_id"], closed["action"]) == (
        "ticket",
        "acme/api#12",
        "closed",
    )
    assert closed["occurred_at"] == _utc("2026-09-09T09:59:58Z")
    assert closed["ticket_keys"] == ["acme/api#12", "PLAT-7"]
    assert json.loads(closed["attributes"])["status_category"] == "done"
    assert closed["actor"] == pseudonym(KEY, "github", "octo-dev")
    opened = _only(_github("issues", {"action": "opened", "issue": issue}))
    assert (opened["action"], opened["occurred_at"]) == ("created", _utc("2026-09-01T08:00:00Z"))


def test_an_issue_event_about_a_pull_request_is_a_reference_not_a_ticket():
    issue = {"number": 3, "title": "t", "pull_request": {"url": "https://x/pulls/3"}}
    result = _github("issues", {"action": "milestoned", "issue": issue})
    assert result.signals.is_empty() and result.quarantine.is_empty()
    assert result.references.get_column("note").to_list() == [
        "issue event about a pull request: the pull request's own events cover it"
    ]


def test_github_comments_on_pull_requests_carry_the_pr_number_and_survive_a_null_body():
    comment = {
        "id": 99,
        "body": None,
        "html_url": "https://github.com/acme/api/pull/3#issuecomment-99",
        "created_at": "2026-09-09T10:00:00Z",
        "updated_at": "2026-09-09T11:00:00Z",
    }
    issue = {"number": 3, "title": "t", "pull_request": {"url": "https://x/pulls/3"}}
    created = _only(
        _github("issue_comment", {"action": "created", "issue": issue, "comment": comment})
    )
    assert (created["entity_id"], created["action"], created["pr_number"]) == (
        "acme/api#3/comments/99",
        "commented",
        3,
    )
    assert created["occurred_at"] == _utc("2026-09-09T10:00:00Z")
    assert created["title"] is None
    edited = _only(
        _github("issue_comment", {"action": "edited", "issue": issue, "comment": comment})
    )
    assert (edited["action"], edited["occurred_at"]) == ("edited", _utc("2026-09-09T11:00:00Z"))


def test_check_runs_and_workflow_jobs_are_ci_runs_that_start_and_complete():
    check = {
        "id": 4,
        "name": "lint",
        "status": "completed",
        "conclusion": "failure",
        "head_sha": "a" * 40,
        "started_at": "2026-09-09T10:00:00Z",
        "completed_at": "2026-09-09T10:03:00Z",
        "pull_requests": [{"number": 8}],
    }
    done = _only(_github("check_run", {"action": "completed", "check_run": check}))
    assert (done["entity_type"], done["entity_id"], done["action"], done["state"]) == (
        "ci_run",
        "acme/api/check-runs/4",
        "completed",
        "failure",
    )
    assert (done["occurred_at"], done["commit_sha"], done["pr_number"]) == (
        _utc("2026-09-09T10:03:00Z"),
        "a" * 40,
        8,
    )
    job = {**check, "id": 5, "status": "in_progress", "conclusion": None, "run_id": 77}
    started = _only(_github("workflow_job", {"action": "in_progress", "workflow_job": job}))
    assert (started["entity_id"], started["action"], started["state"]) == (
        "acme/api/actions/jobs/5",
        "started",
        "running",
    )
    assert started["occurred_at"] == _utc("2026-09-09T10:00:00Z")


def test_a_push_is_dated_by_its_epoch_seconds_pushed_at_and_shares_the_ref_entity_with_create():
    push = {
        "ref": "refs/heads/PLAT-9-fix",
        "before": "b" * 40,
        "after": "c" * 40,
        "created": False,
        "deleted": False,
        "forced": True,
        "compare": "https://github.com/acme/api/compare/bbb...ccc",
        "commits": [{"id": "c" * 40, "message": "Fix the thing\r\n\r\nmore"}],
        "head_commit": {"id": "c" * 40, "message": "Fix the thing", "timestamp": "2026-09-09"},
        "repository": {**REPO, "pushed_at": 1788948000},  # epoch seconds, not ISO text
    }
    result = _github("push", push)
    assert result.quarantine.is_empty()
    pushed = result.signals.filter(pl.col("entity_type") == "branch").row(0, named=True)
    assert (pushed["entity_type"], pushed["entity_id"], pushed["action"]) == (
        "branch",
        "acme/api:refs/heads/PLAT-9-fix",
        "pushed",
    )
    assert pushed["occurred_at"] == datetime.fromtimestamp(1788948000, UTC)
    assert pushed["ticket_keys"] == ["PLAT-9"]
    assert json.loads(pushed["attributes"])["forced"] is True
    created = _only(_github("create", {"ref": "PLAT-9-fix", "ref_type": "branch"}))
    assert (created["entity_id"], created["action"]) == (
        "acme/api:refs/heads/PLAT-9-fix",
        "created",
    )
    assert created["occurred_at"] == _utc(RECEIVED)  # the payload says nothing of when


def test_a_commit_status_is_a_ci_run_and_a_ping_holds_no_event():
    status = {
        "id": 31,
        "sha": "d" * 40,
        "state": "pending",
        "context": "ci/jenkins",
        "target_url": None,
        "created_at": "2026-09-09T10:00:00Z",
        "updated_at": "2026-09-09T10:00:00Z",
        "branches": [{"name": "main"}],
    }
    pending = _only(_github("status", status))
    assert (pending["entity_id"], pending["action"], pending["state"]) == (
        "acme/api/statuses/31",
        "started",
        "running",
    )
    assert pending["url"] == "https://github.com/acme/api/commit/" + "d" * 40
    ping = _github("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert ping.signals.is_empty() and ping.quarantine.is_empty()
    assert ping.references.height == 1


def test_a_malformed_delivery_is_quarantined_with_its_reason_and_the_rest_goes_on():
    good = {"action": "created", "sender": SENDER, "repository": REPO}
    result = _deliveries(
        "github",
        ("create", "acme/api", {**good, "ref": "x", "ref_type": "tag"}),
        ("check_run", "acme/api", {**good, "check_run": {"id": 1, "status": "completed",
                                                         "completed_at": "yesterday"}}),
        ("issues", "acme/api", {**good, "issue": {"title": "no number"}}),
        ("push", "acme/api", ["not", "an", "object"]),
    )  # fmt: skip
    assert result.signals.get_column("entity_id").to_list() == ["acme/api:refs/tags/x"]
    assert sorted(result.quarantine.get_column("reason").to_list()) == [
        "check run time is not an ISO-8601 timestamp: yesterday",
        "issue has no id",
        "payload is a JSON array, not an object",
    ]
    assert not result.quarantine.get_column("reason").str.starts_with(NO_NORMALISER).any()


def test_gitlab_merge_request_hooks_use_the_polled_entity_and_vocabulary():
    attributes = {
        "iid": 4,
        "title": "Draft: PLAT-3 new login",
        "state": "merged",
        "action": "merge",
        "created_at": "2026-09-01 08:00:00 UTC",
        "updated_at": "2026-09-09 10:00:00 UTC",
        "source_branch": "plat-3",
        "target_branch": "main",
        "merge_commit_sha": "e" * 40,
        "url": "https://gitlab.example/acme/web/-/merge_requests/4",
        "last_commit": {"id": "f" * 40},
    }
    merged = _only(_gitlab("merge_request", {"object_attributes": attributes}))
    assert (merged["entity_type"], merged["entity_id"], merged["action"]) == (
        "pull_request",
        "acme/web!4",
        "merged",
    )
    assert (merged["occurred_at"], merged["commit_sha"], merged["pr_number"]) == (
        _utc("2026-09-09T10:00:00Z"),
        "e" * 40,
        4,
    )
    assert merged["title"] == "PLAT-3 new login"
    assert merged["ticket_keys"] == ["PLAT-3"]
    assert merged["actor"] == pseudonym(KEY, "gitlab", "gl.dev")


def test_gitlab_jobs_pipelines_and_deployments():
    job = {
        "object_kind": "build",
        "build_id": 900,
        "build_name": "test",
        "build_status": "success",
        "build_started_at": "2026-09-09 10:00:00 UTC",
        "build_finished_at": "2026-09-09 10:04:00 UTC",
        "pipeline_id": 31,
        "ref": "main",
        "sha": "a" * 40,
        "repository": {"homepage": "https://gitlab.example/acme/web"},
    }
    # Older job hooks have no project object: the project comes from the repository homepage.
    done = _only(_deliveries("gitlab", ("job", "", {"user": GITLAB_USER, **job})))
    assert (done["entity_id"], done["action"], done["state"]) == (
        "acme/web/jobs/900",
        "completed",
        "success",
    )
    assert done["url"] == "https://gitlab.example/acme/web/-/jobs/900"
    assert done["occurred_at"] == _utc("2026-09-09T10:04:00Z")
    pending = _gitlab("job", {**job, "build_status": "pending", "build_started_at": None})
    assert pending.signals.is_empty() and pending.references.height == 1

    pipeline = {"id": 31, "iid": 5, "status": "failed", "ref": "main", "sha": "a" * 40,
                "finished_at": "2026-09-09 10:05:00 UTC"}  # fmt: skip
    failed = _only(_gitlab("pipeline", {"object_attributes": pipeline}))
    assert (failed["entity_id"], failed["action"], failed["state"]) == (
        "acme/web/pipelines/31",
        "completed",
        "failed",
    )
    assert failed["url"] == "https://gitlab.example/acme/web/-/pipelines/31"

    deployment = {
        "deployment_id": 15,
        "status": "success",
        "status_changed_at": "2026-09-09 12:50:00 +0200",
        "environment": "production",
        "commit_url": "https://gitlab.example/acme/web/-/commit/" + "a" * 40,
        "deployable_url": "https://gitlab.example/acme/web/-/jobs/901",
    }
    deployed = _only(_gitlab("deployment", deployment))
    assert (deployed["entity_id"], deployed["action"], deployed["environment"]) == (
        "acme/web/deployments/15",
        "status_success",
        "production",
    )
    assert deployed["occurred_at"] == _utc("2026-09-09T10:50:00Z")
    assert deployed["commit_sha"] == "a" * 40


def test_gitlab_notes_match_polled_note_entities_and_system_notes_are_references():
    note = {
        "id": 1244,
        "note": "Looks good @gl.dev, see PLAT-4",
        "noteable_type": "MergeRequest",
        "created_at": "2026-09-09 10:00:00 UTC",
        "url": "https://gitlab.example/acme/web/-/merge_requests/4#note_1244",
        "system": False,
    }
    result = _gitlab("note", {"object_attributes": note, "merge_request": {"iid": 4}})
    commented = _only(result)
    assert (commented["entity_id"], commented["action"], commented["pr_number"]) == (
        "acme/web!4/notes/1244",
        "commented",
        4,
    )
    assert "@gl.dev" not in commented["title"]  # mentions are pseudonymised in titles
    system = _gitlab(
        "note", {"object_attributes": {**note, "system": True}, "merge_request": {"iid": 4}}
    )
    assert system.signals.is_empty() and system.references.height == 1


def test_gitlab_pushes_system_hooks_and_releases():
    push = {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": "0" * 40,
        "user_username": "gl.dev",
        "user_name": "Gitte Lab",
        "project": PROJECT,
        "commits": [],
    }
    deleted = _only(_deliveries("gitlab", ("push", "acme/web", push)))
    assert (deleted["entity_id"], deleted["action"], deleted["commit_sha"]) == (
        "acme/web:refs/heads/main",
        "deleted",
        None,
    )
    assert deleted["actor"] == pseudonym(KEY, "gitlab", "gl.dev")
    system = _deliveries(
        "gitlab",
        ("system_hook", "acme/web", {**push, "after": "b" * 40}),
        ("system_hook", "", {"event_name": "user_create", "email": "new.user@example.com"}),
    )
    assert system.signals.select("entity_id", "action").rows() == [
        ("acme/web:refs/heads/main", "pushed")
    ]
    assert system.references.get_column("note").to_list() == [
        "GitLab system event (administration): no engineering signal"
    ]
    # A release hook names no user: the event has no actor rather than a wrong one.
    release = {"action": "create", "tag": "v1.0.0", "name": "One", "url": "https://r",
               "released_at": "2026-09-09 10:00:00 UTC"}  # fmt: skip
    released = _only(
        _deliveries("gitlab", ("release", "acme/web", {"project": PROJECT, **release}))
    )
    assert (released["entity_id"], released["action"], released["actor_kind"]) == (
        "acme/web/releases/v1.0.0",
        "published",
        "unknown",
    )


def test_no_login_or_email_of_a_webhook_sender_reaches_signals():
    result = _gitlab(
        "issue",
        {
            "object_attributes": {
                "iid": 2,
                "title": "ping gl.dev@example.com",
                "action": "open",
                "state": "opened",
                "created_at": "2026-09-09 10:00:00 UTC",
                "url": "https://gitlab.example/acme/web/-/issues/2",
            }
        },
    )
    row = _only(result)
    text = json.dumps(row, default=str)
    assert "gl.dev" not in text and "Gitte" not in text
    vault = result.accounts.row(0, named=True)
    assert (vault["handle"], vault["display_name"]) == ("gl.dev", "Gitte Lab")
    assert pl.Series([row["entity_id"]]).to_list() == ["acme/web#2"]


def test_jenkins_notification_plugin_deliveries_are_the_polled_builds_events():
    def build(phase: str, status: str | None = None) -> dict[str, Any]:
        return {
            "name": "api-ci",
            "url": "job/api-ci/",
            "build": {
                "full_url": "https://ci.example/job/api-ci/42/",
                "number": 42,
                "phase": phase,
                "status": status,
                "timestamp": 1788948000000,  # epoch milliseconds
                "duration": 90000,
                "scm": {"url": "git@github.com:acme/api.git", "branch": "origin/PLAT-5-x",
                        "commit": "a" * 40},
            },
        }  # fmt: skip

    result = _deliveries(
        "jenkins",
        ("unknown", "", build("QUEUED")),
        ("unknown", "", build("STARTED")),
        ("unknown", "", build("COMPLETED", "FAILURE")),
        ("build", "", build("FINALIZED", "FAILURE")),  # the same completion again
    )
    assert result.quarantine.is_empty()
    rows = result.signals.select("entity_id", "action", "occurred_at", "state").rows()
    started = datetime.fromtimestamp(1788948000, UTC)
    assert rows == [
        ("jenkins:api-ci#42", "completed", started + timedelta(seconds=90), "failure"),
        ("jenkins:api-ci#42", "started", started, "running"),
    ]
    first = result.signals.row(0, named=True)
    assert (first["repository"], first["commit_sha"], first["ticket_keys"]) == (
        "acme/api",
        "a" * 40,
        ["PLAT-5"],
    )
    assert first["actor"] is None and first["actor_kind"] == "unknown"
    assert result.references.get_column("note").to_list() == ["build queued: nothing has run yet"]
