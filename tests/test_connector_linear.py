"""Linear GraphQL connector against the Linear sandbox, and the Linear quirks it handles."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from flowsync_pipelines.ingest import run_sync
from flowsync_pipelines.landing import tombstone
from flowsync_pipelines.sandbox import Faults
from flowsync_pipelines.sandbox.linear import request_budget
from flowsync_pipelines.simulator import World
from flowsync_pipelines.simulator.clock import iso_ms_z
from resources.http import ApiError, Page, RequestStats
from resources.linear import CONNECTIONS
from tests.connector_contract import ConnectorContract, Records, versions


def linear_teams(world: World) -> list[str]:
    entry = next(s for s in world.config({"linear": "-"})["sources"] if s["type"] == "linear")
    return list(entry["scopes"]["teams"])


class TestLinearConnector(ConnectorContract):
    tool = "linear"
    conditional = False  # Linear has no ETag: a no-change sync is one small query per connection

    def expected(self, world: World, as_of: datetime) -> Records:
        records: Records = {}
        issues = world.linear_issues(as_of)
        team_of_issue = {i["id"]: i["team"]["key"] for i in issues}
        for team in linear_teams(world):
            for issue in issues:
                if issue["team"]["key"] == team:
                    records["issues", issue["id"]] = (issue, issue["updatedAt"], f"{team}/issues")
                    if issue["archivedAt"]:
                        gone = tombstone(
                            "issues",
                            team,
                            issue["id"],
                            deleted_at=issue["archivedAt"],
                            reason="archived",
                            request="",
                        )
                        records[gone.kind, gone.record_id] = (gone.payload, None, "tombstones")
            for comment in world.linear_comments(as_of):
                if team_of_issue.get(comment["issue"]["id"]) == team:
                    mark = comment["updatedAt"]
                    records["comments", comment["id"]] = (comment, mark, f"{team}/comments")
            for cycle in world.linear_cycles(as_of):
                if cycle["team"]["key"] == team:
                    # Cycles carry no updatedAt (progress is computed): re-read every sync.
                    records["cycles", cycle["id"]] = (cycle, None, f"{team}/cycles")
            for project in world.linear_projects(as_of):
                if team in {t["key"] for t in project["teams"]["nodes"]}:
                    mark = project["updatedAt"]
                    records["projects", project["id"]] = (project, mark, f"{team}/projects")
        return records

    # -- the Linear quirks ------------------------------------------------------------------

    def test_an_archived_issue_lands_with_its_archival_and_a_tombstone(self, make, world):
        issue = world.linear_issues(world.end)[3]
        archived_at = iso_ms_z(world.end - timedelta(hours=2))
        faults = Faults(
            malformed={
                f"linear:{issue['identifier']}": {
                    "archivedAt": archived_at,
                    "updatedAt": archived_at,
                }
            }
        )
        deployment = make(faults=faults)
        deployment.sync()
        assert landed_payloads(deployment, "issues")[issue["id"]]["archivedAt"] == archived_at
        assert landed_payloads(deployment, "tombstone") == {
            f"issues/{issue['id']}": {
                "kind": "issues",
                "record_id": issue["id"],
                "deleted_at": archived_at,
                "reason": "archived",
            }
        }

    def test_archived_nodes_are_hidden_unless_asked_for(self, make, world):
        issue = world.linear_issues(world.end)[0]
        stamp = iso_ms_z(world.end)
        faults = Faults(malformed={f"linear:{issue['identifier']}": {"archivedAt": stamp}})
        deployment = make(faults=faults)
        connector = deployment.connector(RequestStats())
        team = linear_teams(world)[0]
        variables: dict[str, Any] = {"filter": {"team": {"key": {"eq": team}}}, "first": 250}
        query = CONNECTIONS["issues"].query()

        def ids(include_archived: bool) -> set[str]:
            pages = connector.client.paginate_graphql(
                "/graphql",
                query=query,
                variables={**variables, "includeArchived": include_archived},
                connection=lambda data: data["issues"],
            )
            return {n["id"] for page in pages for n in page.data["data"]["issues"]["nodes"]}

        try:
            assert issue["id"] in ids(True)
            assert issue["id"] not in ids(False)
        finally:
            connector.client.close()

    def test_ratelimited_answers_are_waited_out_until_the_quota_resets(self, make, world):
        deployment = make()
        budget = request_budget(deployment.server.sandbox)
        budget.limit, budget.window_s = 3, 1.0
        report, stats = deployment.sync()
        assert stats.retries > 0 and stats.rate_limit_wait_s > 0
        assert deployment.landed() == versions(self.expected(world, world.end))
        assert report.landed == len(self.expected(world, world.end))

    def test_a_rejected_query_fails_with_linears_message(self, make):
        deployment = make()
        with pytest.raises(ApiError, match="first must be between 1 and 250"):
            deployment.sync(page_size=500)
        connector = deployment.connector(RequestStats())
        try:
            with pytest.raises(ApiError, match=r"Cannot query field .*teams"):
                list(
                    connector.client.paginate_graphql(
                        "/graphql",
                        query="query { teams { nodes { id } } }",
                        variables={},
                        connection=lambda data: data["teams"],
                    )
                )
        finally:
            connector.client.close()

    def test_graphql_errors_in_a_200_body_stop_the_sync_with_their_message(self, make):
        deployment = make()
        connector = deployment.connector(RequestStats())
        errors = [{"message": "Entity not found: Team", "extensions": {"code": "INVALID_INPUT"}}]
        connector.client.post = lambda url, json: Page(
            url=url,
            data={"data": None, "errors": errors},
            etag=None,
            last_modified=None,
            headers={},
        )
        try:
            with pytest.raises(ApiError, match="Entity not found: Team"):
                run_sync(connector, deployment.landing, deployment.metadata)
        finally:
            connector.client.close()
        assert deployment.landed() == {}


def landed_payloads(deployment: Any, kind: str) -> dict[str, Any]:
    """Newest landed payload of each record of one kind, by record id."""
    rows = deployment.landing.latest(source="linear", kind=kind)
    return {r["record_id"]: json.loads(r["payload"]) for r in rows.iter_rows(named=True)}
