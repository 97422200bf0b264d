"""Jira Cloud connector against the Jira sandbox."""

from __future__ import annotations

from datetime import datetime

from flowsync_pipelines.simulator import World
from tests.connector_contract import ConnectorContract, Records


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
        return records
