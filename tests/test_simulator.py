"""Tests for the deterministic demo-organisation simulator."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flowsync_pipelines.simulator import (
    DEMO,
    HELD_OUT,
    Conventions,
    KeyHabits,
    Person,
    Team,
    World,
    build_world,
    sample_conventions,
)
from flowsync_pipelines.simulator.conventions import uses_held_out_value
from flowsync_pipelines.simulator.sim_files import file_tree
from flowsync_pipelines.simulator.sim_plans import EPIC_BREAKDOWN

JIRA_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
GITHUB_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def parse_github(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


@pytest.fixture(scope="module")
def truth(world: World) -> dict:
    return world.ground_truth()


def snapshot_instant(world: World) -> datetime:
    return world.start + timedelta(days=12, hours=7, minutes=13)


@pytest.fixture(scope="module")
def snapshot(world: World) -> str:
    return full_snapshot(world, snapshot_instant(world))


def github_snapshot(world: World, as_of: datetime) -> str:
    parts = {}
    for repo in world.github_repos():
        parts[repo] = {
            "pulls": world.github_pulls(repo, as_of),
            "commits": world.github_commits(repo, as_of),
            "runs": world.github_workflow_runs(repo, as_of),
            "deployments": world.github_deployments(repo, as_of),
            "releases": world.github_releases(repo, as_of),
        }
    return json.dumps(parts, sort_keys=True)


def full_snapshot(world: World, as_of: datetime) -> str:
    """Every renderer's output at one instant, as a single JSON string."""
    parts: dict = {"github": json.loads(github_snapshot(world, as_of))}
    parts["jira"] = world.jira_issues(as_of)
    parts["jira_sprints"] = world.jira_sprints(as_of)
    parts["gitlab"] = {
        p["id"]: {
            "mrs": world.gitlab_merge_requests(p["id"], as_of),
            "pipelines": world.gitlab_pipelines(p["id"], as_of),
            "deployments": world.gitlab_deployments(p["id"], as_of),
            "commits": world.gitlab_commits(p["id"], as_of),
            "issues": world.gitlab_issues(p["id"], as_of),
        }
        for p in world.gitlab_projects()
    }
    parts["linear"] = [
        world.linear_issues(as_of),
        world.linear_cycles(as_of),
        world.linear_projects(as_of),
        world.linear_comments(as_of),
    ]
    parts["sentry"] = {
        s["slug"]: [world.sentry_issues(s["slug"], as_of), world.sentry_releases(s["slug"], as_of)]
        for s in world.sentry_projects()
    }
    parts["figma"] = {f["key"]: world.figma_comments(f["key"], as_of) for f in world.figma_files()}
    parts["jenkins"] = {j: world.jenkins_builds(j, as_of) for j in world.jenkins_jobs()}
    return json.dumps(parts, sort_keys=True)


def test_public_types(world: World) -> None:
    assert all(isinstance(t, Team) for t in world.teams)
    assert all(isinstance(p, Person) for p in world.people)
    assert world.start == datetime(2026, 9, 1, tzinfo=UTC)
    assert world.end == world.start + timedelta(days=60)


def test_same_seed_gives_identical_output(world: World, truth: dict, snapshot: str) -> None:
    again = build_world(7)
    assert json.dumps(again.ground_truth(), sort_keys=True) == json.dumps(truth, sort_keys=True)
    assert full_snapshot(again, snapshot_instant(world)) == snapshot
    early = world.start + timedelta(days=4, hours=3)
    assert github_snapshot(again, early) == github_snapshot(world, early)


def test_output_does_not_depend_on_hash_randomisation(
    world: World, truth: dict, snapshot: str
) -> None:
    script = (
        "import hashlib, json;"
        "from flowsync_pipelines.simulator import build_world;"
        "from tests.test_simulator import full_snapshot, snapshot_instant;"
        "w = build_world(7);"
        "print(hashlib.sha256(json.dumps(w.ground_truth(), sort_keys=True).encode()).hexdigest());"
        "print(hashlib.sha256(full_snapshot(w, snapshot_instant(w)).encode()).hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[1],
    )
    expected = [
        hashlib.sha256(json.dumps(truth, sort_keys=True).encode()).hexdigest(),
        hashlib.sha256(snapshot.encode()).hexdigest(),
    ]
    assert out.stdout.split() == expected


def test_different_seed_differs(world: World, truth: dict) -> None:
    other_world = build_world(8)
    other = other_world.ground_truth()
    assert json.dumps(other, sort_keys=True) != json.dumps(truth, sort_keys=True)
    assert [p["name"] for p in other["people"]] != [p["name"] for p in truth["people"]]
    assert other_world.jira_issues(world.end) != world.jira_issues(world.end)
    repo = world.github_repos()[0]
    assert other_world.github_pulls(repo, world.end) != world.github_pulls(repo, world.end)


