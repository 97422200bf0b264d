"""CircleCI connector against the CircleCI sandbox: the contract, then CircleCI's quirks.

The demo organisation runs no CI on CircleCI; these tests use the demo world with its
``mobile-bff`` repository on CircleCI instead of GitHub Actions (everything else the same).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import polars as pl
import pytest

from flowsync_pipelines.ingest import utc_iso
from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.sandbox.circleci import PAGE_SIZE
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.simulator import World, build_world
from flowsync_pipelines.simulator.conventions import DEMO
from resources.circleci import is_settled
from resources.http import ApiError
from tests.connector_contract import ConnectorContract, Records

KEY = "circleci-test-key"
SLUG = "gh/acme/mobile-bff"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(
        7, conventions=replace(DEMO, name="circleci", circleci_repos=("mobile-bff",))
    )


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(utc_iso(stamp))


def _summary(workflow: dict[str, Any]) -> dict[str, Any]:
    return {k: workflow.get(k) for k in ("id", "name", "status", "created_at")}


class TestCircleCIConnector(ConnectorContract):
    tool = "circleci"
    # CircleCI's API sends no ETag: a sync with nothing new is one read of each project's newest
    # pipelines (the contract still bounds it at one request per project), never a 304.
    conditional = False
    # Pipeline list, workflows and jobs of the first pipeline, then the crash.
    crash_after_requests = 3

    def expected(self, world: World, as_of: datetime) -> Records:
        """Pipelines, workflows (with their pipeline) and jobs (with both) at ``as_of``.

        Runs of a pipeline that has not settled have no watermark: they are read every sync.
        """
        records: Records = {}
        for slug in world.circleci_projects():
            pipelines = world.circleci_pipelines(slug, as_of)
            newest = max(_at(p["created_at"]) for p in pipelines)
            for pipeline in pipelines:
                key = f"{slug}/{pipeline['number']}"
                records["pipelines", key] = (pipeline, pipeline["created_at"], slug)
                workflows = world.circleci_workflows(pipeline["id"], as_of) or []
                mark = pipeline["created_at"] if is_settled(workflows, newest) else None
                for workflow in workflows:
                    workflow_key = f"{key}/workflows/{workflow['id']}"
                    records["workflows", workflow_key] = (
                        {**workflow, "pipeline": pipeline},
                        mark,
                        slug,
                    )
                    for job in world.circleci_jobs(workflow["id"], as_of) or []:
                        records["jobs", f"{workflow_key}/jobs/{job['name']}"] = (
                            {**job, "pipeline": pipeline, "workflow": _summary(workflow)},
                            mark,
                            slug,
                        )
        return records

    @staticmethod
    def _running_instant(world: World) -> tuple[dict[str, Any], datetime]:
        """A pipeline whose workflow was running at some instant, and that instant."""
        for pipeline in world.circleci_pipelines(SLUG, world.end):
            [first, *_] = world.circleci_workflows(pipeline["id"], world.end) or [None]
            if first and first["stopped_at"]:
                started, stopped = _at(first["created_at"]), _at(first["stopped_at"])
                return pipeline, started + (stopped - started) / 2
        raise AssertionError("no finished workflow in the world")

    def test_a_running_workflow_is_re_read_until_it_finishes(self, make, world):
        pipeline, midway = self._running_instant(world)
        deployment = make(as_of=midway)
        deployment.sync()
        workflows = deployment.landing.latest(source="circleci").filter(kind="workflows")
        mine = workflows.filter(
            pl.col("record_id").str.starts_with(f"{SLUG}/{pipeline['number']}/")
        )
        assert '"status":"running"' in mine.get_column("payload")[0]
        cursor, _ = deployment.metadata.sync_position("circleci", SLUG, "pipelines")
        assert cursor is None or cursor < utc_iso(pipeline["created_at"])

        deployment.server.sandbox.set_clock(midway + timedelta(hours=3))
        deployment.sync()
        latest = deployment.landing.latest(source="circleci").filter(kind="workflows")
        mine = latest.filter(pl.col("record_id").str.starts_with(f"{SLUG}/{pipeline['number']}/"))
        assert '"status":"running"' not in mine.get_column("payload")[0]
        cursor, _ = deployment.metadata.sync_position("circleci", SLUG, "pipelines")
        assert cursor >= utc_iso(pipeline["created_at"])

    def test_a_re_run_after_a_failure_lands_as_a_second_workflow_of_the_pipeline(self, make, world):
        rerun = next(
            (p, wfs)
            for p in world.circleci_pipelines(SLUG, world.end)
            if len(wfs := world.circleci_workflows(p["id"], world.end) or []) == 2
        )
        pipeline, (failed, passed) = rerun
        # Sync between the failure and the re-run: the failed pipeline is held, not passed.
        between = (
            _at(failed["stopped_at"]) + (_at(passed["created_at"]) - _at(failed["stopped_at"])) / 2
        )
        deployment = make(as_of=between)
        deployment.sync()
        deployment.server.sandbox.set_clock(world.end)
        deployment.sync()
        landed = deployment.landed()
        key = f"{SLUG}/{pipeline['number']}/workflows"
        assert ("workflows", f"{key}/{passed['id']}") in landed
        assert ("workflows", f"{key}/{failed['id']}") in landed

    def test_an_unknown_project_fails_with_a_message_naming_it_and_the_fix(self, make):
        deployment = make()
        deployment.source = SourceConfig.model_validate(
            {**deployment.source.model_dump(), "scopes": {"projects": ["gh/acme/no-such-repo"]}}
        )
        with pytest.raises(ApiError, match=r"'gh/acme/no-such-repo'.*scopes\.projects"):
            deployment.sync()

    def test_the_api_pages_by_token_newest_first_without_etags_and_wants_a_token(self, make, world):
        deployment = make()
        url = f"{deployment.server.url}/circleci/api/v2/project/{SLUG}/pipeline"
        assert httpx.get(url).status_code == 401
        numbers, token = [], None
        while True:
            params = {"page-token": token} if token else {}
            answer = httpx.get(url, params=params, headers={"Circle-Token": "t"})
            assert answer.status_code == 200 and "etag" not in answer.headers
            body = answer.json()
            assert len(body["items"]) <= PAGE_SIZE
            numbers += [p["number"] for p in body["items"]]
            token = body["next_page_token"]
            if token is None:
                break
        assert numbers == sorted(numbers, reverse=True)
        assert len(numbers) == len(world.circleci_pipelines(SLUG, world.end)) > PAGE_SIZE
        bad = httpx.get(url, params={"page-token": "nonsense"}, headers={"Circle-Token": "t"})
        assert bad.status_code == 400
        unknown = f"{deployment.server.url}/circleci/api/v2/pipeline/not-an-id/workflow"
        assert httpx.get(unknown, headers={"Circle-Token": "t"}).json() == {"message": "Not found."}


def test_polled_workflows_and_jobs_are_ci_runs_of_the_commit_branch_and_trigger(make_sync):
    result, world = make_sync
    assert result.quarantine.is_empty(), result.quarantine.to_dicts()
    runs = result.signals.filter(pl.col("source") == "circleci")
    assert set(runs.get_column("entity_type")) == {"ci_run"}
    workflows = runs.filter(pl.col("entity_id").str.starts_with("circleci:workflow/"))
    jobs = runs.filter(pl.col("entity_id").str.starts_with("circleci:job/"))
    assert workflows.height > 0 and jobs.height > workflows.height
    assert set(runs.get_column("repository")) == {"acme/mobile-bff"}
    assert runs.get_column("commit_sha").str.len_chars().min() == 40
    assert set(workflows.filter(action="completed").get_column("state")) == {"success", "failed"}
    assert runs.filter(pl.col("actor").is_null()).is_empty()
    assert set(runs.get_column("actor_kind")) <= {"human", "bot"}
    text = runs.write_json()
    logins = {p.accounts["github"] for p in world.people if "github" in p.accounts}
    assert not [login for login in logins if f'"{login}"' in text]
    first = workflows.sort("occurred_at").row(0, named=True)
    assert first["url"].startswith("https://app.circleci.com/pipelines/gh/acme/mobile-bff/")
    assert first["title"].startswith("build-and-test #")
    assert '"head_branch":' in first["attributes"]


@pytest.fixture(scope="module")
def make_sync(world: World, tmp_path_factory: pytest.TempPathFactory):
    from flowsync_pipelines.sandbox import Sandbox, SandboxServer
    from tests.connector_contract import Deployment

    with SandboxServer(Sandbox(world)) as server:
        deployment = Deployment("circleci", world, tmp_path_factory.mktemp("cci"), server)
        deployment.sync()
    landing = deployment.landing.scan("circleci").collect()
    return normalise(landing, pseudonym_key=KEY), world


def _github_records(world: World) -> list[FetchedRecord]:
    """The CircleCI repository's pull requests and commits as the GitHub connector lands them."""
    repo = "acme/mobile-bff"
    pulls = [
        FetchedRecord("pulls", repo, f"{repo}#{p['number']}", p["updated_at"], p, "world")
        for p in world.github_pulls(repo, world.end)
    ]
    commits = [
        FetchedRecord("commits", repo, f"{repo}@{c['sha']}", None, c, "world")
        for c in world.github_commits(repo, world.end)
    ]
    return pulls + commits


