"""The shared HTTP layer and the landing zone, against the sandbox on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.sandbox import Faults, Sandbox, SandboxServer
from resources.http import ApiError, HttpClient, RequestStats

AUTH = {"Authorization": "Bearer sandbox"}


def test_link_pagination_reads_every_pull_request_once(world):
    repo = world.github_repos()[0]
    expected = {p["number"] for p in world.github_pulls(repo, world.end)}
    with (
        SandboxServer(Sandbox(world)) as server,
        HttpClient(f"{server.url}/github", headers=AUTH) as client,
    ):
        pages = list(
            client.paginate_link(f"/repos/{repo}/pulls", params={"state": "all", "per_page": 7})
        )
    numbers = [p["number"] for page in pages for p in page.data]
    assert len(pages) == -(-len(expected) // 7)
    assert sorted(numbers) == sorted(expected)


def test_an_unchanged_first_page_costs_one_conditional_request(world):
    repo = world.github_repos()[0]
    stats = RequestStats()
    with (
        SandboxServer(Sandbox(world)) as server,
        HttpClient(f"{server.url}/github", headers=AUTH, stats=stats) as client,
    ):
        first = client.get(f"/repos/{repo}/pulls", params={"state": "all"})
        again = client.get(f"/repos/{repo}/pulls", params={"state": "all"}, etag=first.etag)
    assert first is not None and first.etag
    assert again is None
    assert (stats.requests, stats.not_modified) == (2, 1)


def test_jira_offset_pagination_honours_total(world):
    # Issue changelogs still page by startAt/total (issue search pages by token).
    key, histories = max(
        (
            (i["key"], world.jira_issue_changelog(i["key"], world.end))
            for i in world.jira_issues(world.end)
        ),
        key=lambda pair: len(pair[1]),
    )
    with (
        SandboxServer(Sandbox(world)) as server,
        HttpClient(f"{server.url}/jira", headers=AUTH) as client,
    ):
        pages = list(
            client.paginate_offset(
                f"/rest/api/3/issue/{key}/changelog", items_key="values", page_size=3
            )
        )
    ids = [h["id"] for page in pages for h in page.data["values"]]
    assert len(pages) == -(-len(histories) // 3) > 1
    assert ids == [h["id"] for h in histories]
    assert pages[0].data["total"] == len(histories)


def test_rate_limits_and_bad_gateways_are_waited_out_not_failed(world):
    repo = world.github_repos()[0]
    faults = Faults(error_rate=0.5, error_kinds=("429", "502"), retry_after_s=0, seed=3)
    stats = RequestStats()
    waits: list[float] = []
    with SandboxServer(Sandbox(world, faults=faults)) as server:
        client = HttpClient(
            f"{server.url}/github", headers=AUTH, stats=stats, max_attempts=20, sleep=waits.append
        )
        pages = list(
            client.paginate_link(f"/repos/{repo}/pulls", params={"state": "all", "per_page": 10})
        )
        client.close()
    numbers = sorted(p["number"] for page in pages for p in page.data)
    assert numbers == sorted(p["number"] for p in world.github_pulls(repo, world.end))
    assert stats.retries > 0 and len(waits) == stats.retries


def test_landing_the_same_versions_twice_adds_nothing(tmp_path):
    store = LandingStore(tmp_path / "landing")
    records = [
        FetchedRecord(
            "pulls", "acme/api", f"acme/api#{n}", "2026-09-01T10:00:00Z", {"number": n}, "u"
        )
        for n in range(5)
    ]
    at = datetime(2026, 9, 2, tzinfo=UTC)
    assert store.append(landing_frame("github", records, fetched_at=at)).height == 5
    assert store.append(landing_frame("github", records, fetched_at=at)).height == 0
    changed = [
        FetchedRecord(
            "pulls",
            "acme/api",
            "acme/api#1",
            "2026-09-03T10:00:00+0200",
            {"number": 1, "x": 1},
            "u",
        )
    ]
    assert store.append(landing_frame("github", changed, fetched_at=at)).height == 1
    latest = store.latest(source="github").sort("record_id")
    assert latest.height == 5
    assert latest.filter(pl.col("record_id") == "acme/api#1").get_column(
        "updated_at"
    ).item() == datetime(2026, 9, 3, 8, tzinfo=UTC)


def test_a_secondary_rate_limit_403_with_retry_after_is_waited_out(world):
    """GitHub answers a secondary rate limit with 403, not 429, and a ``Retry-After``."""
    repo = world.github_repos()[0]
    faults = Faults(error_rate=0.5, error_kinds=("403",), retry_after_s=7, seed=3)
    stats = RequestStats()
    waits: list[float] = []
    with SandboxServer(Sandbox(world, faults=faults)) as server:
        client = HttpClient(
            f"{server.url}/github", headers=AUTH, stats=stats, max_attempts=20, sleep=waits.append
        )
        pages = list(
            client.paginate_link(f"/repos/{repo}/pulls", params={"state": "all", "per_page": 10})
        )
        client.close()
    numbers = sorted(p["number"] for page in pages for p in page.data)
    assert numbers == sorted(p["number"] for p in world.github_pulls(repo, world.end))
    assert stats.retries > 0 and waits == [7.0] * stats.retries
    assert stats.rate_limit_wait_s == 7.0 * stats.retries


def _mocked_client(
    answer: Callable[[httpx.Request], httpx.Response], stats: RequestStats, waits: list[float]
) -> HttpClient:
    """An HttpClient whose transport is ``answer``, for responses the sandbox does not make."""
    client = HttpClient("https://api.github.test", stats=stats, sleep=waits.append)
    client._client = httpx.Client(base_url=client.base_url, transport=httpx.MockTransport(answer))
    return client


def test_a_403_with_an_exhausted_quota_waits_until_the_reset():
    """GitHub's primary limit: 403 with ``X-RateLimit-Remaining: 0`` and no ``Retry-After``."""
    reset = int(time.time()) + 30
    answers = iter(
        [
            httpx.Response(
                403,
                json={"message": "API rate limit exceeded"},
                headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            ),
            httpx.Response(200, json=[{"number": 1}]),
        ]
    )
    stats, waits = RequestStats(), []
    with _mocked_client(lambda request: next(answers), stats, waits) as client:
        page = client.get("/repos/acme/api/pulls")
    assert page is not None and page.data == [{"number": 1}]
    assert len(waits) == stats.retries == 1 and 20 < waits[0] <= 30
    assert stats.rate_limit_wait_s == waits[0]


def test_a_403_that_is_not_a_rate_limit_fails_without_retrying():
    """A 403 with no quota header and no ``Retry-After`` is a permission error, not a wait."""
    stats, waits = RequestStats(), []

    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "Resource not accessible by integration"})

    with (
        _mocked_client(forbidden, stats, waits) as client,
        pytest.raises(ApiError, match="403"),
    ):
        client.get("/repos/acme/api/pulls")
    assert (stats.requests, stats.retries, waits) == (1, 0, [])