def test_write_ground_truth(world: World, tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    world.write_ground_truth(path)
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(
        json.dumps(world.ground_truth())
    )


def test_organisation_shape(world: World) -> None:
    humans = [p for p in world.people if not p.is_bot]
    bots = [p for p in world.people if p.is_bot]
    assert len(world.teams) == 4
    assert 36 <= len(humans) <= 44
    assert len(bots) == 2
    assert sum(1 for p in humans if p.left_at is not None) == 1
    assert {t.tz for t in world.teams} >= {"Europe/Berlin", "America/New_York", "Asia/Kolkata"}
    assert any(not p.name.isascii() for p in humans)
    for char in "éøş李":
        assert any(char in p.name for p in humans), char
    assert len(world.github_repos()) == 6
    for team in world.teams:
        assert set(team.members) <= {p.person_id for p in humans}
        assert (team.jira_component is None) != (team.linear_team_key is None)
    # someone uses a personal address somewhere
    assert any(
        not e.endswith("acme.example") and "noreply" not in e for p in humans for e in p.emails
    )


def test_scale_is_in_the_stated_ranges(truth: dict) -> None:
    pulls = truth["pull_requests"]
    assert 300 <= len(pulls) <= 450
    assert {p["host"] for p in pulls} == {"github", "gitlab"}
    assert 400 <= len(truth["tickets"]) <= 600
    commits = {sha for d in truth["deployments"] for sha in d["shipped_shas"]}
    assert len(commits) >= 800


def test_commit_volume(world: World) -> None:
    total = sum(len(p.commits) for pr in world.timeline.pulls for p in pr.pushes)
    total += sum(1 for pr in world.timeline.pulls if pr.merge_commit is not None)
    assert 1100 <= total <= 1900


def test_pr_merged_after_as_of_renders_open(world: World, truth: dict) -> None:
    merged = [p for p in truth["pull_requests"] if p["host"] == "github" and p["merged_at"]]
    target = merged[len(merged) // 2]
    merged_at = parse_github(target["merged_at"])
    as_of = merged_at - timedelta(seconds=1)
    rendered = {p["number"]: p for p in world.github_pulls(target["repo"], as_of)}
    pr = rendered[target["number"]]
    assert pr["state"] == "open"
    assert pr["merged_at"] is None and pr["closed_at"] is None and pr["merge_commit_sha"] is None
    assert parse_github(pr["updated_at"]) <= as_of
    after = {
        p["number"]: p for p in world.github_pulls(target["repo"], merged_at + timedelta(seconds=1))
    }
    assert after[target["number"]]["state"] == "closed"
    assert after[target["number"]]["merged_at"] == target["merged_at"]


def test_nothing_exists_before_start(world: World) -> None:
    before = world.start - timedelta(seconds=1)
    for repo in world.github_repos():
        assert world.github_pulls(repo, before) == []
        assert world.github_commits(repo, before) == []
    assert world.jira_issues(before) == []
    assert world.open_pull_requests(before) == 0


def test_open_pull_requests_matches_rendering(world: World) -> None:
    logins = {p.accounts.get("github"): p.team for p in world.people}
    leaver = next(p for p in world.people if p.left_at)
    for offset in (3.5, 17.25, 30.6, 45.1, 60):
        as_of = world.start + timedelta(days=offset)
        per_team: dict[str | None, int] = {}
        total = 0
        for repo in world.github_repos():
            for pr in world.github_pulls(repo, as_of):
                assert pr["created_at"] <= as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
                if pr["state"] == "open":
                    total += 1
                    # the leaver's PRs show as ghost once they are gone
                    login = pr["user"]["login"]
                    team = leaver.team if login == "ghost" else logins[login]
                    per_team[team] = per_team.get(team, 0) + 1
        assert world.open_pull_requests(as_of) == total
        for team in world.teams:
            assert world.open_pull_requests(as_of, team=team.key) == per_team.get(team.key, 0)
        gitlab = sum(
            1
            for project in world.gitlab_projects()
            for mr in world.gitlab_merge_requests(project["id"], as_of)
            if mr["state"] == "opened"
        )
        assert world.open_pull_requests(as_of, host="all") == total + gitlab


def test_pull_shapes(world: World) -> None:
    pulls = [p for repo in world.github_repos() for p in world.github_pulls(repo, world.end)]
    sample = pulls[0]
    for key in ("url", "id", "node_id", "html_url", "number", "state", "title", "user", "body"):
        assert key in sample
    assert "merged" not in sample
    assert all(p["html_url"].startswith("https://github.com/acme/") for p in pulls)
    assert all(p["url"].startswith("https://api.github.com/repos/acme/") for p in pulls)
    assert any(p["body"] is None for p in pulls)
    assert any(p["draft"] for p in pulls) or any(pr.starts_draft for pr in world.timeline.pulls)
    assert any(p["requested_reviewers"] for p in pulls)
    assert all(GITHUB_TS.match(p["created_at"]) for p in pulls)
    assert all(re.fullmatch(r"[0-9a-f]{40}", p["head"]["sha"]) for p in pulls)
    ids = [p["id"] for p in world.github_pulls("acme/payments-api", world.end)]
    assert ids == sorted(ids)


def test_ghost_and_bots_appear(world: World) -> None:
    end = world.end
    users = []
    for repo in world.github_repos():
        for pr in world.github_pulls(repo, end):
            users.append(pr["user"])
            users += [r["user"] for r in world.github_reviews(repo, pr["number"], end)]
        users += [d["creator"] for d in world.github_deployments(repo, end)]
    by_login = {u["login"]: u for u in users}
    ghost = by_login["ghost"]
    assert ghost["id"] == 10137 and ghost["html_url"] == "https://github.com/ghost"
    assert by_login["dependabot[bot]"]["type"] == "Bot"
    ci_bot = next(u for login, u in by_login.items() if "acme-ci-bot" in login)
    assert ci_bot["type"] == "Bot" and ci_bot["login"].endswith("[bot]")
    # before leaving, the same person shows under their real login
    leaver = next(p for p in world.people if p.left_at)
    before = leaver.left_at - timedelta(hours=1)
    logins = {
        pr["user"]["login"]
        for repo in world.github_repos()
        for pr in world.github_pulls(repo, before)
    }
    assert leaver.accounts["github"] in logins


def test_jira_leaver_is_inactive_and_automation_is_an_app(world: World) -> None:
    users = {u["accountId"]: u for u in world.jira_users()}
    leaver = next(p for p in world.people if p.left_at)
    assert users[leaver.accounts["jira"]]["active"] is False
    apps = [u for u in users.values() if u["accountType"] == "app"]
    assert len(apps) == 1
    authors = {
        h["author"]["accountId"]
        for i in world.jira_issues(world.end)
        for h in i["changelog"]["histories"]
    }
    assert apps[0]["accountId"] in authors
    before = world.jira_issues(leaver.left_at - timedelta(hours=1))
    assignees = [i["fields"]["assignee"] for i in before if i["fields"]["assignee"]]
    assert any(a["accountId"] == leaver.accounts["jira"] and a["active"] for a in assignees)


def test_jira_timestamps_and_changelog(world: World) -> None:
    issues = world.jira_issues(world.end)
    items = []
    for issue in issues:
        fields = issue["fields"]
        for key in ("created", "updated", "resolutiondate", "statuscategorychangedate"):
            if fields[key] is not None:
                assert JIRA_TS.match(fields[key]), fields[key]
        for history in issue["changelog"]["histories"]:
            assert JIRA_TS.match(history["created"])
            items += history["items"]
        assert issue["changelog"]["histories"] == world.jira_issue_changelog(
            issue["key"], world.end
        )
        assert issue["self"].startswith("https://acme.atlassian.net/rest/api/3/issue/")
        assert issue["key"].startswith(world.jira_project_key + "-")
    # DST ends inside the period: both offsets appear
    offsets = {i["fields"]["created"][-5:] for i in issues}
    assert {"+0200", "+0100"} <= offsets
    assert any(i["from"] is None for i in items) and any(i["to"] is None for i in items)
    assert {i["field"] for i in items} >= {"status", "assignee", "resolution", "Sprint"}
    assert any(i["fields"]["description"] is None for i in issues)
    adf = next(i["fields"]["description"] for i in issues if i["fields"]["description"])
    assert adf["type"] == "doc" and adf["version"] == 1
    statuses = {i["fields"]["status"]["statusCategory"]["key"] for i in issues}
    assert statuses == {"new", "indeterminate", "done"}
    assert any(i["fields"]["customfield_10020"] for i in issues)
    assert any(i["fields"].get("parent") for i in issues)
    # reopened tickets move backwards in the workflow
    moves = [(i["fromString"], i["toString"]) for i in items if i["field"] == "status"]
    assert ("In Review", "In Progress") in moves or ("Done", "In Progress") in moves


def test_jira_issue_state_as_of(world: World) -> None:
    ticket = next(
        t
        for t in world.timeline.tickets
        if t.tracker == "jira" and t.status_at(world.end) == "Done"
    )
    done_at = ticket.first_time("status", ("Done",))
    before = {i["key"]: i for i in world.jira_issues(done_at - timedelta(seconds=1))}[ticket.key]
    assert before["fields"]["status"]["name"] != "Done"
    assert before["fields"]["resolutiondate"] is None
    after = {i["key"]: i for i in world.jira_issues(done_at)}[ticket.key]
    assert after["fields"]["status"]["name"] == "Done"


def test_jira_agile(world: World) -> None:
    board = world.jira_board()
    assert board["id"] == 1 and board["type"] == "scrum"
    sprints = world.jira_sprints(world.end)
    assert {s["state"] for s in sprints} >= {"closed", "active"}
    assert all(s["originBoardId"] == 1 for s in sprints)
    mid = world.jira_sprints(world.start + timedelta(days=20))
    assert sum(1 for s in mid if s["state"] == "active") == 1
    epics = world.jira_epics(world.end)
    assert len(epics) >= 6 and all(isinstance(e["done"], bool) for e in epics)


def test_tickets_in_progress_matches_rendering(world: World) -> None:
    for offset in (5, 29.5, 59.9):
        as_of = world.start + timedelta(days=offset)
        jira = sum(
            1
            for i in world.jira_issues(as_of)
            if i["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
        )
        linear = sum(
            1
            for t in world.timeline.tickets
            if t.tracker == "linear"
            and t.created_at <= as_of
            and t.status_at(as_of) in ("In Progress", "In Review")
        )
        assert world.tickets_in_progress(as_of) == jira + linear
        assert (
            sum(world.tickets_in_progress(as_of, team=t.key) for t in world.teams) == jira + linear
        )


def test_ticket_links_in_ground_truth(world: World, truth: dict) -> None:
    links = truth["ticket_links"]
    wheres = {link["where"] for link in links}
    assert wheres == {"title", "branch", "body", "commit", "none"}
    pulls = {(p.repo, p.number): p for p in world.timeline.pulls}
    for link in links:
        pr = pulls[(link["repo"], link["number"])]
        key = link["ticket_key"]
        if key is None:
            continue
        in_title = key.lower() in pr.title.lower()
        in_branch = key.lower() in pr.head_ref.lower()
        in_body = key.lower() in (pr.body or "").lower()
        messages = " ".join(c.message for p in pr.pushes for c in p.commits).lower()
        if link["where"] == "title":
            assert in_title
        elif link["where"] == "branch":
            assert in_branch and not in_title
        elif link["where"] == "body":
            assert in_body and not in_title and not in_branch and key.lower() not in messages
        elif link["where"] == "commit":
            assert key.lower() in messages and not (in_title or in_branch or in_body)
        else:
            assert not (in_title or in_branch or in_body) and key.lower() not in messages
    assert any(link["where"] == "none" and link["ticket_key"] for link in links)
    assert any(link["where"] == "none" and link["ticket_key"] is None for link in links)


def test_commits_quirks(world: World) -> None:
    commits = [c for repo in world.github_repos() for c in world.github_commits(repo, world.end)]
    assert any(c["author"] is None for c in commits)
    assert any(c["committer"] and c["committer"]["login"] == "web-flow" for c in commits)
    dates = [
        c["commit"]["committer"]["date"]
        for c in world.github_commits("acme/payments-api", world.end)
    ]
    assert dates == sorted(dates, reverse=True)


def test_incident_causes_point_to_prior_production_deploys(world: World, truth: dict) -> None:
    deployments = {(d["host"], d["deployment_id"]): d for d in truth["deployments"]}
    caused = [c for c in truth["incident_causes"] if c["cause_deployment"]]
    assert len(caused) >= 3
    assert any(c["cause_deployment"] is None for c in truth["incident_causes"])
    rendered = {
        d["id"]: d
        for repo in world.github_repos()
        for d in world.github_deployments(repo, world.end)
    }
    for cause in caused:
        ref = cause["cause_deployment"]
        dep = deployments[(ref["host"], ref["deployment_id"])]
        assert dep["environment"] == "production" == ref["environment"]
        assert dep["sha"] == ref["sha"] and dep["status"] == "success"
        assert dep["created_at"] < cause["first_seen"]
        if ref["host"] == "github":
            assert rendered[ref["deployment_id"]]["sha"] == ref["sha"]


def test_deployments_ship_merged_commits(world: World, truth: dict) -> None:
    production = [d for d in truth["deployments"] if d["environment"] == "production"]
    assert production and all(d["sha"] for d in production)
    shipped = [d for d in production if d["shipped_shas"]]
    assert all(d["sha"] == d["shipped_shas"][-1] for d in shipped)
    dep = next(d for d in shipped if d["host"] == "github")
    statuses = world.github_deployment_statuses(dep["repo"], dep["deployment_id"], world.end)
    assert [s["state"] for s in statuses] == ["in_progress", "success"]


def test_config(world: World) -> None:
    urls = {"github": "http://gh.local", "jira": "http://jira.local"}
    config = world.config(urls)
    assert config["organisation"] == "acme" and config["start_date"] == "2026-09-01"
    assert [s["name"] for s in config["sources"]] == ["github", "jira"]
    github = config["sources"][0]
    assert github["base_url"] == "http://gh.local" and github["token_env"] == "GITHUB_TOKEN"
    assert github["scopes"]["repos"] == world.github_repos()
    assert config["sources"][1]["board_id"] == 1
    assert config["sources"][1]["scopes"]["projects"] == [world.jira_project_key]
    members = [m for t in config["teams"] for m in t["members"]]
    assert len(members) == sum(1 for p in world.people if not p.is_bot)
    assert not any("[bot]" in str(m) for m in members)
    assert {d["team"] for d in config["digests"]} == {t.key for t in world.teams}
    everything = world.config(
        {
            k: f"http://{k}.local"
            for k in ("github", "gitlab", "jira", "linear", "sentry", "figma", "jenkins")
        }
    )
    assert len(everything["sources"]) == 7
    json.dumps(everything)


def test_identity_clusters(truth: dict) -> None:
    clusters = truth["identity_clusters"]
    owners: dict[str, str] = {}
    for person_id, accounts in clusters.items():
        for account in accounts:
            assert owners.setdefault(account, person_id) == person_id, account
    multi_tool = [a for a in clusters.values() if len({x.split(":")[0] for x in a}) >= 4]
    assert len(multi_tool) >= 20


def test_gitlab_projects_and_merge_requests(world: World) -> None:
    projects = world.gitlab_projects()
    assert len(projects) == 2
    assert all(p["web_url"] == f"https://gitlab.com/{p['path_with_namespace']}" for p in projects)
    states: set[str] = set()
    for project in projects:
        mrs = world.gitlab_merge_requests(project["id"], world.end)
        assert [m["id"] for m in mrs] == sorted(m["id"] for m in mrs)
        states |= {m["state"] for m in mrs}
        merged = next(m for m in mrs if m["state"] == "merged")
        approvals = world.gitlab_mr_approvals(project["id"], merged["iid"], world.end)
        assert approvals["approved"] is True and approvals["approved_by"]
        notes = world.gitlab_mr_notes(project["id"], merged["iid"], world.end)
        assert any(n["system"] for n in notes)
        assert any(n["body"] == "approved this merge request" for n in notes)
        assert all(
            re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", m["created_at"]) for m in mrs
        )
    assert states == {"opened", "merged", "closed"}
    open_mrs = sum(
        1
        for p in projects
        for m in world.gitlab_merge_requests(p["id"], world.end)
        if m["state"] == "opened"
    )
    assert world.open_pull_requests(world.end, host="gitlab") == open_mrs


def test_gitlab_pipelines_jobs_deployments_commits(world: World) -> None:
    project = world.gitlab_projects()[0]
    pipelines = world.gitlab_pipelines(project["id"], world.end)
    assert {p["status"] for p in pipelines} >= {"success", "failed"}
    assert {p["source"] for p in pipelines} >= {"push", "merge_request_event"}
    failed = next(p for p in pipelines if p["status"] == "failed")
    jobs = world.gitlab_jobs(project["id"], failed["id"], world.end)
    assert any(j["status"] == "failed" and j["failure_reason"] == "script_failure" for j in jobs)
    deployments = world.gitlab_deployments(project["id"], world.end)
    assert {d["environment"]["name"] for d in deployments} == {"staging", "production"}
    commits = world.gitlab_commits(project["id"], world.end)
    shas = {c["id"] for c in commits}
    assert all(d["sha"] in shas for d in deployments)
    assert any(c["title"].startswith("Merge branch ") for c in commits)


def test_gitlab_draft_titles(world: World) -> None:
    drafts = [p for p in world.timeline.pulls if p.host == "gitlab" and p.starts_draft]
    assert drafts, "the demo seed has GitLab merge requests opened as drafts"
    mr = drafts[0]
    project_id = next(
        p["id"] for p in world.gitlab_projects() if p["path_with_namespace"] == mr.repo
    )
    rendered = {m["iid"]: m for m in world.gitlab_merge_requests(project_id, mr.created_at)}
    assert rendered[mr.number]["title"].startswith("Draft: ")
    assert rendered[mr.number]["draft"] is True


# --- Linear ------------------------------------------------------------------------------


def test_linear(world: World) -> None:
    issues = world.linear_issues(world.end)
    assert len(issues) >= 80
    assert all(re.fullmatch(r"MOB-\d+", i["identifier"]) for i in issues)
    assert all(
        i["url"].startswith(f"https://linear.app/acme/issue/{i['identifier']}/") for i in issues
    )
    assert {i["state"]["type"] for i in issues} >= {"started", "completed", "unstarted"}
    assert all(i["identifier"].lower() in i["branchName"] for i in issues)
    assert all(re.search(r"\.\d{3}Z$", i["createdAt"]) for i in issues)
    done = next(i for i in issues if i["state"]["name"] == "Done")
    assert done["completedAt"] and done["startedAt"]
    assert any(i["cycle"] for i in issues) and any(i["project"] for i in issues)
    assert any(i["assignee"] is None for i in issues)
    cycles = world.linear_cycles(world.end)
    assert [c["number"] for c in cycles] == sorted(c["number"] for c in cycles)
    assert world.linear_projects(world.end) and world.linear_comments(world.end)
    users = world.linear_users()
    assert {u["id"] for u in users} >= {i["assignee"]["id"] for i in issues if i["assignee"]}


# --- Sentry ------------------------------------------------------------------------------


def test_sentry(world: World, truth: dict) -> None:
    projects = world.sentry_projects()
    assert len(projects) == 8
    issues = [i for p in projects for i in world.sentry_issues(p["slug"], world.end)]
    assert all(i["id"].isdigit() and isinstance(i["count"], str) for i in issues)
    assert all(isinstance(i["userCount"], int) for i in issues)
    assert all(re.fullmatch(r"[A-Z-]+-[0-9A-Z]+", i["shortId"]) for i in issues)
    assert all(
        i["permalink"].startswith("https://sentry.io/organizations/acme/issues/") for i in issues
    )
    assert {i["status"] for i in issues} >= {"unresolved", "resolved"}
    cause = next(c for c in truth["incident_causes"] if c["cause_deployment"])
    issue = next(i for i in issues if i["id"] == cause["sentry_issue_id"])
    deployment = next(
        d
        for d in truth["deployments"]
        if d["deployment_id"] == cause["cause_deployment"]["deployment_id"]
    )
    first = datetime.strptime(issue["firstSeen"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    event = world.sentry_latest_event(issue["id"], first)
    assert re.fullmatch(r"[0-9a-f]{32}", event["eventID"])
    tags = {t["key"]: t["value"] for t in event["tags"]}
    assert tags["release"] == deployment["release_version"]
    deploys = world.sentry_deploys(deployment["release_version"], world.end)
    assert "production" in {d["environment"] for d in deploys}
    releases = world.sentry_releases(cause["project"], world.end)
    assert deployment["release_version"] in {r["version"] for r in releases}
    # counts grow over time
    later = world.sentry_issues(cause["project"], world.end)
    earlier = world.sentry_issues(cause["project"], first)
    count_then = next(i["count"] for i in earlier if i["id"] == issue["id"])
    count_now = next(i["count"] for i in later if i["id"] == issue["id"])
    assert int(count_then) <= int(count_now)
    assert world.sentry_latest_event(issue["id"], first - timedelta(seconds=1)) == {}


# --- Figma and Jenkins ---------------------------------------------------------------------


def test_figma(world: World, truth: dict) -> None:
    links = truth["design_comment_links"]
    files = world.figma_files()
    assert len(files) == 3
    comments = [c for f in files for c in world.figma_comments(f["key"], world.end)]
    assert len(comments) == len(links)
    for comment in comments:
        key = links[comment["id"]]
        if key is not None:
            assert "#flowsync" in comment["message"] and key in comment["message"]
        else:
            assert not re.search(r"\b(PLAT|MOB)-\d+", comment["message"])
        assert comment["user"]["handle"] and comment["user"]["id"].isdigit()
    assert any(c["parent_id"] for c in comments) and any(c["resolved_at"] for c in comments)
    assert sum(1 for v in links.values() if v) >= 10


def test_jenkins(world: World, truth: dict) -> None:
    jobs = world.jenkins_jobs()
    assert 1 <= len(jobs) <= 2
    builds = world.jenkins_builds(jobs[-1], world.end)
    numbers = [b["number"] for b in builds]
    assert numbers == sorted(numbers)
    results = {b["result"] for b in builds}
    assert "SUCCESS" in results and results & {"FAILURE", "UNSTABLE"}
    by_sha: dict[str, list[dict]] = {}
    for build in builds:
        data = next(
            a for a in build["actions"] if a.get("_class") == "hudson.plugins.git.util.BuildData"
        )
        by_sha.setdefault(data["lastBuiltRevision"]["SHA1"], []).append(build)
    flaky = [bs for bs in by_sha.values() if len(bs) > 1]
    assert flaky
    assert flaky[0][0]["result"] in ("FAILURE", "UNSTABLE") and flaky[0][-1]["result"] == "SUCCESS"
    running_at = datetime.fromtimestamp(builds[5]["timestamp"] / 1000 + 1, tz=UTC)
    mid_build = next(
        b for b in world.jenkins_builds(jobs[-1], running_at) if b["number"] == numbers[5]
    )
    assert mid_build["building"] is True and mid_build["result"] is None
    assert any(r["system"] == "jenkins" and r["flaky"] for r in truth["ci_runs"])


def test_github_flaky_rerun_keeps_sha(world: World) -> None:
    runs = world.timeline.ci_runs
    flaky = next(r for r in runs if r.system == "actions" and r.flaky and len(r.attempts) == 2)
    between = flaky.attempts[0].finished_at + timedelta(seconds=1)
    before = next(r for r in world.github_workflow_runs(flaky.repo, between) if r["id"] == flaky.id)
    assert before["conclusion"] == "failure" and before["run_attempt"] == 1
    after = next(
        r for r in world.github_workflow_runs(flaky.repo, world.end) if r["id"] == flaky.id
    )
    assert after["conclusion"] == "success" and after["run_attempt"] == 2
    assert after["head_sha"] == before["head_sha"] and after["previous_attempt_url"]


# --- conventions -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def held_out() -> World:
    return build_world(7, conventions=HELD_OUT)


def _pr_texts(world: World, pr) -> str:
    """Everything a PR shows: title, branch, body and its commits' messages."""
    messages = [c.message for push in pr.pushes for c in push.commits]
    return "\n".join([pr.title, pr.head_ref, pr.body or "", *messages]).lower()


def test_sampling_never_produces_a_held_out_value() -> None:
    assert len(uses_held_out_value(HELD_OUT)) >= 3
    for seed in range(400):
        sampled = sample_conventions(random.Random(seed))
        assert uses_held_out_value(sampled) == [], sampled.name
        assert sampled != HELD_OUT


def test_sampling_is_deterministic_and_varied() -> None:
    assert sample_conventions(random.Random(5)) == sample_conventions(random.Random(5))
    drawn = [sample_conventions(random.Random(seed)) for seed in range(30)]
    assert len({c.members_configured for c in drawn}) == 2
    assert len({c.sentry_slug_style for c in drawn}) >= 2
    assert len({c.habits(0).title_formats for c in drawn}) >= 10


def test_same_seed_and_conventions_give_the_same_world() -> None:
    conventions = sample_conventions(random.Random(3))
    one = build_world(3, days=10, conventions=conventions)
    two = build_world(3, days=10, conventions=conventions)
    assert json.dumps(one.ground_truth(), sort_keys=True) == json.dumps(
        two.ground_truth(), sort_keys=True
    )
    assert one.ground_truth()["conventions"]["name"] == conventions.name


def test_invalid_conventions_are_refused() -> None:
    with pytest.raises(ValueError, match="sentry_slug_style"):
        Conventions(name="bad", team_habits=DEMO.team_habits, sentry_slug_style="nope")
    with pytest.raises(ValueError, match="unknown formats"):
        KeyHabits(placement=(1, 1, 1, 1, 1), title_formats=("x",), branch_formats=(("y", 1),))


def test_held_out_names_no_key_for_about_fifteen_percent_of_ticketed_prs(held_out: World) -> None:
    ticketed = [p for p in held_out.timeline.pulls if p.ticket_key]
    nowhere = [p for p in ticketed if p.link_where == "none"]
    assert 0.09 <= len(nowhere) / len(ticketed) <= 0.21
    assert all(p.ticket_key.lower() not in _pr_texts(held_out, p) for p in nowhere)
    named = [p for p in ticketed if p.link_where != "none"]
    assert all(p.ticket_key.lower() in _pr_texts(held_out, p) for p in named)


def test_held_out_teams_put_keys_in_titles_or_in_branches(held_out: World) -> None:
    by_team: dict[str, Counter] = {}
    for pr in held_out.timeline.pulls:
        if pr.ticket_key:
            team = held_out.organisation.repo(pr.repo).team
            by_team.setdefault(team, Counter())[pr.link_where] += 1
    assert by_team["payments"]["branch"] == 0 < by_team["payments"]["title"]
    assert by_team["platform"]["title"] == 0 < by_team["platform"]["branch"]
    titled = [p for p in held_out.timeline.pulls if p.link_where == "title"]
    assert all(p.title.startswith(f"{p.ticket_key} | ") for p in titled)
    branched = [p for p in held_out.timeline.pulls if p.link_where == "branch"]
    assert all(p.head_ref.startswith(f"{p.ticket_key}_") for p in branched)
    # a title-team PR's branch does not carry the key (branch_with_title = 0)
    assert all(p.ticket_key not in p.head_ref for p in titled)


def test_titles_written_independently_share_no_summary(world: World) -> None:
    conventions = Conventions(name="no-echo", team_habits=DEMO.team_habits, title_echo_rate=0.0)
    independent = build_world(7, days=20, conventions=conventions)
    tickets = {t.key: t for t in independent.timeline.tickets}
    ticketed = [p for p in independent.timeline.pulls if p.ticket_key]
    assert ticketed and not any(tickets[p.ticket_key].title in p.title for p in ticketed)
    echoed = [p for p in world.timeline.pulls if p.ticket_key and p.link_where != "commit"]
    tickets = {t.key: t for t in world.timeline.tickets}
    assert sum(tickets[p.ticket_key].title.lower() in p.title.lower() for p in echoed) > 0.6 * len(
        echoed
    )


def test_login_styles_follow_the_conventions() -> None:
    conventions = Conventions(
        name="digits", team_habits=DEMO.team_habits, login_styles=("surname_digits",)
    )
    people = build_world(7, days=5, conventions=conventions).people
    logins = [p.accounts["github"] for p in people if not p.is_bot and "github" in p.accounts]
    assert logins and all(re.fullmatch(r"[a-z]+\d{2,}", login) for login in logins)


def test_unconfigured_members_leave_teams_with_their_repos(held_out: World) -> None:
    config = held_out.config({"github": "http://gh.local", "sentry": "http://sentry.local"})
    assert all("members" not in team for team in config["teams"])
    assert all(team["repos"] for team in config["teams"])
    assert any(team.get("jira_components") for team in config["teams"])


def test_held_out_sentry_slugs_differ_from_repository_names(held_out: World) -> None:
    projects = held_out.sentry_projects()
    services = {r.service for r in held_out.organisation.repos}
    assert {p["slug"] for p in projects}.isdisjoint(services)
    assert held_out.sentry_slug("payments-api") == "payments-backend"
    config = held_out.config({"sentry": "http://sentry.local"})
    assert set(config["sources"][0]["scopes"]["projects"]) == {
        held_out.sentry_slug(s) for s in services
    }
    issues = held_out.sentry_issues("payments-backend", held_out.end)
    assert issues and all(i["project"]["slug"] == "payments-backend" for i in issues)
    assert all(i["shortId"].startswith("PAYMENTS-BACKEND-") for i in issues)


# --- files, culprits and late manifests ---------------------------------------------------


def _cause_files(world: World, deployment_key: str) -> set[str]:
    dep = next(d for d in world.timeline.deployments if d.key == deployment_key)
    commits = {c.sha: c for h in world.timeline.main_commits.values() for c in h}
    return {f for sha in dep.shipped_shas for f in commits[sha].files}


@pytest.mark.parametrize("which", ["demo", "held_out"])
def test_caused_incidents_raise_in_a_file_their_deployment_changed(
    which: str, world: World, held_out: World
) -> None:
    chosen = world if which == "demo" else held_out
    caused = [s for s in chosen.timeline.sentry_issues if s.cause_deployment]
    assert len(caused) >= 3
    for issue in caused:
        assert issue.filename in _cause_files(chosen, issue.cause_deployment)
        event = chosen.sentry_latest_event(issue.id, chosen.end)
        frames = event["entries"][0]["data"]["values"][0]["stacktrace"]["frames"]
        in_app = [f for f in frames if f["inApp"]]
        assert in_app[-1]["filename"] == issue.filename == event["metadata"]["filename"]
        assert issue.culprit.startswith(issue.filename)
        assert any(not f["inApp"] for f in frames)


def test_noise_incidents_raise_in_files_of_their_service(world: World) -> None:
    noise = [s for s in world.timeline.sentry_issues if s.cause_deployment is None]
    repos = {r.service: r for r in world.organisation.repos}
    assert noise
    for issue in noise:
        assert issue.filename in file_tree(repos[issue.project]).sources


def test_late_manifest_incidents_show_after_a_later_deployment_with_its_release(
    held_out: World,
) -> None:
    truth = held_out.ground_truth()
    deployments = {d.key: d for d in held_out.timeline.deployments}
    late = [s for s in held_out.timeline.sentry_issues if s.late_manifest]
    assert late
    assert not any(s.late_manifest for s in build_world(7, days=30).timeline.sentry_issues)
    for issue in late:
        cause = deployments[issue.cause_deployment]
        later = [
            d
            for d in held_out.timeline.deployments
            if d.service == cause.service
            and d.environment == "production"
            and d.succeeded_at is not None
            and cause.created_at < d.created_at
            and d.succeeded_at < issue.first_seen
        ]
        assert later, "a late-manifest incident is first seen after a later deployment"
        event = held_out.sentry_latest_event(issue.id, issue.first_seen)
        release = {t["key"]: t["value"] for t in event["tags"]}["release"]
        assert release == later[-1].release_version != cause.release_version
        row = next(c for c in truth["incident_causes"] if c["sentry_issue_id"] == issue.id)
        assert row["late_manifest"] and row["release_when_first_seen"] == release


def test_commit_detail_lists_the_files_each_commit_changed(world: World) -> None:
    repo = "acme/payments-api"
    merge = next(c for c in world.timeline.main_commits[repo] if c.kind == "merge")
    detail = world.github_commit(repo, merge.sha, world.end)
    listed = next(c for c in world.github_commits(repo, world.end) if c["sha"] == merge.sha)
    assert {k: v for k, v in detail.items() if k not in ("stats", "files")} == listed
    files = detail["files"]
    assert [f["filename"] for f in files] == merge.files and files
    assert all(f["changes"] == f["additions"] + f["deletions"] for f in files)
    assert detail["stats"]["total"] == sum(f["changes"] for f in files)
    pr = next(p for p in world.timeline.pulls if p.merge_commit is merge)
    assert set(merge.files) == {f for push in pr.pushes for c in push.commits for f in c.files}
    assert world.github_commit(repo, merge.sha, merge.on_main_at - timedelta(seconds=1)) == {}
    project = world.gitlab_projects()[0]
    commit = world.gitlab_commits(project["id"], world.end)[0]
    diff = world.gitlab_commit_diff(project["id"], commit["id"], world.end)
    assert diff and {
        "new_path",
        "old_path",
        "new_file",
        "deleted_file",
        "renamed_file",
        "diff",
    } <= (diff[0].keys())


# --- causes of what statements predict ------------------------------------------------------


@pytest.fixture(scope="module")
def long_world() -> World:
    return build_world(5, days=150)


def _human_pulls(world: World) -> list:
    bots = {p.person_id for p in world.organisation.people if p.is_bot}
    return [p for p in world.timeline.pulls if p.author not in bots and p.requests]


def _load(pulls: list, reviewer: str, at: datetime) -> int:
    """Open pull requests that asked ``reviewer`` for a review by ``at`` not yet given."""
    return sum(
        1
        for p in pulls
        if p.is_open(at)
        and any(r.reviewer == reviewer and r.at < at for r in p.requests)
        and not any(r.reviewer == reviewer and r.at <= at for r in p.reviews)
    )


def _stalled(p, end: datetime) -> bool:
    ended = p.merged_at or p.closed_at or end
    return ended > p.created_at + timedelta(days=5)


def test_loaded_reviewers_answer_later(long_world: World) -> None:
    pulls = _human_pulls(long_world)
    waits: dict[str, list[float]] = {"idle": [], "loaded": []}
    for p in pulls:
        first = p.requests[0]
        answer = min((r.at for r in p.reviews if r.reviewer == first.reviewer), default=None)
        load = _load(pulls, first.reviewer, first.at)
        if answer is None or load == 1:
            continue
        waits["loaded" if load >= 2 else "idle"].append((answer - first.at).total_seconds())
    assert len(waits["loaded"]) >= 50 and len(waits["idle"]) >= 200
    mean = {k: sum(v) / len(v) / 3600 for k, v in waits.items()}
    assert mean["loaded"] > 1.3 * mean["idle"], mean


def test_large_pull_requests_stall_more(long_world: World) -> None:
    end = long_world.end
    pulls = [p for p in _human_pulls(long_world) if p.created_at + timedelta(days=5) < end]

    def size(p) -> int:
        return sum(len(push.commits) for push in p.pushes if push.at <= p.created_at)

    small = [_stalled(p, end) for p in pulls if size(p) <= 2]
    large = [_stalled(p, end) for p in pulls if size(p) >= 4]
    assert len(small) >= 50 and len(large) >= 50
    assert sum(large) / len(large) > 1.5 * sum(small) / len(small)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_ground_truth_records_each_plans_outcome_as_the_trackers_show_it(long_world: World):
    truth = long_world.ground_truth()
    plans = truth["sprints"] + truth["epics"]
    assert len(truth["sprints"]) >= 20 and len(truth["epics"]) >= 8
    for plan in plans:
        settled = _at(plan["due_at"]) <= long_world.end
        assert (plan["missed"] is not None) == settled, plan
        assert not settled or plan["missed"] == (plan["not_done"] > 0), plan
    # A Jira sprint's scope and what was left of it, as the issues show at its end date.
    sprint = next(s for s in truth["sprints"] if s["tracker"] == "jira" and s["missed"] is not None)
    sprint_id = int(sprint["subject_id"].removeprefix("sprint/"))
    issues = [
        i
        for i in long_world.jira_issues(_at(sprint["due_at"]))
        if any(s["id"] == sprint_id for s in i["fields"]["customfield_10020"] or [])
    ]
    assert len(issues) == sprint["scope"] > 0
    left = [i for i in issues if i["fields"]["status"]["statusCategory"]["key"] != "done"]
    assert len(left) == sprint["not_done"]
    # Due dates travel as the tools carry them: Jira's duedate, Linear's targetDate.
    due = {
        e["subject_id"]: (_at(e["due_at"]) - timedelta(days=1)).date().isoformat()
        for e in truth["epics"]
    }
    epics = [
        i
        for i in long_world.jira_issues(long_world.end)
        if i["fields"]["issuetype"]["name"] == "Epic"
    ]
    jira = {i["key"]: i["fields"]["duedate"] for i in epics}
    linear = {
        f"project/{p['id']}": p["targetDate"] for p in long_world.linear_projects(long_world.end)
    }
    assert {k: v for k, v in {**jira, **linear}.items() if k in due} == due
    # Teams keep filing epics; one in three of those planned by the end has no due date.
    planned = [
        i["fields"]["duedate"]
        for i in epics
        if _at(i["fields"]["created"]) + EPIC_BREAKDOWN < long_world.end
    ]
    assert len(planned) >= 20 and 0.25 <= planned.count(None) / len(planned) <= 0.4


def test_scope_added_mid_sprint_is_done_by_the_end_less_often(long_world: World) -> None:
    """Tickets added after a sprint started (urgent ones filed then, work pulled in) are done
    by its end date less often than the committed ones: added scope makes sprints miss."""
    tl, end = long_world.timeline, long_world.end
    done: dict[str, list[bool]] = {"committed": [], "added": []}
    for sprint in [*tl.sprints, *tl.cycles]:
        if sprint.ends_at > end:
            continue
        for ticket in tl.tickets:
            joined = next(
                (
                    c.at
                    for c in ticket.changes
                    if c.field == "sprint"
                    and c.new
                    and sprint.id in c.new
                    and c.at < sprint.ends_at
                ),
                None,
            )
            held = ticket.value_at("sprint", sprint.ends_at - timedelta(microseconds=1), ())
            if joined is None or sprint.id not in (held or ()):
                continue  # never in it, or taken out before its end (descoped, not missed)
            finished = ticket.status_at(sprint.ends_at) in ("Done", "Canceled")
            done["added" if joined > sprint.starts_at else "committed"].append(finished)
    assert len(done["added"]) >= 20 and len(done["committed"]) >= 50
    rate = {k: sum(v) / len(v) for k, v in done.items()}
    assert rate["added"] < rate["committed"] - 0.1, rate


def test_a_longer_history_is_not_a_bigger_warm_up(long_world: World) -> None:
    """The backlog a team has when the history starts does not grow with the history's length,
    so plans made in its first year are like those made later (they were not when a quarter of
    a three-year history's tickets were filed in its first hours: Linear cycles then missed
    every time in year one, a third of the time after)."""
    short = build_world(5, days=60)

    def filed(world: World, first: timedelta) -> int:
        return sum(
            1
            for t in world.timeline.tickets
            if t.created_at < world.start + first and t.kind != "Epic"
        )

    assert filed(long_world, timedelta(days=2)) <= 1.2 * filed(short, timedelta(days=2))


def test_teams_keep_planning_epics_with_due_dates(long_world: World) -> None:
    """Epics keep coming (one per team every EPIC_EVERY after its first three), each planned
    when its children are filed, so epics settle throughout a history, not only early."""
    truth = long_world.ground_truth()
    settled = [_at(e["due_at"]) for e in truth["epics"] if e["missed"] is not None]
    middle = long_world.start + (long_world.end - long_world.start) / 2
    assert sum(d < middle for d in settled) >= 4 and sum(d >= middle for d in settled) >= 8
    missed = [e["missed"] for e in truth["epics"] if e["missed"] is not None]
    assert 0.2 < sum(missed) / len(missed) < 0.8