@pytest.fixture(scope="module")
def candidates(world: World, make_sync, tmp_path_factory: pytest.TempPathFactory):
    """The graph's CI-run link candidates over the CircleCI runs and the repository's records."""
    from flowsync_pipelines import warehouse
    from flowsync_pipelines.graph.inputs import load_inputs
    from flowsync_pipelines.graph.linking import prepare, propose
    from flowsync_pipelines.graph.spec import LINKS_BY_NAME
    from flowsync_pipelines.settings import FlowSyncConfig

    circleci, _ = make_sync
    github = normalise(
        landing_frame("github", _github_records(world), fetched_at=world.end), pseudonym_key=KEY
    )
    signals = pl.concat([circleci.signals, github.signals])
    config = FlowSyncConfig.model_validate(world.config({"github": "http://unused"}))
    root = tmp_path_factory.mktemp("cci-graph")
    with warehouse.connect(root / "warehouse.duckdb") as con:
        warehouse.insert_rows(con, "signals", signals)
        warehouse.run_sql(con, "current_state")
        prepare(con, load_inputs(con, config, KEY))
        return {name: propose(con, LINKS_BY_NAME[name]) for name in ("ci_commit", "ci_pr")}


def test_circleci_runs_are_candidates_for_the_commits_and_pull_requests_they_built(
    candidates, world
):
    renderer = world._circleci
    truth = {}
    for run in world.timeline.ci_runs:
        if run.system != "circleci":
            continue
        pull = next((p for p in world.timeline.pulls if p.key == run.pr_key), None)
        number = pull.number if pull is not None and run.branch != "main" else None
        for attempt in range(len(run.attempts)):
            truth[f"ci_run:circleci:workflow/{renderer.workflow_id(run, attempt)}"] = (
                run.sha,
                number,
            )
    commits = candidates["ci_commit"].filter(pl.col("src").is_in(list(truth)))
    assert commits.height == len(truth) > 0
    for src, dst in commits.select("src", "dst").rows():
        assert dst == f"commit:acme/mobile-bff@{truth[src][0]}"
    seen = commits.filter(pl.col("f_commit_seen") == 1.0)
    assert seen.height > 0  # merged commits are known from GitHub's own records
    by_branch = candidates["ci_pr"].filter(
        pl.col("src").is_in(list(truth)) & (pl.col("method") == "branch")
    )
    expected = {src: f"pull_request:acme/mobile-bff#{n}" for src, (_, n) in truth.items() if n}
    found = {src: dst for src, dst in by_branch.select("src", "dst").rows() if src in expected}
    assert len(found) > 0.9 * len(expected) > 0
    assert all(expected[src] == dst for src, dst in found.items())
