"""Jira Cloud connector against the Jira sandbox."""

from __future__ import annotations

from datetime import datetime

from flowsync_pipelines.sandbox.jira import embed_changelog_at_most
from flowsync_pipelines.simulator import World
from resources.jira import board_scope
from tests.connector_contract import ConnectorContract, Records, versions

BOARD_ID = 1  # world.config() points the Jira source at this board


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
