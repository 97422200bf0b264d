"""Everything a delivery carries is read: the commits inside pushes, deployments inside
deployment statuses, distinct pushes as distinct events, and what a Sentry issue says of its
cause. Fixtures are hand-written in the tools' documented shapes (the conformance test runs the
published examples)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import NormaliseResult, normalise
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.webhooks.drain import landing_records
from flowsync_pipelines.webhooks.queue import StoredDelivery

KEY = "complete-deliveries-key"
RECEIVED = "2026-09-10T12:00:00+00:00"
AT = datetime(2026, 9, 10, 12, 0, 5, tzinfo=UTC)
SENDER = {"login": "octo-dev", "id": 501, "type": "User"}
REPO = {
    "full_name": "acme/api",
    "html_url": "https://github.com/acme/api",
    "pushed_at": 1788948000,
}
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40
MARIA = {"name": "Maria Lopez", "email": "maria.lopez@acme.example", "username": "mlopez"}
NO_LOGIN = {"name": "Sam Field", "email": "sam.field@acme.example"}
WEB_FLOW = {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"}
PERSONAL = ("mlopez", "Maria", "Lopez", "maria.lopez", "sam.field", "Sam Field", "octo-dev")


def _landed(source: str, records: list[FetchedRecord]) -> NormaliseResult:
    return normalise(landing_frame(source, records, fetched_at=AT), pseudonym_key=KEY)


def _deliveries(source: str, event: str, *payloads: dict[str, Any]) -> NormaliseResult:
    return _landed(
        source,
        [
            FetchedRecord(
                kind=f"webhook:{event}",
                scope="acme/api" if source == "github" else "acme/web",
                record_id=f"delivery-{i}",
                updated_at=RECEIVED,
                payload=payload,
                request=f"delivery:delivery-{i}",
            )
            for i, payload in enumerate(payloads)
        ],
    )


def _push(after: str, commits: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "ref": "refs/heads/PLAT-12-refunds",
        "before": SHA3,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "compare": f"https://github.com/acme/api/compare/{SHA3[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "repository": REPO,
        "sender": SENDER,
        **extra,
    }


def _commits(result: NormaliseResult) -> dict[str, dict[str, Any]]:
    rows = result.signals.filter(pl.col("entity_type") == "commit")
    return {row["commit_sha"]: row for row in rows.iter_rows(named=True)}


TWO_COMMITS = [
    {
        "id": SHA1,
        "message": "PLAT-12 refund partial captures\n\nCo-authored by the team",
        "timestamp": "2026-09-09T09:58:00+02:00",
        "url": f"https://github.com/acme/api/commit/{SHA1}",
        "author": MARIA,
        "committer": MARIA,
        "added": ["src/refunds/partial.py"],
        "modified": ["src/refunds/api.py", "README.md"],
        "removed": [],
        "distinct": True,
    },
    {
        "id": SHA2,
        "message": "Merge pull request #41 from acme/PLAT-12-refunds\n\nRefunds",
        "timestamp": "2026-09-09T08:00:30Z",
        "author": NO_LOGIN,
        "committer": WEB_FLOW,
        "added": [],
        "modified": ["src/refunds/api.py"],
        "removed": ["src/refunds/old.py"],
        "distinct": True,
    },
]


# -- GitHub push commits -------------------------------------------------------------------------
def test_a_push_with_two_commits_gives_two_commit_events_with_their_files():
    result = _deliveries("github", "push", _push(SHA2, TWO_COMMITS))
    assert result.quarantine.is_empty()
    commits = _commits(result)
    assert set(commits) == {SHA1, SHA2}
    first, merge = commits[SHA1], commits[SHA2]
    assert (first["entity_id"], first["action"], first["repository"]) == (
        f"acme/api@{SHA1}",
        "committed",
        "acme/api",
    )
    assert first["occurred_at"] == datetime(2026, 9, 9, 7, 58, tzinfo=UTC)
    assert first["title"] == "PLAT-12 refund partial captures"
    assert first["ticket_keys"] == ["PLAT-12"]
    assert first["url"] == f"https://github.com/acme/api/commit/{SHA1}"
    assert json.loads(first["attributes"]) == {
        "files": ["README.md", "src/refunds/api.py", "src/refunds/partial.py"],
        "committer": pseudonym(KEY, "github", "mlopez"),
    }
    # No url in the payload: built from the repository's; the merge names its pull request.
    assert merge["url"] == f"https://github.com/acme/api/commit/{SHA2}"
    assert merge["pr_number"] == 41
    assert json.loads(merge["attributes"])["files"] == ["src/refunds/api.py", "src/refunds/old.py"]
    # The branch's own event is still there, by the sender.
    ref = result.signals.filter(pl.col("entity_type") == "branch").row(0, named=True)
    assert (ref["action"], ref["commit_sha"]) == ("pushed", SHA2)
    assert ref["actor"] == pseudonym(KEY, "github", "octo-dev")


def test_push_commit_authors_are_their_login_else_their_email_and_never_raw():
    result = _deliveries("github", "push", _push(SHA2, TWO_COMMITS))
    commits = _commits(result)
    assert (commits[SHA1]["actor"], commits[SHA1]["actor_kind"]) == (
        pseudonym(KEY, "github", "mlopez"),
        "human",
    )
    assert (commits[SHA2]["actor"], commits[SHA2]["actor_kind"]) == (
        pseudonym(KEY, "email", "sam.field@acme.example"),
        "human",
    )
    web_flow = pseudonym(KEY, "github", "web-flow")
    assert json.loads(commits[SHA2]["attributes"])["committer"] == web_flow
    text = json.dumps(result.signals.to_dicts(), default=str)
    for identifier in PERSONAL:
        assert identifier not in text, identifier
    vault = {row["pseudonym"]: row for row in result.accounts.iter_rows(named=True)}
    maria = vault[pseudonym(KEY, "github", "mlopez")]
    # Username, email and name meet in one vault row: identity resolution can join them.
    assert (maria["source"], maria["handle"], maria["display_name"], maria["email"]) == (
        "github",
        "mlopez",
        "Maria Lopez",
        "maria.lopez@acme.example",
    )
    sam = vault[pseudonym(KEY, "email", "sam.field@acme.example")]
    assert (sam["source"], sam["handle"], sam["display_name"]) == (
        "email",
        "sam.field@acme.example",
        "Sam Field",
    )
    assert vault[web_flow]["actor_kind"] == "bot"  # GitHub's web UI commits for nobody


def test_a_pushed_commit_is_the_same_event_as_the_polled_commit():
    commit = TWO_COMMITS[0]
    polled = {
        "sha": SHA1,
        "html_url": commit["url"],
        "commit": {
            "author": {**NO_LOGIN, "date": "2026-09-09T07:58:00Z"},
            "committer": {**NO_LOGIN, "date": "2026-09-09T07:58:00Z"},
            "message": commit["message"],
        },
        "author": {"login": "mlopez", "id": 9, "type": "User"},
        "parents": [{"sha": SHA3}],
    }
    polled_event = _landed(
        "github",
        [FetchedRecord("commits", "acme/api", f"acme/api@{SHA1}", None, polled, "test")],
    ).signals.row(0, named=True)
    pushed_event = _commits(_deliveries("github", "push", _push(SHA1, [commit])))[SHA1]
    columns = ("event_id", "entity_type", "entity_id", "action", "actor", "title", "url")
    assert {c: pushed_event[c] for c in columns} == {c: polled_event[c] for c in columns}


def test_two_pushes_to_one_branch_in_the_same_second_are_two_events():
    result = _deliveries(
        "github",
        "push",
        _push(SHA1, [TWO_COMMITS[0]]),
        _push(SHA2, [TWO_COMMITS[1]], before=SHA1),
    )
    refs = result.signals.filter(pl.col("entity_type") == "branch")
    assert refs.height == 2
    pushed_at = "2026-09-09T10:00:00.000000Z"  # both deliveries' pushed_at, to the second
    prefix = f"github:branch:acme/api:refs/heads/PLAT-12-refunds:pushed:{pushed_at}"
    assert sorted(refs.get_column("event_id").to_list()) == [
        f"{prefix}:{SHA1}",
        f"{prefix}:{SHA2}",
    ]


def test_event_ids_of_other_kinds_keep_their_five_parts():
    result = _deliveries(
        "github",
        "create",
        {"ref": "PLAT-12-refunds", "ref_type": "branch", "repository": REPO, "sender": SENDER},
    )
    assert result.signals.get_column("event_id").to_list() == [
        "github:branch:acme/api:refs/heads/PLAT-12-refunds:created:2026-09-10T12:00:00.000000Z"
    ]


def test_polled_commit_detail_files_are_attributes_files():
    detail = {
        "sha": SHA1,
        "html_url": f"https://github.com/acme/api/commit/{SHA1}",
        "commit": {
            "author": {**NO_LOGIN, "date": "2026-09-09T07:58:00Z"},
            "committer": {**NO_LOGIN, "date": "2026-09-09T07:58:00Z"},
            "message": "Refunds",
        },
        "author": None,
        "parents": [{"sha": SHA2}, {"sha": SHA3}],
        "files": [
            {"filename": "src/b.py", "status": "modified", "additions": 1, "deletions": 0},
            {"filename": "src/a.py", "status": "added", "additions": 9, "deletions": 0},
        ],
    }
    listed = {k: v for k, v in detail.items() if k != "files"} | {"sha": SHA2}
    result = _landed(
        "github",
        [
            FetchedRecord("commits", "acme/api", f"acme/api@{SHA1}", None, detail, "test"),
            FetchedRecord("commits", "acme/api", f"acme/api@{SHA2}", None, listed, "test"),
        ],
    )
    attributes = {
        row["commit_sha"]: json.loads(row["attributes"])
        for row in result.signals.iter_rows(named=True)
    }
    assert attributes == {
        SHA1: {"parents": 2, "files": ["src/a.py", "src/b.py"]},
        SHA2: {"parents": 2},  # the list endpoint does not say: no files rather than none
    }


# -- GitHub deployments --------------------------------------------------------------------------
CREATOR = {"login": "deploy-lead", "id": 77, "type": "User"}
DEPLOYMENT = {
    "url": "https://api.github.com/repos/acme/api/deployments/900",
    "id": 900,
    "sha": SHA1,
    "ref": "main",
    "task": "deploy",
    "environment": "production",
    "creator": CREATOR,
    "created_at": "2026-09-09T10:00:00Z",
    "updated_at": "2026-09-09T10:00:00Z",
}
STATUS = {
    "id": 4100,
    "state": "success",
    "environment": "production",
    "creator": CREATOR,
    "target_url": "",
    "deployment_url": "https://api.github.com/repos/acme/api/deployments/900",
    "created_at": "2026-09-09T10:06:00Z",
    "updated_at": "2026-09-09T10:06:00Z",
}
SIGNAL = ("entity_id", "action", "commit_sha", "environment", "occurred_at", "actor", "event_id")


def _delivered(event: str, body: dict[str, Any]) -> list[FetchedRecord]:
    delivery = StoredDelivery(
        id=1,
        source="github",
        delivery_id=f"{event}-1",
        event_type=event,
        received_at=AT,
        headers={},
        body=json.dumps(body).encode(),
        state="pending",
        reason=None,
        landing_refs=[],
    )
    return landing_records(delivery)


def _signals(result: NormaliseResult) -> set[tuple[Any, ...]]:
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    return set(result.signals.select(SIGNAL).rows())


def test_deployment_and_status_deliveries_give_the_polled_deployment_signals():
    hook = {"repository": REPO, "sender": CREATOR}
    # The status delivery goes out after the deployment was updated by the status.
    moved = {**DEPLOYMENT, "updated_at": STATUS["created_at"]}
    delivered = _delivered("deployment", {**hook, "action": "created", "deployment": DEPLOYMENT})
    delivered += _delivered(
        "deployment_status",
        {**hook, "action": "created", "deployment_status": STATUS, "deployment": moved},
    )
    polled = [
        FetchedRecord("deployments", "acme/api", "acme/api/deployments/900", None, DEPLOYMENT, "t"),
        FetchedRecord(
            "deployment_statuses",
            "acme/api",
            "acme/api/deployments/900/statuses/4100",
            None,
            STATUS,
            "t",
        ),
    ]
    by_webhook, by_polling = (
        _signals(_landed("github", delivered)),
        _signals(_landed("github", polled)),
    )
    assert by_webhook == by_polling
    assert {(s[1], s[2], s[3]) for s in by_webhook} == {
        ("created", SHA1, "production"),
        ("status_success", None, "production"),
    }


def test_a_status_delivery_alone_still_gives_the_deployment_its_sha_and_creator():
    body = {"repository": REPO, "sender": CREATOR, "deployment_status": STATUS,
            "deployment": DEPLOYMENT, "action": "created"}  # fmt: skip
    records = _delivered("deployment_status", body)
    assert [(r.kind, r.record_id) for r in records] == [
        ("deployment_statuses", "acme/api/deployments/900/statuses/4100"),
        ("deployments", "acme/api/deployments/900"),
    ]
    created = (
        _landed("github", records).signals.filter(pl.col("action") == "created").row(0, named=True)
    )
    assert (created["commit_sha"], created["environment"], created["actor"]) == (
        SHA1,
        "production",
        pseudonym(KEY, "github", "deploy-lead"),
    )


# -- GitLab push hooks ---------------------------------------------------------------------------
GITLAB_PROJECT = {"path_with_namespace": "acme/web", "web_url": "https://gitlab.example/acme/web"}


def _gitlab_push(after: str, commits: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "before": SHA3,
        "after": after,
        "checkout_sha": after,
        "user_id": 4,
        "user_username": "mlopez",
        "user_name": "Maria Lopez",
        "project": GITLAB_PROJECT,
        "commits": commits,
        "total_commits_count": len(commits),
    }


GITLAB_COMMITS = [
    {
        "id": SHA1,
        "message": "Merge branch 'plat-3' into 'main'\n\nPLAT-3 login\n\n"
        "See merge request acme/web!4",
        "title": "Merge branch 'plat-3' into 'main'",
        "timestamp": "2026-09-09T12:27:31+02:00",
        "url": f"https://gitlab.example/acme/web/-/commit/{SHA1}",
        "author": {"name": "Maria Lopez", "email": "maria.lopez@acme.example"},
        "added": ["CHANGELOG"],
        "modified": ["app/login.rb"],
        "removed": [],
    },
    {
        "id": SHA2,
        "message": "fix readme",
        "timestamp": "2026-09-09T10:30:00Z",
        "author": {"name": "Sam Field", "email": "sam.field@acme.example"},
        "modified": ["README.md"],
    },
]


def test_gitlab_push_commits_are_the_polled_commit_events_with_files():
    result = _deliveries("gitlab", "push", _gitlab_push(SHA2, GITLAB_COMMITS))
    assert result.quarantine.is_empty()
    commits = _commits(result)
    merge, fix = commits[SHA1], commits[SHA2]
    assert (merge["entity_id"], merge["action"], merge["pr_number"]) == (
        f"acme/web@{SHA1}",
        "committed",
        4,
    )
    assert merge["occurred_at"] == datetime(2026, 9, 9, 10, 27, 31, tzinfo=UTC)
    assert merge["ticket_keys"] == ["PLAT-3"]
    assert merge["actor"] == pseudonym(KEY, "email", "maria.lopez@acme.example")
    assert json.loads(merge["attributes"])["files"] == ["CHANGELOG", "app/login.rb"]
    assert fix["url"] == f"https://gitlab.example/acme/web/-/commit/{SHA2}"
    assert json.loads(fix["attributes"])["files"] == ["README.md"]
    text = json.dumps(result.signals.to_dicts(), default=str)
    assert "maria.lopez" not in text and "Sam Field" not in text
    emails = result.accounts.filter(pl.col("source") == "email")
    assert sorted(emails.select("handle", "display_name").rows()) == [
        ("maria.lopez@acme.example", "Maria Lopez"),
        ("sam.field@acme.example", "Sam Field"),
    ]


def test_two_gitlab_pushes_received_in_one_second_are_two_ref_events():
    result = _deliveries(
        "gitlab", "push", _gitlab_push(SHA1, GITLAB_COMMITS[:1]), _gitlab_push(SHA2, [])
    )
    refs = result.signals.filter(pl.col("entity_type") == "branch")
    assert sorted(refs.get_column("event_id").str.slice(-40).to_list()) == [SHA1, SHA2]
    assert sorted(refs.get_column("commit_sha").to_list()) == [SHA1, SHA2]


# -- Sentry: what an incident says of its cause --------------------------------------------------
SENTRY_API = "https://sentry.io/api/0"
METADATA = {
    "type": "ZeroDivisionError",
    "value": "division by zero",
    "filename": "src/refunds/partial.py",
    "function": "split",
}
SENTRY_ISSUE = {
    "id": "5001",
    "shortId": "API-1",
    "title": "ZeroDivisionError: division by zero",
    "culprit": "src/refunds/partial.py in split",
    "permalink": "https://sentry.io/organizations/acme/issues/5001/",
    "status": "unresolved",
    "count": "1",
    "firstSeen": "2026-09-09T11:00:00Z",
    "lastSeen": "2026-09-09T11:00:00Z",
    "project": {"id": "2", "slug": "api"},
    "metadata": METADATA,
    "firstRelease": {"version": "api@2.4.0"},
}


def _frame(path: str, in_app: bool, **extra: Any) -> dict[str, Any]:
    return {"filename": path, "function": "f", "lineNo": 3, "inApp": in_app, **extra}


def _sentry(kind: str, payload: dict[str, Any], request: str) -> NormaliseResult:
    return _landed("sentry", [FetchedRecord(kind, "api", "5001", None, payload, request)])


def test_a_polled_sentry_issue_carries_its_culprit_file_and_first_release():
    result = _sentry("issues", SENTRY_ISSUE, f"{SENTRY_API}/projects/acme/api/issues/")
    row = result.signals.row(0, named=True)
    attributes = json.loads(row["attributes"])
    assert (attributes["culprit"], attributes["files"], attributes["first_release"]) == (
        "src/refunds/partial.py in split",
        ["src/refunds/partial.py"],
        "api@2.4.0",
    )


def test_a_latest_event_lists_the_in_app_files_of_its_exception_frames():
    event = {
        "eventID": "e" * 32,
        "groupID": "5001",
        "dateCreated": "2026-09-09T11:05:00Z",
        "culprit": SENTRY_ISSUE["culprit"],
        "metadata": METADATA,
        "entries": [
            {"type": "breadcrumbs", "data": {"values": [{"message": "GET /refunds"}]}},
            {
                "type": "exception",
                "data": {
                    "values": [
                        {
                            "stacktrace": {
                                "frames": [
                                    _frame("django/core/handlers.py", False),
                                    _frame("src/refunds/api.py", True),
                                    # No filename: the absolute path stands in.
                                    {"absPath": "/srv/app/src/money.py", "inApp": True},
                                    _frame("src/refunds/partial.py", True),
                                ]
                            }
                        },
                        {"stacktrace": None},
                    ]
                },
            },
            {"type": "request", "data": {"url": "https://api.acme.example/refunds"}},
        ],
    }
    result = _sentry("latest_events", event, f"{SENTRY_API}/issues/5001/events/latest/")
    assert result.quarantine.is_empty()
    attributes = json.loads(result.signals.row(0, named=True)["attributes"])
    assert attributes["culprit"] == "src/refunds/partial.py in split"
    assert attributes["files"] == [
        "/srv/app/src/money.py",
        "src/refunds/api.py",
        "src/refunds/partial.py",
    ]


def test_an_event_without_frames_or_metadata_has_no_files():
    event = {"eventID": "f" * 32, "groupID": "5001", "dateCreated": "2026-09-09T11:05:00Z"}
    result = _sentry("latest_events", event, f"{SENTRY_API}/issues/5001/events/latest/")
    assert json.loads(result.signals.row(0, named=True)["attributes"])["files"] == []


def test_a_sentry_issue_webhook_carries_the_culprit_and_file():
    body = {
        "action": "created",
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
        "data": {"issue": {**SENTRY_ISSUE, "firstRelease": None}},
    }
    result = _landed(
        "sentry",
        [FetchedRecord("webhook:issue", "", "delivery-1", RECEIVED, body, "delivery:delivery-1")],
    )
    row = result.signals.row(0, named=True)
    assert (row["entity_id"], row["action"]) == ("sentry:api/5001", "first_seen")
    attributes = json.loads(row["attributes"])
    assert (attributes["culprit"], attributes["files"], attributes["first_release"]) == (
        "src/refunds/partial.py in split",
        ["src/refunds/partial.py"],
        None,
    )
