"""GitLab REST connector against the GitLab sandbox: the contract, then GitLab's quirks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from flowsync_pipelines.ingest import OVERLAP
from flowsync_pipelines.landing import TOMBSTONE
from flowsync_pipelines.sandbox import Faults
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.simulator import World
from resources.gitlab import gitlab_time
from tests.connector_contract import ConnectorContract, Records, versions


def _gitlab_records(world: World, as_of: datetime) -> Records:
    """Every record the world holds for GitLab at ``as_of``, keyed as the connector lands them.

    The scope of each record is the cursor it advances: one per project *and* endpoint. A child
    (approvals, notes, jobs) carries its parent's ``updated_at`` as its watermark, since it is
    re-read exactly when its parent changes.
    """
    records: Records = {}
    for project in world.gitlab_projects():
        project_id, path = project["id"], project["path_with_namespace"]
        scope = f"{path}/merge_requests"
        for mr in world.gitlab_merge_requests(project_id, as_of):
            iid, mark = mr["iid"], mr["updated_at"]
            records["merge_requests", f"{path}!{iid}"] = (mr, mark, scope)
            approvals = world.gitlab_mr_approvals(project_id, iid, as_of)
            records["approvals", f"{path}!{iid}/approvals"] = (approvals, mark, scope)
            for note in world.gitlab_mr_notes(project_id, iid, as_of):
                records["notes", f"{path}!{iid}/notes/{note['id']}"] = (note, mark, scope)
        scope = f"{path}/pipelines"
        for pipeline in world.gitlab_pipelines(project_id, as_of):
            record_id, mark = f"{path}/pipelines/{pipeline['id']}", pipeline["updated_at"]
            records["pipelines", record_id] = (pipeline, mark, scope)
            for job in world.gitlab_jobs(project_id, pipeline["id"], as_of):
                records["jobs", f"{record_id}/jobs/{job['name']}"] = (job, mark, scope)
        for deployment in world.gitlab_deployments(project_id, as_of):
            key = f"{path}/deployments/{deployment['id']}"
            records["deployments", key] = (deployment, deployment["updated_at"], f"{path}/dep")
        for issue in world.gitlab_issues(project_id, as_of):
            key = f"{path}#{issue['iid']}"
            records["issues", key] = (issue, issue["updated_at"], f"{path}/issues")
        for commit in world.gitlab_commits(project_id, as_of):
            key = f"{path}@{commit['id']}"
            # Each commit lands with its diff (``…/commits/:sha/diff``): the files it changed.
            detailed = {**commit, "diff": world.gitlab_commit_diff(project_id, commit["id"], as_of)}
            records["commits", key] = (detailed, commit["committed_date"], f"{path}/commits")
    return records


class TestGitLabConnector(ConnectorContract):
    tool = "gitlab"

    def expected(self, world: World, as_of: datetime) -> Records:
        return _gitlab_records(world, as_of)

    # -- GitLab's quirks ------------------------------------------------------------------------
    def test_commits_merged_with_old_committer_dates_land_in_the_incremental_sync(
        self, make, world
    ):
        """A merge brings in branch commits dated days before it: ``since`` would miss them."""
        before = world.end - timedelta(days=5)
        stale = {
            f"{project['path_with_namespace']}@{commit['id']}"
            for project in world.gitlab_projects()
            for commit in world.gitlab_commits(project["id"], world.end)
            if commit not in world.gitlab_commits(project["id"], before)
            and datetime.fromisoformat(commit["committed_date"]) < before - OVERLAP
        }
        assert stale, "the world merges no old-dated branch commit in the window"
        deployment = make(as_of=before)
        deployment.sync()
        deployment.server.sandbox.set_clock(world.end)
        deployment.sync()
        assert stale <= {record for kind, record in deployment.landed() if kind == "commits"}

    def test_a_moved_issue_lands_with_a_tombstone(self, make, world):
        project = world.gitlab_projects()[0]
        path, issue = (
            project["path_with_namespace"],
            world.gitlab_issues(project["id"], world.end)[0],
        )
        record_id = f"{path}#{issue['iid']}"
        moved = {"state": "closed", "moved_to_id": 4242, "closed_at": issue["updated_at"]}
        deployment = make(faults=Faults(malformed={f"gitlab:{record_id}": moved}))
        deployment.sync()
        tombstones = deployment.landing.latest(source="gitlab", kind=TOMBSTONE)
        assert tombstones.get_column("record_id").to_list() == [f"issues/{record_id}"]
        assert '"reason":"moved to issue id 4242"' in tombstones.get_column("payload")[0]
        assert ("issues", record_id) in deployment.landed()

    def test_a_merge_request_deleted_while_syncing_lands_a_tombstone(
        self, make, world, monkeypatch
    ):
        project = world.gitlab_projects()[0]
        path, project_id = project["path_with_namespace"], project["id"]
        iid = world.gitlab_merge_requests(project_id, world.end)[-1]["iid"]
        deployment = make()
        sandbox = deployment.server.sandbox
        listed = sandbox.rendered

        def deleted_after_listing(name: str, *args: Any) -> Any:
            # The list still shows it; its approvals (read next) answer 404, as after a delete.
            return (
                {}
                if (name, *args) == ("gitlab_mr_approvals", project_id, iid)
                else listed(name, *args)
            )

        monkeypatch.setattr(sandbox, "rendered", deleted_after_listing)
        deployment.sync()
        landed = deployment.landed()
        assert (TOMBSTONE, f"merge_requests/{path}!{iid}") in landed
        assert ("merge_requests", f"{path}!{iid}") in landed
        assert not any(r.startswith(f"{path}!{iid}/") for kind, r in landed if kind == "notes")

    def test_a_retried_job_is_the_next_version_of_its_pipeline_job(self, make, world):
        """A retry gets a new job id and GitLab hides the old job; keyed by name it replaces it."""
        run = next(
            r for r in world.timeline.ci_runs if r.system == "gitlab" and len(r.attempts) > 1
        )
        first, retry = run.attempts
        project_id = next(
            p["id"] for p in world.gitlab_projects() if p["path_with_namespace"] == run.repo
        )
        record_id = f"{run.repo}/pipelines/{run.id}/jobs/unit-tests"
        between = first.finished_at + (retry.started_at - first.finished_at) / 2
        deployment = make(as_of=between)
        deployment.sync()
        deployment.server.sandbox.set_clock(world.end)
        deployment.sync()

        def unit_tests(as_of: datetime) -> dict[str, Any]:
            jobs = world.gitlab_jobs(project_id, run.id, as_of)
            return next(job for job in jobs if job["name"] == "unit-tests")

        landed = deployment.landing.scan("gitlab", "jobs").filter(record_id=record_id).collect()
        job_ids = {json.loads(payload)["id"] for payload in landed.get_column("payload")}
        assert job_ids == {unit_tests(between)["id"], unit_tests(world.end)["id"]}
        latest = deployment.landing.latest(source="gitlab", kind="jobs")
        payload = latest.filter(record_id=record_id).get_column("payload")[0]
        assert json.loads(payload) == unit_tests(world.end)

    def test_projects_configured_by_path_alone_are_read_by_url_encoded_path(self, make, world):
        deployment = make()
        report, _ = deployment.sync(project_ids={})
        assert deployment.landed() == versions(self.expected(world, world.end))
        assert report.landed > 0

    def test_the_sandbox_speaks_gitlab_pagination_filters_and_auth(self, make, world):
        deployment = make()
        project = world.gitlab_projects()[0]
        url = f"{deployment.server.url}/gitlab/api/v4/projects/{project['id']}/merge_requests"
        merge_requests = world.gitlab_merge_requests(project["id"], world.end)
        after = sorted(mr["updated_at"] for mr in merge_requests)[-7]
        token = {"PRIVATE-TOKEN": "glpat-sandbox"}
        query = {"updated_after": after, "order_by": "updated_at", "sort": "asc", "per_page": 5}

        first = httpx.get(url, params=query, headers=token)
        assert first.status_code == 200
        assert [mr["updated_at"] for mr in first.json()] == sorted(
            mr["updated_at"] for mr in merge_requests if mr["updated_at"] >= after
        )[:5]
        headers = first.headers
        assert (headers["x-total"], headers["x-total-pages"], headers["x-next-page"]) == (
            "7",
            "2",
            "2",
        )
        assert 'rel="next"' in headers["link"] and "page=2" in headers["link"]
        assert int(headers["ratelimit-remaining"]) < int(headers["ratelimit-limit"])
        second = httpx.get(headers["link"].split(">")[0].lstrip("<"), headers=token)
        assert len(second.json()) == 2 and second.headers["x-next-page"] == ""
        repeat = httpx.get(url, params=query, headers={**token, "If-None-Match": headers["etag"]})
        assert repeat.status_code == 304
        assert httpx.get(url, params=query).status_code == 401
        bad = httpx.get(url, params={"per_page": "many"}, headers=token)
        assert (bad.status_code, bad.json()) == (400, {"error": "per_page is invalid"})


@pytest.mark.parametrize(
    ("stamp", "utc"),
    [
        ("2026-09-03T10:15:30.123Z", "2026-09-03T10:15:30.123000+00:00"),  # REST
        ("2026-09-03T12:15:30.000+02:00", "2026-09-03T10:15:30+00:00"),  # git date, own offset
        ("2026-09-03 10:15:30 UTC", "2026-09-03T10:15:30+00:00"),  # webhooks
        ("2026-09-03 12:15:30 +0200", "2026-09-03T10:15:30+00:00"),  # system hooks
        ("2026-09-03T05:15:30-05:00", "2026-09-03T10:15:30+00:00"),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_gitlab_time_reads_every_format_gitlab_writes(stamp, utc):
    assert gitlab_time(stamp) == utc


def test_normalised_times_order_by_instant_not_by_text():
    # As text, "…T11:30…+02:00" sorts after "…T10:00…Z" although it is half an hour earlier.
    earlier, later = "2026-09-03T11:30:00.000+02:00", "2026-09-03T10:00:00.000Z"
    assert gitlab_time(earlier) < gitlab_time(later)


def test_a_project_entry_without_a_path_is_rejected_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"'gl'.*scopes\.projects\.0.*has no 'path'.*group/name"):
        SourceConfig(name="gl", type="gitlab", scopes={"projects": [{"id": 7}]})
