"""Sentry connector against the Sentry sandbox, and the Sentry quirks it handles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import polars as pl

from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.simulator import World
from resources.http import Page, _retry_after_seconds
from resources.sentry import next_cursor
from tests.connector_contract import ConnectorContract, Records


def sentry_scopes(world: World) -> dict[str, Any]:
    entry = next(s for s in world.config({"sentry": "-"})["sources"] if s["type"] == "sentry")
    return dict(entry["scopes"])


def deploy_activity(release: dict[str, Any]) -> str:
    """When the release's deploys last changed: created, last deploy started or finished."""
    last = release["lastDeploy"] or {}
    stamps = [release["dateCreated"], last.get("dateStarted"), last.get("dateFinished")]
    return max((s for s in stamps if s), key=lambda s: datetime.fromisoformat(s))


class TestSentryConnector(ConnectorContract):
    tool = "sentry"
    conditional = False  # Sentry sends no ETag: a no-change sync is one list request per endpoint

    def expected(self, world: World, as_of: datetime) -> Records:
        records: Records = {}
        for project in sentry_scopes(world)["projects"]:
            for issue in world.sentry_issues(project, as_of):
                # The latest event changes only with lastSeen: it is re-read with its issue.
                mark, scope = issue["lastSeen"], f"{project}/issues"
                records["issues", issue["id"]] = (issue, mark, scope)
                if event := world.sentry_latest_event(issue["id"], as_of):
                    records["latest_events", issue["id"]] = (event, mark, scope)
                if issue["status"] == "resolved":  # the details date the resolution
                    details = world.sentry_issue_details(issue["id"], as_of)
                    records["issue_details", issue["id"]] = (details, mark, scope)
            for release in world.sentry_releases(project, as_of):
                # Releases have no updated filter: the list is re-read whole every sync.
                version, scope = release["version"], f"{project}/releases"
                records["releases", version] = (release, None, scope)
                for deploy in world.sentry_deploys(version, as_of):
                    key = f"{version}/deploys/{deploy['id']}"
                    records["deploys", key] = (deploy, deploy_activity(release), scope)
        return records

    # -- the Sentry quirks ------------------------------------------------------------------

    def test_results_false_ends_paging_so_a_full_sync_costs_the_floor(self, make, world):
        page_size = 7
        deployment = make()
        _, stats = deployment.sync(page_size=page_size)
        floor = 0
        for project in sentry_scopes(world)["projects"]:
            issues = world.sentry_issues(project, world.end)
            releases = world.sentry_releases(project, world.end)
            floor += -(-len(issues) // page_size) + len(issues)  # pages + one latest event each
            floor += sum(i["status"] == "resolved" for i in issues)  # + details of the resolved
            floor += -(-len(releases) // page_size) + len(releases)  # pages + deploys of each
        assert stats.requests == floor

    def test_the_issue_list_is_asked_for_every_status(self, make, world):
        deployment = make()
        deployment.sync()
        landed = deployment.landed()
        statuses = {
            issue["status"]
            for project in sentry_scopes(world)["projects"]
            for issue in world.sentry_issues(project, world.end)
            if ("issues", issue["id"]) in landed
        }
        assert {"resolved", "unresolved"} <= statuses

    def test_every_resolved_issue_is_restored_at_the_time_the_world_resolved_it(self, make, world):
        deployment = make()
        deployment.sync()
        result = normalise(deployment.landing.latest(source="sentry"), pseudonym_key="k")
        restored = dict(
            result.signals.filter(pl.col("action") == "resolved")
            .select(pl.col("entity_id").str.split("/").list.last(), "occurred_at")
            .iter_rows()
        )
        truth = {
            i.id: i.resolved_at
            for i in world.timeline.sentry_issues
            if i.resolved_at is not None and i.resolved_at <= world.end
        }
        assert len(truth) >= 5
        assert restored == truth


def _page(link: str) -> Page:
    return Page(url="", data=[], etag=None, last_modified=None, headers={"link": link})


def test_next_cursor_follows_results_true_and_stops_at_results_false():
    base = "https://sentry.io/api/0/projects/acme/api/issues/?query=&cursor="
    more = (
        f'<{base}1735689600000:0:1>; rel="previous"; results="false"; cursor="1735689600000:0:1", '
        f'<{base}1735689600000:100:0>; rel="next"; results="true"; cursor="1735689600000:100:0"'
    )
    last = (
        f'<{base}1735689500000:0:1>; rel="previous"; results="true"; cursor="1735689500000:0:1", '
        f'<{base}1735689400000:1:0>; rel="next"; results="false"; cursor="1735689400000:1:0"'
    )
    assert next_cursor(_page(more)) == "1735689600000:100:0"
    assert next_cursor(_page(last)) is None
    assert next_cursor(_page("")) is None


def test_an_exhausted_sentry_quota_is_waited_out_until_its_reset():
    now = 1_800_000_000.0
    exhausted = httpx.Response(
        429,
        headers={
            "X-Sentry-Rate-Limit-Limit": "40",
            "X-Sentry-Rate-Limit-Remaining": "0",
            "X-Sentry-Rate-Limit-Reset": str(int(now) + 7),
            "X-Sentry-Rate-Limit-ConcurrentRemaining": "0",
        },
    )
    assert _retry_after_seconds(exhausted, now) == 7.0
    spare = httpx.Response(
        200, headers={"X-Sentry-Rate-Limit-Remaining": "3", "X-Sentry-Rate-Limit-Reset": "1"}
    )
    assert _retry_after_seconds(spare, now) is None
