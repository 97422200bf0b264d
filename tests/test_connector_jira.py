"""Jira Cloud connector against the Jira sandbox."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from flowsync_pipelines.ingest import OVERLAP, utc_iso
from flowsync_pipelines.sandbox import Sandbox, SandboxServer
from flowsync_pipelines.sandbox.jira import (
    embed_changelog_at_most,
    lag_index,
    removed_search_calls,
)
from flowsync_pipelines.simulator import World
from resources.http import ApiError, HttpClient
from resources.jira import board_scope
from tests.connector_contract import ConnectorContract, Records, after_incremental, versions

BOARD_ID = 1  # world.config() points the Jira source at this board
AUTH = {"Authorization": "Bearer sandbox"}
SEARCH = "/rest/api/3/search/jql"


def _updated(issue: dict) -> datetime:
    return datetime.fromisoformat(utc_iso(issue["fields"]["updated"]))


def _issues_endpoint(report) -> dict:
    return next(e for e in report.endpoints if e["endpoint"] == "issues")


class TestJiraConnector(ConnectorContract):
    tool = "jira"
    conditional = False  # Jira search has no ETag: a no-change sync is one search per project

    def expected(self, world: World, as_of: datetime) -> Records:
        records: Records = {}
        for issue in world.jira_issues(as_of):
            issue = dict(issue)
            histories = world.jira_issue_changelog(issue["key"], as_of)
            issue["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(histories),
                "histories": histories,
            }
            project = issue["key"].split("-")[0]
            records["issues", issue["key"]] = (issue, issue["fields"]["updated"], project)
        board = board_scope(BOARD_ID)
        # Sprints and epics carry no update time: every sync re-reads them (watermark None).
        for sprint in world.jira_sprints(as_of):
            records["sprints", f"sprint/{sprint['id']}"] = (sprint, None, board)
        for epic in world.jira_epics(as_of):
            records["epics", epic["key"]] = (epic, None, board)
        return records

    def test_the_board_comes_from_the_source_config(self, make, world):
        deployment = make()
        assert deployment.source.board_id == world.jira_board()["id"] == BOARD_ID
        report, _ = deployment.sync()
        assert {(e["scope"], e["endpoint"]) for e in report.endpoints} == {
            (world.jira_project_key, "issues"),
            (board_scope(BOARD_ID), "sprints"),
            (board_scope(BOARD_ID), "epics"),
        }

    def test_changelogs_longer_than_search_embeds_are_paged_to_the_end(self, make, world):
        deployment = make()
        embed_changelog_at_most(deployment.server.sandbox, 5)
        page_size = 4  # changelog pages of 4, so a 10-history issue takes 3 requests
        report, stats = deployment.sync(page_size=page_size)
        assert deployment.landed() == versions(self.expected(world, world.end))
        long = [
            n
            for n in (
                len(world.jira_issue_changelog(i["key"], world.end))
                for i in world.jira_issues(world.end)
            )
            if n > 5
        ]
        assert long, "the world should have issues with more than five histories"
        changelog_requests = sum(-(-n // page_size) for n in long)
        issues = len(world.jira_issues(world.end))
        search_requests = -(-issues // page_size)
        agile_requests = -(-len(world.jira_sprints(world.end)) // page_size) + -(
            -len(world.jira_epics(world.end)) // page_size
        )
        assert stats.requests == search_requests + changelog_requests + agile_requests
        assert report.landed == len(self.expected(world, world.end))

    def test_syncs_never_call_the_removed_search_endpoint(self, make, world):
        # The sandbox answers the removed /rest/api/3/search with 410, which fails a sync; the
        # counter shows no request even tried it, on a full sync nor on an incremental one.
        before = world.end - timedelta(days=5)
        deployment = make(as_of=before)
        deployment.sync()
        deployment.server.sandbox.set_clock(world.end)
        deployment.sync()
        old, new = self.expected(world, before), self.expected(world, world.end)
        assert deployment.landed() == after_incremental(old, new)
        assert removed_search_calls(deployment.server.sandbox) == 0

    def test_search_pages_follow_next_page_token_to_the_last_page(self, make, world):
        deployment = make()
        page_size = 50
        _, stats = deployment.sync(page_size=page_size)
        issues = len(world.jira_issues(world.end))
        agile = -(-len(world.jira_sprints(world.end)) // page_size) + -(
            -len(world.jira_epics(world.end)) // page_size
        )
        assert issues > page_size
        assert stats.requests == -(-issues // page_size) + agile
        assert deployment.landed() == versions(self.expected(world, world.end))

    def test_an_issue_the_search_index_missed_lands_on_the_next_sync_through_the_overlap(
        self, make, world
    ):
        # Two issues last updated minutes apart: the index has caught up with the later one (Y)
        # but not yet with the earlier one (X), so the cursor moves past X's update.
        finals = sorted((_updated(i), i["key"]) for i in world.jira_issues(world.end))
        (t_x, x), (t_y, _) = min(
            (
                pair
                for pair in itertools.pairwise(finals)
                if timedelta(seconds=5) <= pair[1][0] - pair[0][0] < OVERLAP / 2
            ),
            key=lambda pair: pair[1][0] - pair[0][0],
        )
        as_of = t_y + timedelta(seconds=1)
        deployment = make(as_of=as_of)
        lag_index(deployment.server.sandbox, (as_of - t_x).total_seconds() + 30, keys={x})
        first, _ = deployment.sync()
        expected = versions(self.expected(world, as_of))
        assert ("issues", x) in expected
        assert deployment.landed() == {k: v for k, v in expected.items() if k != ("issues", x)}
        cursor = datetime.fromisoformat(_issues_endpoint(first)["cursor_after"])
        assert t_x < cursor < t_x + OVERLAP  # past X, but X is inside the overlap window

        lag_index(deployment.server.sandbox, 0)  # the index catches up; the clock stands still
        second, _ = deployment.sync()
        assert deployment.landed() == expected
        assert second.landed == 1


@pytest.fixture
def jira_client(world):
    server = SandboxServer(Sandbox(world)).start()
    client = HttpClient(f"{server.url}/jira", headers=AUTH)
    yield server, client
    client.close()
    server.stop()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_removed_search_endpoint_answers_410_with_atlassians_message(jira_client, method):
    server, client = jira_client
    jql = 'project = "PLAT"'
    with pytest.raises(ApiError) as gone:
        if method == "GET":
            client.get("/rest/api/3/search", params={"jql": jql})
        else:
            client.post("/rest/api/3/search", json={"jql": jql})
    assert gone.value.status_code == 410
    assert "Please migrate to the /rest/api/3/search/jql API" in str(gone.value)
    assert removed_search_calls(server.sandbox) == 1


def test_search_without_fields_returns_only_issue_ids_up_to_5000_a_page(jira_client, world):
    _, client = jira_client
    page = client.get(SEARCH, params={"jql": 'project = "PLAT"', "maxResults": 5000})
    assert page is not None
    issues = page.data["issues"]
    assert [set(i) for i in issues] == [{"id"}] * len(world.jira_issues(world.end))
    assert page.data["isLast"] is True and "nextPageToken" not in page.data
    assert "total" not in page.data and "startAt" not in page.data


def test_search_with_fields_caps_a_page_at_100_and_continues_by_token(jira_client, world):
    _, client = jira_client
    query = {"jql": 'project = "PLAT" ORDER BY updated ASC', "fields": "summary,updated"}
    first = client.get(SEARCH, params={**query, "maxResults": 5000})
    assert first is not None
    assert len(first.data["issues"]) == 100 and first.data["isLast"] is False
    assert set(first.data["issues"][0]["fields"]) == {"summary", "updated"}
    second = client.post(
        SEARCH,
        json={
            "jql": query["jql"],
            "fields": ["summary", "updated"],
            "maxResults": 5000,
            "nextPageToken": first.data["nextPageToken"],
        },
    )
    keys = [i["key"] for page in (first, second) for i in page.data["issues"]]
    assert len(keys) == len(set(keys)) == min(200, len(world.jira_issues(world.end)))


def test_search_refuses_an_unbounded_query_and_a_foreign_page_token(jira_client):
    _, client = jira_client
    with pytest.raises(ApiError) as unbounded:
        client.get(SEARCH, params={"jql": ""})
    assert unbounded.value.status_code == 400
    first = client.get(SEARCH, params={"jql": 'project = "PLAT"', "maxResults": 10})
    assert first is not None
    with pytest.raises(ApiError) as foreign:
        client.get(
            SEARCH,
            params={"jql": 'project = "OTHER"', "nextPageToken": first.data["nextPageToken"]},
        )
    assert foreign.value.status_code == 400
