"""GitHub REST connector against the GitHub sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flowsync_pipelines.sandbox import Faults
from flowsync_pipelines.simulator import World
from resources.github import ENDPOINTS
from tests.connector_contract import ConnectorContract, Records, versions


def cursor(repo: str, endpoint: str) -> str:
    """The contract's scope of a record: the (repository, endpoint) cursor it advances."""
    return f"{repo} {endpoint}"


def _ancestry(graph: dict[str, list[str]], sha: str) -> set[str]:
    seen, stack = set(), [sha]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph.get(current, []))
    return seen


def commit_watermarks(commits: list[dict[str, Any]]) -> dict[str, str]:
    """When each default-branch commit became visible to ``since``-filtered listing.

    A commit is listed by its committer date; one committed on a branch is re-read through the
    compare of the merge that brought it in, so it moves with that merge's committer date.
    """
    graph = {c["sha"]: [p["sha"] for p in c["parents"]] for c in commits}
    marks = {c["sha"]: c["commit"]["committer"]["date"] for c in commits}
    for merge in commits:
        parents = graph[merge["sha"]]
        for other in parents[1:]:
            for sha in _ancestry(graph, other) - _ancestry(graph, parents[0]):
                if sha in marks:
                    marks[sha] = max(marks[sha], marks[merge["sha"]])
    return marks


class TestGitHubConnector(ConnectorContract):
    tool = "github"

    def expected(self, world: World, as_of: datetime) -> Records:
        records: Records = {}
        for repo in world.github_repos():
            for pull in world.github_pulls(repo, as_of):
                watermark = pull["updated_at"]  # reviews are re-read when their PR changes
                records["pulls", f"{repo}#{pull['number']}"] = (
                    pull,
                    watermark,
                    cursor(repo, "pulls"),
                )
                for review in world.github_reviews(repo, pull["number"], as_of):
                    key = f"{repo}#{pull['number']}/reviews/{review['id']}"
                    records["reviews", key] = (review, watermark, cursor(repo, "pulls"))
            for issue in world.github_issues(repo, as_of):
                if "pull_request" in issue:
                    continue  # the issues list holds pull requests too; they are read as pulls
                records["issues", f"{repo}#{issue['number']}"] = (
                    issue,
                    issue["updated_at"],
                    cursor(repo, "issues"),
                )
            commits = world.github_commits(repo, as_of)
            marks = commit_watermarks(commits)
            for commit in commits:
                for run in world.github_check_runs(repo, commit["sha"], as_of):
                    # A check run moves when it finishes; its commit's checks are re-read then.
                    records["check_runs", f"{repo}/check-runs/{run['id']}"] = (
                        run,
                        run["completed_at"] or run["started_at"],
                        cursor(repo, "check_runs"),
                    )
            for commit in commits:
                # Commits land as their detail (``/commits/{sha}``): with the files they changed.
                records["commits", f"{repo}@{commit['sha']}"] = (
                    world.github_commit(repo, commit["sha"], as_of),
                    marks[commit["sha"]],
                    cursor(repo, "commits"),
                )
            for run in world.github_workflow_runs(repo, as_of):
                records["workflow_runs", f"{repo}/actions/runs/{run['id']}"] = (
                    run,
                    run["updated_at"],
                    cursor(repo, "workflow_runs"),
                )
            for deployment in world.github_deployments(repo, as_of):
                key = f"{repo}/deployments/{deployment['id']}"
                watermark = deployment["updated_at"]  # statuses are re-read with their deployment
                records["deployments", key] = (deployment, watermark, cursor(repo, "deployments"))
                for status in world.github_deployment_statuses(repo, deployment["id"], as_of):
                    records["deployment_statuses", f"{key}/statuses/{status['id']}"] = (
                        status,
                        watermark,
                        cursor(repo, "deployments"),
                    )
            for release in world.github_releases(repo, as_of):
                # No update time to filter on: every sync that sees the list change re-reads it.
                records["releases", f"{repo}/releases/{release['id']}"] = (
                    release,
                    None,
                    cursor(repo, "releases"),
                )
        return records

    def test_every_kind_of_the_world_is_expected(self, world):
        kinds = {kind for kind, _ in self.expected(world, world.end)}
        assert kinds == {
            "pulls",
            "reviews",
            "issues",
            "commits",
            "check_runs",
            "workflow_runs",
            "deployments",
            "deployment_statuses",
            "releases",
        }

    def test_a_no_change_sync_is_one_304_per_repository_and_endpoint(self, make, world):
        deployment = make()
        deployment.sync()
        report, stats = deployment.sync()
        pairs = {(e["scope"], e["endpoint"]) for e in report.endpoints}
        assert pairs == {(repo, ep) for repo in world.github_repos() for ep in ENDPOINTS}
        assert stats.requests == stats.not_modified == len(pairs)
        assert report.landed == 0

    def test_commits_merged_with_old_committer_dates_are_caught_incrementally(self, make, world):
        """``since`` filters on committer date; a merge's branch commits come via compare."""
        before = world.end - timedelta(days=5)
        deployment = make(as_of=before)
        deployment.sync()
        deployment.server.sandbox.set_clock(world.end)
        deployment.sync()
        landed = {key for key in deployment.landed() if key[0] == "commits"}
        late = {
            ("commits", f"{repo}@{c['sha']}")
            for repo in world.github_repos()
            for c in world.github_commits(repo, world.end)
            if c["commit"]["committer"]["date"] < before.strftime("%Y-%m-%dT%H:%M:%SZ")
            and c["sha"] not in {o["sha"] for o in world.github_commits(repo, before)}
        }
        assert late, "the world should merge branch commits older than the cursor"
        assert late <= landed

    def test_secondary_rate_limits_are_waited_out(self, make, world):
        faults = Faults(error_rate=0.2, error_kinds=("403",), retry_after_s=0, seed=5)
        deployment = make(faults=faults)
        _, stats = deployment.sync(max_attempts=15, page_size=self.fault_page_size)
        assert stats.retries > 0
        assert deployment.landed() == versions(self.expected(world, world.end))
