"""GitLab, Jenkins, Linear, Sentry and Figma normalisers: the demo world's records become the
events the world holds, named the way GitHub's and Jira's are, with no personal identifier in
the signals; malformed records are quarantined with a reason."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from flowsync_pipelines import warehouse
from flowsync_pipelines.graph.inputs import ticket_hierarchy
from flowsync_pipelines.landing import FetchedRecord, landing_frame, parse_utc, tombstone
from flowsync_pipelines.normalise import NormaliseResult, normalise
from flowsync_pipelines.normalise.common import TICKET_KEY
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.simulator import World
from resources.figma import is_tagged

KEY = "tools-test-key"
AT = datetime(2026, 11, 1, tzinfo=UTC)
GITLAB_API = "https://gitlab.com/api/v4/projects"
SENTRY_API = "https://sentry.io/api/0"


def _run(source: str, records: list[FetchedRecord], fetched_at: datetime = AT) -> NormaliseResult:
    return normalise(landing_frame(source, records, fetched_at=fetched_at), pseudonym_key=KEY)


def _events(result: NormaliseResult, entity_type: str, action: str) -> pl.DataFrame:
    return result.signals.filter(
        (pl.col("entity_type") == entity_type) & (pl.col("action") == action)
    )


def _count(result: NormaliseResult, entity_type: str, action: str) -> int:
    return _events(result, entity_type, action).height


def _event(result: NormaliseResult, entity_id: str, action: str) -> dict[str, Any]:
    rows = result.signals.filter((pl.col("entity_id") == entity_id) & (pl.col("action") == action))
    assert rows.height == 1, (entity_id, action, rows.height)
    return rows.row(0, named=True)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _record(kind: str, scope: str, record_id: str, payload: Any, request: str = "test"):
    return FetchedRecord(kind, scope, record_id, None, payload, request)


# -- the world's records, keyed as the connectors land them -------------------------------------
@pytest.fixture(scope="module")
def gitlab_records(world: World) -> dict[str, list[tuple[str, dict]]]:
    """Per kind: ``(project path, payload)``, plus the request each came from."""
    end, out = world.end, {}
    for project in world.gitlab_projects():
        pid, path = project["id"], project["path_with_namespace"]
        for mr in world.gitlab_merge_requests(pid, end):
            out.setdefault("merge_requests", []).append((path, mr))
            out.setdefault("approvals", []).append(
                (path, world.gitlab_mr_approvals(pid, mr["iid"], end))
            )
            for note in world.gitlab_mr_notes(pid, mr["iid"], end):
                out.setdefault("notes", []).append((path, note))
        for pipeline in world.gitlab_pipelines(pid, end):
            out.setdefault("pipelines", []).append((path, pipeline))
            for job in world.gitlab_jobs(pid, pipeline["id"], end):
                out.setdefault("jobs", []).append((path, job))
        for deployment in world.gitlab_deployments(pid, end):
            out.setdefault("deployments", []).append((path, deployment))
        for issue in world.gitlab_issues(pid, end):
            out.setdefault("issues", []).append((path, issue))
        for commit in world.gitlab_commits(pid, end):
            out.setdefault("commits", []).append((path, commit))
    return out


def _gitlab_record_id(kind: str, path: str, item: dict) -> str:
    """The record ids ``resources/gitlab.py`` gives."""
    if kind == "merge_requests":
        return f"{path}!{item['iid']}"
    if kind == "approvals":
        return f"{path}!{item['iid']}/approvals"
    if kind == "notes":
        return f"{path}!{item['noteable_iid']}/notes/{item['id']}"
    if kind == "pipelines":
        return f"{path}/pipelines/{item['id']}"
    if kind == "jobs":
        return f"{path}/pipelines/{item['pipeline']['id']}/jobs/{item['name']}"
    if kind == "deployments":
        return f"{path}/deployments/{item['id']}"
    if kind == "issues":
        return f"{path}#{item['iid']}"
    return f"{path}@{item['id']}"


@pytest.fixture(scope="module")
def gitlab(gitlab_records, world: World) -> NormaliseResult:
    ids = {p["path_with_namespace"]: p["id"] for p in world.gitlab_projects()}
    records = [
        FetchedRecord(
            kind,
            path,
            _gitlab_record_id(kind, path, item),
            None,
            item,
            f"{GITLAB_API}/{ids[path]}/{kind}?per_page=100",
        )
        for kind, items in gitlab_records.items()
        for path, item in items
    ]
    return _run("gitlab", records, world.end)


@pytest.fixture(scope="module")
def jenkins_builds(world: World) -> list[tuple[str, dict]]:
    return [(job, b) for job in world.jenkins_jobs() for b in world.jenkins_builds(job, world.end)]


@pytest.fixture(scope="module")
def jenkins(jenkins_builds, world: World) -> NormaliseResult:
    records = [_record("builds", job, f"{job}#{b['number']}", b) for job, b in jenkins_builds]
    return _run("jenkins", records, world.end)


@pytest.fixture(scope="module")
def linear_nodes(world: World) -> dict[str, list[dict]]:
    end = world.end
    return {
        "issues": world.linear_issues(end),
        "comments": world.linear_comments(end),
        "cycles": world.linear_cycles(end),
        "projects": world.linear_projects(end),
    }


@pytest.fixture(scope="module")
def linear(linear_nodes, world: World) -> NormaliseResult:
    records = [
        _record(kind, "MOB", str(node["id"]), node)
        for kind, nodes in linear_nodes.items()
        for node in nodes
    ]
    return _run("linear", records, world.end)


@pytest.fixture(scope="module")
def sentry_items(world: World) -> dict[str, list[tuple[str, str, dict]]]:
    """Per kind: ``(project slug, record id, payload)`` as ``resources/sentry.py`` lands them."""
    end, out = world.end, {"issues": [], "latest_events": [], "releases": [], "deploys": []}
    for project in world.sentry_projects():
        slug = project["slug"]
        for issue in world.sentry_issues(slug, end):
            out["issues"].append((slug, str(issue["id"]), issue))
            if event := world.sentry_latest_event(issue["id"], end):
                out["latest_events"].append((slug, str(issue["id"]), event))
        for release in world.sentry_releases(slug, end):
            version = release["version"]
            out["releases"].append((slug, version, release))
            for deploy in world.sentry_deploys(version, end):
                out["deploys"].append((slug, f"{version}/deploys/{deploy['id']}", deploy))
    return out


@pytest.fixture(scope="module")
def sentry(sentry_items, world: World) -> NormaliseResult:
    requests = {
        "issues": f"{SENTRY_API}/projects/acme/{{slug}}/issues/",
        "latest_events": f"{SENTRY_API}/issues/{{record_id}}/events/latest/",
        "releases": f"{SENTRY_API}/projects/acme/{{slug}}/releases/",
        "deploys": f"{SENTRY_API}/organizations/acme/releases/v/deploys/",
    }
    records = [
        _record(kind, slug, record_id, item, requests[kind].format(slug=slug, record_id=record_id))
        for kind, items in sentry_items.items()
        for slug, record_id, item in items
    ]
    return _run("sentry", records, world.end)


@pytest.fixture(scope="module")
def figma_comments(world: World) -> list[tuple[str, dict]]:
    return [
        (f["key"], c)
        for f in world.figma_files()
        for c in world.figma_comments(f["key"], world.end)
    ]


def _figma_record(file_key: str, comment: dict) -> FetchedRecord:
    """As ``resources/figma.py`` lands it: untagged comments as an id-only stub."""
    payload = comment if is_tagged(comment) else {"id": comment["id"], "untagged": True}
    return _record("comments", file_key, str(comment["id"]), payload)


@pytest.fixture(scope="module")
def figma(figma_comments, world: World) -> NormaliseResult:
    return _run("figma", [_figma_record(k, c) for k, c in figma_comments], world.end)


# -- shared time parsing ------------------------------------------------------------------------
def test_parse_utc_reads_gitlab_and_jenkins_spaced_forms_and_keeps_the_iso_ones():
    texts = [
        "2012-10-22T14:13:35Z",
        "2012-10-22T14:13:35.000+03:00",
        "2026-09-01T10:00:00.000+0200",  # Jira: no colon
        "2026-09-01T10:00:00",  # no offset: UTC
        "1793302862974",  # epoch milliseconds
        "1793302862",  # epoch seconds
        "2019-03-11 08:28:35 UTC",  # GitLab webhooks
        "2026-09-03 12:15:30 +0200",  # GitLab webhooks, the Jenkins git plugin
        "2026-09-03 12:15:30 -0400",
        "2026-09-03 12:15:30",
        "not a time",
        "2026-09-03",
    ]
    parsed = pl.DataFrame({"t": texts}).select(parse_utc(pl.col("t"))).to_series().to_list()
    assert parsed == [
        datetime(2012, 10, 22, 14, 13, 35, tzinfo=UTC),
        datetime(2012, 10, 22, 11, 13, 35, tzinfo=UTC),
        datetime(2026, 9, 1, 8, tzinfo=UTC),
        datetime(2026, 9, 1, 10, tzinfo=UTC),
        datetime(2026, 10, 29, 19, 41, 2, 974000, tzinfo=UTC),
        datetime(2026, 10, 29, 19, 41, 2, tzinfo=UTC),
        datetime(2019, 3, 11, 8, 28, 35, tzinfo=UTC),
        datetime(2026, 9, 3, 10, 15, 30, tzinfo=UTC),
        datetime(2026, 9, 3, 16, 15, 30, tzinfo=UTC),
        datetime(2026, 9, 3, 12, 15, 30, tzinfo=UTC),
        None,
        None,
    ]


# -- GitLab ---------------------------------------------------------------------------------------
def test_every_gitlab_record_of_the_world_normalises_without_quarantine(gitlab, gitlab_records):
    assert gitlab.quarantine.is_empty()
    assert gitlab.records_ok == sum(len(items) for items in gitlab_records.values())


def test_gitlab_merge_requests_are_pull_requests_opened_merged_and_closed(gitlab, gitlab_records):
    mrs = [mr for _, mr in gitlab_records["merge_requests"]]
    assert _count(gitlab, "pull_request", "opened") == len(mrs) > 50
    assert _count(gitlab, "pull_request", "merged") == sum(1 for m in mrs if m["merged_at"]) > 0
    assert (
        _count(gitlab, "pull_request", "closed")
        == sum(1 for m in mrs if m["state"] == "closed")
        > 0
    )
    path, mr = next((p, m) for p, m in gitlab_records["merge_requests"] if m["merged_at"])
    opened = _event(gitlab, f"{path}!{mr['iid']}", "opened")
    merged = _event(gitlab, f"{path}!{mr['iid']}", "merged")
    assert (opened["repository"], opened["pr_number"], opened["source"]) == (
        path,
        mr["iid"],
        "gitlab",
    )
    assert opened["occurred_at"] == _utc(mr["created_at"])
    assert merged["occurred_at"] == _utc(mr["merged_at"])
    assert merged["commit_sha"] == mr["merge_commit_sha"]
    assert opened["url"] == mr["web_url"]
    assert opened["actor"] == pseudonym(KEY, "gitlab", mr["author"]["username"])
    assert merged["actor"] == pseudonym(KEY, "gitlab", mr["merge_user"]["username"])
    assert json.loads(opened["attributes"])["head_ref"] == mr["source_branch"]


def test_gitlab_ticket_keys_come_from_title_branch_and_description(gitlab, gitlab_records):
    path, mr, key = next(
        (p, m, found.group())
        for p, m in gitlab_records["merge_requests"]
        if (found := re.search(TICKET_KEY, m["source_branch"]))
        and not re.search(TICKET_KEY, m["title"])
    )
    assert key in _event(gitlab, f"{path}!{mr['iid']}", "opened")["ticket_keys"]


def test_blocked_gitlab_accounts_keep_their_pseudonym(gitlab, gitlab_records):
    # A blocked account is deactivated, not gone: its username still names the person, so the
    # leaver's past work stays attributed (and erasable through the vault).
    blocked = [
        (p, m) for p, m in gitlab_records["merge_requests"] if m["author"]["state"] == "blocked"
    ]
    assert blocked, "the world's leaver has merge requests"
    for path, mr in blocked:
        opened = _event(gitlab, f"{path}!{mr['iid']}", "opened")
        expected = pseudonym(KEY, "gitlab", mr["author"]["username"])
        assert (opened["actor_kind"], opened["actor"]) == ("human", expected)


def test_gitlab_review_events_come_from_the_approval_system_notes(gitlab, gitlab_records):
    approvals = [
        (p, n)
        for p, n in gitlab_records["notes"]
        if n["system"] and n["body"] == "approved this merge request"
    ]
    reviews = _events(gitlab, "review", "reviewed")
    assert reviews.filter(pl.col("state") == "approved").height == len(approvals) > 10
    path, note = approvals[0]
    review = _event(gitlab, f"{path}!{note['noteable_iid']}/reviews/{note['id']}", "reviewed")
    assert (review["repository"], review["pr_number"]) == (path, note["noteable_iid"])
    assert review["occurred_at"] == _utc(note["created_at"])
    assert review["actor"] == pseudonym(KEY, "gitlab", note["author"]["username"])
    # The approvals list says who, not when: reference data, so approvals are not counted twice.
    notes = dict(gitlab.references.iter_rows())
    approval_refs = [ref for ref in notes if ref.startswith("gitlab/approvals/")]
    assert len(approval_refs) == len(gitlab_records["approvals"])


def test_gitlab_user_notes_are_comments_and_other_system_notes_are_references(
    gitlab, gitlab_records
):
    user_notes = [n for _, n in gitlab_records["notes"] if not n["system"]]
    assert _count(gitlab, "comment", "commented") == len(user_notes) > 0
    system_refs = [
        note
        for ref, note in gitlab.references.iter_rows()
        if ref.startswith("gitlab/notes/") and note.startswith("system note")
    ]
    reviews = _count(gitlab, "review", "reviewed")
    assert len(system_refs) + reviews + len(user_notes) == len(gitlab_records["notes"])


def test_gitlab_pipelines_and_jobs_are_ci_runs(gitlab, gitlab_records):
    pipelines = [p for _, p in gitlab_records["pipelines"]]
    runs = gitlab.signals.filter(pl.col("entity_id").str.contains("/pipelines/"))
    assert runs.filter(pl.col("action") == "started").height == len(pipelines)
    finished = [p for p in pipelines if p["status"] in ("success", "failed", "canceled")]
    completed = runs.filter(pl.col("action") == "completed")
    assert completed.height == len(finished)
    assert sorted(completed.get_column("state").unique()) == ["failed", "success"]
    path, merge_request_run = next(
        (p, r) for p, r in gitlab_records["pipelines"] if r["ref"].startswith("refs/merge-")
    )
    started = _event(gitlab, f"{path}/pipelines/{merge_request_run['id']}", "started")
    assert started["pr_number"] == int(merge_request_run["ref"].split("/")[2])
    assert started["commit_sha"] == merge_request_run["sha"]

    jobs = [j for _, j in gitlab_records["jobs"]]
    job_runs = gitlab.signals.filter(pl.col("entity_id").str.contains("/jobs/"))
    assert job_runs.filter(pl.col("action") == "started").height == sum(
        1 for j in jobs if j["started_at"]
    )
    assert job_runs.filter(pl.col("action") == "completed").height == sum(
        1 for j in jobs if j["finished_at"]
    )
    not_started = [ref for ref, _ in gitlab.references.iter_rows() if "/jobs/" in ref]
    assert len(not_started) == sum(1 for j in jobs if not j["started_at"])


def test_gitlab_deployments_are_created_then_given_their_status(gitlab, gitlab_records):
    deployments = [d for _, d in gitlab_records["deployments"]]
    assert _count(gitlab, "deployment", "created") == len(deployments) > 0
    assert _count(gitlab, "deployment", "status_success") == sum(
        1 for d in deployments if d["status"] == "success"
    )
    path, dep = gitlab_records["deployments"][0]
    created = _event(gitlab, f"{path}/deployments/{dep['id']}", "created")
    assert created["environment"] == dep["environment"]["name"]
    assert created["commit_sha"] == dep["sha"]
    assert created["deployment_id"] == str(dep["id"])
    assert created["actor_kind"] == "bot"  # acme-ci-bot


def test_gitlab_issues_are_tickets_with_jira_status_categories(gitlab, gitlab_records):
    issues = [i for _, i in gitlab_records["issues"]]
    assert _count(gitlab, "ticket", "created") == len(issues) > 0
    closed = [(p, i) for p, i in gitlab_records["issues"] if i["state"] == "closed"]
    assert _count(gitlab, "ticket", "closed") == len(closed) > 0
    path, issue = closed[0]
    event = _event(gitlab, f"{path}#{issue['iid']}", "closed")
    attributes = json.loads(event["attributes"])
    assert attributes["status_category"] == "done"
    assert attributes["components"] == [path]
    created = json.loads(_event(gitlab, f"{path}#{issue['iid']}", "created")["attributes"])
    assert created["status_category"] == "new"


def test_gitlab_commits_are_attributed_to_the_author_email_at_their_utc_time(
    gitlab, gitlab_records
):
    commits = gitlab_records["commits"]
    assert _count(gitlab, "commit", "committed") == len(commits) > 0
    path, commit = next((p, c) for p, c in commits if not c["committed_date"].endswith("+00:00"))
    event = _event(gitlab, f"{path}@{commit['id']}", "committed")
    assert event["occurred_at"] == datetime.fromisoformat(commit["committed_date"])
    assert event["actor"] == pseudonym(KEY, "email", commit["author_email"])


def _merge_request(iid: int, **fields: Any) -> dict:
    mr = {
        "iid": iid,
        "title": "Draft: PLAT-9 Fix it",
        "description": "Closes PLAT-10",
        "state": "opened",
        "created_at": "2026-09-01T10:00:00.000Z",
        "merged_at": None,
        "closed_at": None,
        "source_branch": "feature/PLAT-11-fix",
        "web_url": f"https://gitlab.com/acme/auth-service/-/merge_requests/{iid}",
        "author": {"id": 7, "username": "jdoe", "name": "Jane Doe", "state": "active"},
    }
    return {**mr, **fields}


def _gitlab(kind: str, payloads: list[Any]) -> NormaliseResult:
    path = "acme/auth-service"
    records = [_record(kind, path, f"{path}!{i}/{kind}", p) for i, p in enumerate(payloads)]
    return _run("gitlab", records)


def test_gitlab_webhook_timestamps_drafts_and_ticket_keys():
    result = _gitlab("merge_requests", [_merge_request(1, created_at="2019-03-11 08:28:35 UTC")])
    opened = _event(result, "acme/auth-service!1", "opened")
    assert opened["occurred_at"] == datetime(2019, 3, 11, 8, 28, 35, tzinfo=UTC)
    assert opened["title"] == "PLAT-9 Fix it"
    assert json.loads(opened["attributes"])["draft"] is True
    assert opened["ticket_keys"] == ["PLAT-9", "PLAT-11", "PLAT-10"]


def test_gitlab_ghost_blocked_and_bot_accounts():
    users = {
        1: {"username": "ghost", "name": "Ghost User", "state": "active"},
        2: {"username": "leaver", "name": "Lee Ver", "state": "blocked"},
        3: {"username": "renovate", "name": "Renovate", "state": "active", "bot": True},
        4: {"username": "project_42_bot_1f2e", "name": "token", "state": "active"},
        5: {"username": "acme-ci-bot", "name": "Acme CI Bot", "state": "active"},
        6: {"username": "jdoe", "name": "Jane Doe", "state": "active"},
    }
    result = _gitlab("merge_requests", [_merge_request(i, author=u) for i, u in users.items()])
    opened = _events(result, "pull_request", "opened").sort("pr_number")
    assert opened.get_column("actor_kind").to_list() == [
        "deleted",
        "human",  # blocked: deactivated, still a known person
        "bot",
        "bot",
        "bot",
        "human",
    ]
    assert opened.get_column("actor").is_null().to_list() == [True] + [False] * 5
    assert sorted(result.accounts.get_column("actor_kind")) == [
        "bot",
        "bot",
        "bot",
        "human",
        "human",
    ]


def test_malformed_gitlab_records_are_quarantined_with_a_reason():
    result = _gitlab(
        "merge_requests",
        [
            {**_merge_request(1), "iid": None},
            _merge_request(2, created_at="yesterday"),
            _merge_request(3, merged_at="soon"),
            ["not", "an", "object"],
            _merge_request(4),
        ],
    )
    reasons = sorted(result.quarantine.get_column("reason"))
    assert reasons[:3] == [
        "created_at is not an ISO-8601 timestamp: yesterday",
        "merge request has no iid",
        "merged_at is not an ISO-8601 timestamp: soon",
    ]
    assert reasons[3] == "payload is a JSON array, not an object"
    assert _count(result, "pull_request", "opened") == 1


def test_gitlab_note_titles_keep_emoji_drop_crlf_and_pseudonymise_mentions():
    note = {
        "id": 99,
        "body": "@zoe_lefevre looks good 🚀\r\nsee PLAT-12\r\n",
        "author": {"username": "jdoe", "state": "active"},
        "created_at": "2026-09-03T12:15:30.000+02:00",
        "system": False,
        "noteable_type": "MergeRequest",
        "noteable_iid": 5,
    }
    result = _gitlab("notes", [note])
    comment = _event(result, "acme/auth-service!5/notes/99", "commented")
    mention = pseudonym(KEY, "gitlab", "zoe_lefevre")
    assert comment["title"] == f"@{mention} looks good 🚀"
    assert comment["ticket_keys"] == ["PLAT-12"]
    assert comment["occurred_at"] == datetime(2026, 9, 3, 10, 15, 30, tzinfo=UTC)
    assert comment["url"] == "https://gitlab.com/acme/auth-service/-/merge_requests/5#note_99"
    assert "zoe_lefevre" not in str(result.signals.to_dicts())


def test_gitlab_system_notes_map_to_review_states_in_githubs_vocabulary():
    def note(number: int, body: str, **fields: Any) -> dict:
        return {
            "id": number,
            "body": body,
            "author": {"username": "jdoe", "state": "active"},
            "created_at": f"2026-09-03T12:15:0{number}Z",
            "system": True,
            "noteable_type": "MergeRequest",
            "noteable_iid": 5,
            **fields,
        }

    result = _gitlab(
        "notes",
        [
            note(1, "approved this merge request"),
            note(2, "unapproved this merge request"),
            note(3, "requested changes"),
            note(4, "added 2 commits\n\n<ul><li>abc - Fix</li></ul>"),
            note(5, "closed", noteable_type="Issue", noteable_iid=None),
        ],
    )
    states = _events(result, "review", "reviewed").sort("occurred_at").get_column("state")
    assert states.to_list() == ["approved", "dismissed", "changes_requested"]
    assert sorted(n for _, n in result.references.iter_rows()) == [
        "note on something other than a merge request",
        "system note: restates an event other records give (push, review request, close)",
    ]
    assert result.quarantine.is_empty()


# -- Jenkins --------------------------------------------------------------------------------------
def test_jenkins_builds_start_and_complete_with_their_result(jenkins, jenkins_builds):
    assert jenkins.quarantine.is_empty()
    assert _count(jenkins, "ci_run", "started") == len(jenkins_builds) > 50
    finished = [b for _, b in jenkins_builds if not b["building"]]
    assert _count(jenkins, "ci_run", "completed") == len(finished)
    job, build = jenkins_builds[-1]
    entity = f"jenkins:{job}#{build['number']}"
    started, completed = _event(jenkins, entity, "started"), _event(jenkins, entity, "completed")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert started["occurred_at"] == epoch + timedelta(milliseconds=build["timestamp"])
    assert completed["occurred_at"] == epoch + timedelta(
        milliseconds=build["timestamp"] + build["duration"]
    )
    assert completed["state"] == build["result"].lower()
    assert completed["commit_sha"] == build["actions"][1]["lastBuiltRevision"]["SHA1"]
    states = set(_events(jenkins, "ci_run", "completed").get_column("state"))
    assert states == {"success", "failure", "unstable"}


def _build(number: int, **fields: Any) -> dict:
    build = {
        "number": number,
        "url": f"https://ci.example/job/api/{number}/",
        "building": False,
        "result": "SUCCESS",
        "timestamp": 1793302862974,
        "duration": 1000,
        "actions": [
            {"causes": [{"shortDescription": "Started by user Jane", "userId": "jdoe"}]},
            {
                "lastBuiltRevision": {
                    "SHA1": "abc",
                    "branch": [{"name": "refs/remotes/origin/PR-7"}],
                },
                "remoteUrls": ["git@github.com:acme/api.git"],
            },
            {},
        ],
    }
    return {**build, **fields}


def test_jenkins_quirks_running_builds_string_numbers_system_user_and_bad_times():
    builds = [
        _build(1),
        _build(2, building=True, result=None, duration=0),
        _build(3, timestamp="1793302862974", duration="2500"),
        _build(4, actions=[{"causes": [{"shortDescription": "Started by timer"}]}]),
        _build(5, actions=[{"causes": [{"userId": "SYSTEM"}]}]),
        _build(6, timestamp="2026-10-29T19:41:02Z"),
        _build(7, duration=None),
    ]
    records = [_record("builds", "api", f"api#{b['number']}", b) for b in builds]
    result = _run("jenkins", records)
    assert sorted(result.quarantine.get_column("reason")) == [
        "finished build has no duration in milliseconds: null",
        "timestamp is not epoch milliseconds: 2026-10-29T19:41:02Z",
    ]
    completed = _events(result, "ci_run", "completed").get_column("entity_id").to_list()
    assert sorted(completed) == ["jenkins:api#1", "jenkins:api#3", "jenkins:api#4", "jenkins:api#5"]
    three = _event(result, "jenkins:api#3", "completed")
    assert three["occurred_at"] == datetime(2026, 10, 29, 19, 41, 5, 474000, tzinfo=UTC)
    one = _event(result, "jenkins:api#1", "started")
    assert (one["repository"], one["pr_number"], one["commit_sha"]) == ("acme/api", 7, "abc")
    assert one["actor"] == pseudonym(KEY, "jenkins", "jdoe")
    kinds = {
        r["entity_id"]: r["actor_kind"]
        for r in _events(result, "ci_run", "started").iter_rows(named=True)
    }
    assert (kinds["jenkins:api#4"], kinds["jenkins:api#5"]) == ("unknown", "bot")


# -- Linear ---------------------------------------------------------------------------------------
def test_linear_issues_are_tickets_created_started_completed_canceled(linear, linear_nodes):
    issues = linear_nodes["issues"]
    assert linear.quarantine.is_empty()
    assert _count(linear, "ticket", "created") == len(issues) > 50
    for action, field in (
        ("started", "startedAt"),
        ("completed", "completedAt"),
        ("canceled", "canceledAt"),
    ):
        assert _count(linear, "ticket", action) == sum(1 for i in issues if i[field]), action
    done = next(i for i in issues if i["completedAt"] and i["assignee"])
    completed = _event(linear, done["identifier"], "completed")
    assert completed["occurred_at"] == _utc(done["completedAt"])
    assert completed["state"] == "Done"
    assert completed["url"] == done["url"]
    assert json.loads(completed["attributes"])["status_category"] == "done"
    assert json.loads(completed["attributes"])["components"] == ["MOB"]
    assert json.loads(completed["attributes"])["assignee"] == pseudonym(
        KEY, "linear", done["assignee"]["id"]
    )
    assert json.loads(completed["attributes"])["issue_type"] == "issue"
    created = _event(linear, done["identifier"], "created")
    assert created["actor"] == pseudonym(KEY, "linear", done["creator"]["id"])


def test_linear_tickets_in_progress_at_the_end_match_the_world(linear, world: World):
    latest = (
        linear.signals.filter(pl.col("entity_type") == "ticket")
        .sort("occurred_at")
        .group_by("entity_id")
        .agg(pl.col("attributes").last().str.json_path_match("$.status_category"))
    )
    in_progress = latest.filter(pl.col("attributes") == "indeterminate").height
    assert in_progress == world.tickets_in_progress(world.end, team="mobile") > 0


def test_linear_comments_cycles_and_projects(linear, linear_nodes):
    assert _count(linear, "comment", "commented") == len(linear_nodes["comments"]) > 0
    comment = linear_nodes["comments"][0]
    event = _event(
        linear, f"{comment['issue']['identifier']}/comments/{comment['id']}", "commented"
    )
    assert event["ticket_keys"][0] == comment["issue"]["identifier"]
    assert event["actor"] == pseudonym(KEY, "linear", comment["user"]["id"])
    cycles = linear_nodes["cycles"]
    assert _count(linear, "sprint", "completed") == sum(1 for c in cycles if c["completedAt"])
    upcoming = [c for c in cycles if _utc(c["startsAt"]) > AT - timedelta(days=1)]
    refs = [n for r, n in linear.references.iter_rows() if r.startswith("linear/cycles/")]
    assert len(refs) == len(upcoming) > 0
    assert _count(linear, "sprint", "started") == len(cycles) - len(upcoming)
    assert _count(linear, "project", "started") == sum(
        1 for p in linear_nodes["projects"] if p["startedAt"]
    )


def _linear_issue(**fields: Any) -> dict:
    issue = {
        "id": "u1",
        "identifier": "MOB-1",
        "title": "Fix 🚀\r\nnow",
        "url": "https://linear.app/acme/issue/MOB-1/fix",
        "state": {"name": "In Progress", "type": "started"},
        "team": {"key": "MOB"},
        "createdAt": 1788300000000,  # webhooks send epoch milliseconds
        "startedAt": "2026-09-03T10:00:00.000Z",
    }
    return {**issue, **fields}


def test_linear_epoch_millisecond_times_and_malformed_issues():
    result = _run(
        "linear",
        [
            _record("issues", "MOB", "u1", _linear_issue()),
            _record("issues", "MOB", "u2", _linear_issue(id="u2", identifier=None)),
            _record("issues", "MOB", "u3", _linear_issue(id="u3", completedAt="done")),
        ],
    )
    assert _event(result, "MOB-1", "created")["occurred_at"] == datetime(2026, 9, 1, 22, tzinfo=UTC)
    assert _event(result, "MOB-1", "started")["state"] == "In Progress"
    assert sorted(result.quarantine.get_column("reason")) == [
        "completedAt is not an ISO-8601 timestamp: done",
        "issue has no identifier",
    ]


def test_a_linear_issue_moved_back_to_todo_is_new_again_at_its_last_update():
    issue = _linear_issue(
        state={"name": "Todo", "type": "unstarted"}, updatedAt="2026-09-04T09:00:00.000Z"
    )
    result = _run("linear", [_record("issues", "MOB", "u1", issue)])
    moved = _event(result, "MOB-1", "transitioned")
    assert moved["occurred_at"] == datetime(2026, 9, 4, 9, tzinfo=UTC)
    assert (moved["state"], json.loads(moved["attributes"])["status_category"]) == ("Todo", "new")


def test_a_linear_issue_history_dates_every_move_and_an_incomplete_one_falls_back():
    def change(at: str, old: str, new: str, actor: str | None = "ana") -> dict:
        types = {"Todo": "unstarted", "In Progress": "started", "Done": "completed"}
        return {
            "createdAt": at,
            "fromState": {"name": old, "type": types[old]},
            "toState": {"name": new, "type": types[new]},
            "actor": {"id": actor} if actor else None,
        }

    moves = [  # newest first, as Linear pages them
        change("2026-09-06T09:00:00.000Z", "In Progress", "Done", actor=None),
        change("2026-09-05T09:00:00.000Z", "Todo", "In Progress"),
        change("2026-09-04T09:00:00.000Z", "In Progress", "Todo"),
        change("2026-09-03T10:00:00.000Z", "Todo", "In Progress"),
    ]
    done = {"name": "Done", "type": "completed"}
    whole = _linear_issue(state=done, history={"nodes": moves, "pageInfo": {"hasNextPage": False}})
    result = _run("linear", [_record("issues", "MOB", "u1", whole)])
    ticket = result.signals.filter(pl.col("action").is_in(["created", "transitioned"]))
    assert ticket.sort("occurred_at").select("action", "state").rows() == [
        ("created", "Todo"),
        ("transitioned", "In Progress"),
        ("transitioned", "Todo"),
        ("transitioned", "In Progress"),
        ("transitioned", "Done"),
    ]
    back = ticket.filter(pl.col("state") == "Todo", pl.col("action") == "transitioned")
    assert back.item(0, "actor") == pseudonym(KEY, "linear", "ana")
    by_system = ticket.filter(pl.col("state") == "Done").row(0, named=True)
    assert (by_system["actor"], by_system["actor_kind"]) == (None, "unknown")
    # Only the first page of a long history: its moves are not all known, so the issue is
    # dated by its timestamps as if it had none.
    partial = _linear_issue(
        state=done,
        updatedAt="2026-09-07T09:00:00.000Z",
        history={"nodes": moves[:1], "pageInfo": {"hasNextPage": True}},
    )
    fallback = _run("linear", [_record("issues", "MOB", "u1", partial)])
    assert fallback.signals.filter(pl.col("action") == "transitioned").select(
        "occurred_at", "state"
    ).rows() == [(datetime(2026, 9, 7, 9, tzinfo=UTC), "Done")]


# -- Sentry ---------------------------------------------------------------------------------------
def test_sentry_issues_are_incidents_first_seen_then_last_seen_with_release(sentry, sentry_items):
    assert sentry.quarantine.is_empty()
    issues = sentry_items["issues"]
    assert _count(sentry, "incident", "first_seen") == len(issues) > 10
    slug, issue_id, issue = issues[0]
    first = _event(sentry, f"sentry:{slug}/{issue_id}", "first_seen")
    assert first["occurred_at"] == _utc(issue["firstSeen"])
    assert first["url"] == issue["permalink"]
    assert json.loads(first["attributes"])["count"] == int(issue["count"])  # sent as a string
    assert _count(sentry, "incident", "last_seen") == len(sentry_items["latest_events"])
    slug, issue_id, event = next(e for e in sentry_items["latest_events"] if e[2]["release"])
    last = _event(sentry, f"sentry:{slug}/{issue_id}", "last_seen")
    assert last["release"] == event["release"]["version"]
    assert last["environment"] == "production"
    assert last["occurred_at"] == _utc(event["dateCreated"])
    # What the incident says of its cause, for matching it to a deployment's changed files.
    attributes = json.loads(last["attributes"])
    assert attributes["culprit"] == event["culprit"]
    # The error's file, and the other in-app frames of the stack (framework frames are not).
    assert event["metadata"]["filename"] in attributes["files"]
    in_app = {
        frame["filename"]
        for entry in event["entries"]
        if entry["type"] == "exception"
        for value in entry["data"]["values"]
        for frame in value["stacktrace"]["frames"]
        if frame.get("inApp")
    }
    assert set(attributes["files"]) == in_app | {event["metadata"]["filename"]}
    assert json.loads(first["attributes"])["files"] == [issue["metadata"]["filename"]]


def test_sentry_releases_and_deploys(sentry, sentry_items):
    releases = sentry_items["releases"]
    assert _count(sentry, "release", "created") == len(releases) > 0
    assert _count(sentry, "release", "released") == sum(
        1 for _, _, r in releases if r["dateReleased"]
    )
    deploys = sentry_items["deploys"]
    assert _count(sentry, "deployment", "finished") == sum(
        1 for _, _, d in deploys if d["dateFinished"]
    )
    slug, record_id, deploy = deploys[0]
    finished = _event(sentry, f"sentry:{slug}/deploys/{deploy['id']}", "finished")
    assert finished["release"] == record_id.split("/deploys/")[0]
    assert finished["environment"] == deploy["environment"]


def test_sentry_string_counts_mixed_ids_resolution_and_bad_records():
    issue = {
        "id": 42,
        "title": "KeyError: 'jane@acme.example'",
        "status": "resolved",
        "count": "1205",
        "userCount": 3,
        "firstSeen": "2026-09-07T18:10:32.599000Z",
        "activity": [{"type": "set_resolved", "dateCreated": "2026-09-08T10:00:00Z"}],
    }
    records = [
        _record("issues", "api", "42", issue, f"{SENTRY_API}/projects/acme/api/issues/"),
        _record("issues", "api", "43", {**issue, "id": "43", "firstSeen": None}),
    ]
    result = _run("sentry", records)
    first = _event(result, "sentry:api/42", "first_seen")
    assert json.loads(first["attributes"])["count"] == 1205
    assert first["url"] == "https://sentry.io/organizations/acme/issues/42/"
    assert "jane@acme.example" not in first["title"]
    resolved = _event(result, "sentry:api/42", "resolved")
    assert (resolved["occurred_at"], resolved["actor_kind"]) == (
        datetime(2026, 9, 8, 10, tzinfo=UTC),
        "bot",
    )
    assert result.quarantine.get_column("reason").to_list() == ["firstSeen is missing"]


# -- Figma ----------------------------------------------------------------------------------------
def test_figma_tagged_comments_are_design_comments_and_stubs_are_references(figma, figma_comments):
    assert figma.quarantine.is_empty()
    tagged = [(k, c) for k, c in figma_comments if is_tagged(c)]
    assert _count(figma, "design_comment", "commented") == len(tagged) > 10
    assert _count(figma, "design_comment", "resolved") == sum(
        1 for _, c in tagged if c["resolved_at"]
    )
    stubs = [note for _, note in figma.references.iter_rows()]
    assert stubs == ["untagged comment: counted, not processed"] * (
        len(figma_comments) - len(tagged)
    )
    file_key, comment = next((k, c) for k, c in tagged if "PLAT-" in c["message"])
    event = _event(figma, f"figma:{file_key}/comments/{comment['id']}", "commented")
    assert event["url"] == f"https://www.figma.com/file/{file_key}?comment={comment['id']}"
    assert event["ticket_keys"] == [w for w in comment["message"].split() if "PLAT-" in w][:1]
    assert event["actor"] == pseudonym(KEY, "figma", comment["user"]["id"])
    assert event["occurred_at"] == _utc(comment["created_at"])


def test_figma_crlf_emoji_deleted_and_malformed_comments():
    comment = {
        "id": "7",
        "file_key": "F1",
        "parent_id": "",
        "user": {"id": "123", "handle": "Zoë Lefèvre"},
        "created_at": "2026-09-02T13:50:58.808Z",
        "resolved_at": "2026-09-02 15:00:00 +0200",
        "message": "#flowsync MOB-3 ✅\r\nship it",
    }
    records = [
        _record("comments", "F1", "7", comment),
        _record("comments", "F1", "8", {**comment, "id": "8", "created_at": None}),
        tombstone(
            "comments", "F1", "9", deleted_at="2026-09-03T00:00:00Z", reason="deleted", request="t"
        ),
    ]
    result = _run("figma", records)
    commented = _event(result, "figma:F1/comments/7", "commented")
    assert commented["title"] == "#flowsync MOB-3 ✅ ship it"
    assert commented["ticket_keys"] == ["MOB-3"]
    assert _event(result, "figma:F1/comments/7", "resolved")["occurred_at"] == datetime(
        2026, 9, 2, 13, tzinfo=UTC
    )
    assert result.accounts.get_column("display_name").to_list() == ["Zoë Lefèvre"]
    assert "Zoë" not in str(result.signals.to_dicts())
    assert result.quarantine.get_column("reason").to_list() == ["created_at is missing"]
    assert _event(result, "figma:F1/comments/9", "deleted")["entity_type"] == "design_comment"


# -- privacy --------------------------------------------------------------------------------------
def test_no_login_email_or_name_of_a_world_person_is_in_any_tools_signals(
    world: World, gitlab, jenkins, linear, sentry, figma
):
    identifiers = set()
    for person in world.people:
        candidates = [*person.emails, person.name, *person.accounts.values()]
        identifiers.update(c.lower() for c in candidates if len(c) >= 4)
    stored = "\n".join(
        str(r.signals.drop("hlc").to_dicts()) for r in (gitlab, jenkins, linear, sentry, figma)
    ).lower()
    assert {i for i in identifiers if i in stored} == set()
    vault = pl.concat([r.accounts for r in (gitlab, jenkins, linear, sentry, figma)])
    assert vault.height > 30  # the identifiers went to the vault instead


def test_a_linear_issue_keeps_the_closed_cycles_it_was_rolled_over_from(
    linear, world: World, tmp_path: Path
):
    """Linear moves an unfinished issue to the next cycle, so its ``cycle`` names that one only;
    the closed cycle's ``uncompletedIssuesUponClose`` keeps it in the cycle it was held in."""
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        con.register("_signals", linear.signals.to_arrow())
        columns = ", ".join(linear.signals.columns)
        con.execute(f"INSERT INTO signals ({columns}) SELECT {columns} FROM _signals")
        _, ticket_sprint = ticket_hierarchy(con)
    linked = set(ticket_sprint.select("ticket_key", "sprint_id").iter_rows())
    held_unfinished, forgotten = set(), set()
    for cycle in world.timeline.cycles:
        if cycle.completed_at > world.end:
            continue
        for ticket in world.timeline.tickets:
            held = ticket.value_at("sprint", cycle.ends_at - timedelta(microseconds=1), None)
            if (
                ticket.tracker == "linear"
                and held
                and held[-1] == cycle.id
                and ticket.status_at(cycle.ends_at) not in ("Done", "Canceled")
            ):
                held_unfinished.add((ticket.key, f"sprint/{cycle.id}"))
                now = ticket.value_at("sprint", world.end, None)
                if not now or now[-1] != cycle.id:  # its own record no longer names the cycle
                    forgotten.add((ticket.key, f"sprint/{cycle.id}"))
                if now:
                    assert (ticket.key, f"sprint/{now[-1]}") in linked
    assert forgotten and held_unfinished <= linked
