"""The connector contract (issue 3's acceptance), run against each tool's sandbox on loopback.

A tool's test module subclasses :class:`ConnectorContract`, names the ``tool`` and says what the
simulated world holds for it (``expected``). Every behaviour below is then asserted for it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from flowsync_pipelines.ingest import OVERLAP, SyncReport, run_sync, utc_iso
from flowsync_pipelines.landing import LandingStore, canonical_json
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.sandbox import Faults, Sandbox, SandboxServer
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.simulator import World
from flowsync_pipelines.sources.registry import spec
from resources.http import BREAKERS, RequestStats

Versions = dict[tuple[str, str], str]  # (kind, record_id) -> payload sha256
# (kind, record_id) -> (payload, watermark, scope). The watermark is the update time the API lets
# an incremental sync filter on (for a child record, its parent's); the scope is the cursor it
# advances (repository, project, ...). A record whose payload changes while its watermark does not
# (GitHub re-embeds the repository's pushed_at in every pull request) is invisible to any
# incremental sync, and need not be re-landed.
Records = dict[tuple[str, str], tuple[Any, str | None, str]]


def versions(records: Records) -> Versions:
    return {
        key: hashlib.sha256(canonical_json(payload).encode()).hexdigest()
        for key, (payload, _, _) in records.items()
    }


def after_incremental(old: Records, new: Records) -> Versions:
    """What landing should hold after syncing ``old`` and then incrementally ``new``.

    A record is re-read when it is new, when its watermark moved, or when its watermark falls in
    the overlap window behind its scope's cursor.
    """
    old_versions, new_versions = versions(old), versions(new)
    cursors: dict[str, str] = {}
    for _, mark, scope in old.values():
        if mark:
            cursors[scope] = max(cursors.get(scope, ""), utc_iso(mark))
    overlap_from = {
        scope: (datetime.fromisoformat(cursor) - OVERLAP).isoformat()
        for scope, cursor in cursors.items()
    }

    def reread(key: tuple[str, str], watermark: str | None, scope: str) -> bool:
        if key not in old or old[key][1] != watermark:
            return True
        return watermark is None or utc_iso(watermark) >= overlap_from.get(scope, "")

    return {
        key: new_versions[key] if reread(key, watermark, scope) else old_versions[key]
        for key, (_, watermark, scope) in new.items()
    }


class Deployment:
    """A landing zone and metadata store syncing one tool from a sandbox."""

    def __init__(self, tool: str, world: World, root: Path, server: SandboxServer) -> None:
        self.tool, self.world, self.server = tool, world, server
        self.landing = LandingStore(root / "landing")
        self.metadata = MetadataStore(f"sqlite:///{root / 'metadata.sqlite'}")
        entry = next(s for s in world.config(server.base_urls())["sources"] if s["type"] == tool)
        self.source = SourceConfig.model_validate(entry)

    def connector(self, stats: RequestStats, **overrides: Any) -> Any:
        resource = spec(self.tool).resource_class.from_source(self.source)
        fields = {**resource.model_dump(), "token": "sandbox-token", **overrides}
        return type(resource)(**fields).connector(stats)

    def sync(self, **overrides: Any) -> tuple[SyncReport, RequestStats]:
        stats = RequestStats()
        connector = self.connector(stats, **overrides)
        try:
            return run_sync(connector, self.landing, self.metadata), stats
        finally:
            connector.client.close()

    def landed(self) -> Versions:
        """Newest landed version of every record."""
        latest = self.landing.latest(source=self.tool)
        return {
            (r["kind"], r["record_id"]): r["payload_sha256"]
            for r in latest.select("kind", "record_id", "payload_sha256").iter_rows(named=True)
        }

    def all_versions(self) -> pl.DataFrame:
        return (
            self.landing.scan(self.tool)
            .select("kind", "record_id", "payload_sha256")
            .collect()
            .sort(pl.all())
        )


class ConnectorContract:
    tool: ClassVar[str]
    # True when the API supports ETags, so a no-change sync is all 304s.
    conditional: ClassVar[bool] = True
    # Small pages in the fault test, so that a fifth of many requests fail.
    fault_page_size: ClassVar[int] = 20
    # Requests that succeed before the injected crash (fewer for tools with one request a scope).
    crash_after_requests: ClassVar[int] = 3

    def expected(self, world: World, as_of: datetime) -> Records:
        """``(kind, record_id) -> (payload, watermark)`` of every record at ``as_of``."""
        raise NotImplementedError

    @pytest.fixture
    def make(self, world: World, tmp_path: Path):
        servers: list[SandboxServer] = []

        def start(*, as_of: datetime | None = None, faults: Faults | None = None) -> Deployment:
            BREAKERS.clear()
            server = SandboxServer(Sandbox(world, as_of=as_of, faults=faults)).start()
            servers.append(server)
            return Deployment(self.tool, world, tmp_path / f"d{len(servers)}", server)

        yield start
        for server in servers:
            server.stop()

    def test_full_sync_lands_exactly_the_worlds_records(self, make, world):
        deployment = make()
        report, _ = deployment.sync()
        expected = versions(self.expected(world, world.end))
        assert len(expected) > 0
        assert deployment.landed() == expected
        assert report.landed == len(expected)

    def test_an_immediate_second_sync_is_conditional_and_lands_nothing(self, make):
        deployment = make()
        deployment.sync()
        report, stats = deployment.sync()
        endpoints = len(report.endpoints)
        assert report.landed == 0
        assert stats.requests <= endpoints
        if self.conditional:
            assert stats.not_modified == stats.requests

    def test_an_incremental_sync_lands_exactly_what_changed(self, make, world):
        before, after = world.end - timedelta(days=5), world.end
        deployment = make(as_of=before)
        deployment.sync()
        assert deployment.landed() == versions(self.expected(world, before))
        deployment.server.sandbox.set_clock(after)
        report, _ = deployment.sync()
        old, new = self.expected(world, before), self.expected(world, after)
        final, old_versions = after_incremental(old, new), versions(old)
        changed = {k for k, v in final.items() if old_versions.get(k) != v}
        assert report.landed == len(changed) > 0
        assert deployment.landed() == final

    def test_twenty_percent_failing_requests_land_the_same_set(self, make, world):
        faults = Faults(
            error_rate=0.2,
            error_kinds=("429", "502", "slow", "truncated"),
            slow_s=0.4,
            retry_after_s=0,
            seed=11,
        )
        deployment = make(faults=faults)
        _, stats = deployment.sync(
            timeout_s=0.15, max_attempts=15, backoff_base_s=0.01, page_size=self.fault_page_size
        )
        assert stats.retries > 0
        assert deployment.landed() == versions(self.expected(world, world.end))

    def test_a_crash_after_page_k_then_a_rerun_lands_the_same_without_duplicates(self, make):
        clean = make()
        clean.sync()
        crashed = make()
        stats = RequestStats()
        connector = crashed.connector(stats)
        calls: list[tuple] = []

        k = self.crash_after_requests

        def crash_after_k(real: Any) -> Any:
            # GETs and POSTs (GraphQL) share one counter: request k + 1 of either crashes.
            def request_then_crash(*args: Any, **kwargs: Any) -> Any:
                calls.append(args)
                if len(calls) > k:
                    raise RuntimeError(f"injected crash after page {k}")
                return real(*args, **kwargs)

            return request_then_crash

        connector.client.get = crash_after_k(connector.client.get)
        connector.client.post = crash_after_k(connector.client.post)
        with pytest.raises(RuntimeError, match="injected crash"):
            run_sync(connector, crashed.landing, crashed.metadata)
        connector.client.close()
        crashed.sync()
        assert crashed.landed() == clean.landed()
        assert crashed.all_versions().equals(clean.all_versions())
