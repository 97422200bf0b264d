"""Requests per sync against the lower bound, for every tool's sandbox.

Lower bound of a full sync = Σ ⌈N / page size⌉ over each list endpoint and scope, plus the
per-item calls an API forces (one per parent record: a pull request's reviews, a deployment's
statuses, a merge request's approvals and notes, a pipeline's jobs, a Sentry issue's latest
event, a release's deploys, a checked commit's check runs). A no-change sync should cost at most
one request per endpoint and scope.

    .venv/bin/python bench/sync_requests.py
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import polars as pl

from flowsync_pipelines.ingest import SyncReport, run_sync
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.sandbox import Sandbox, SandboxServer
from flowsync_pipelines.sandbox.app import TOOLS
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.simulator import build_world
from flowsync_pipelines.sources.registry import spec
from resources.http import RequestStats

# Child kind -> the parent kind whose every record costs one request (the API's floor).
PER_ITEM = {
    "reviews": "pulls",
    "deployment_statuses": "deployments",
    "approvals": "merge_requests",
    "notes": "merge_requests",
    "jobs": "pipelines",
    "latest_events": "issues",
    "deploys": "releases",
}


def sync(source: SourceConfig, landing: LandingStore, metadata: MetadataStore):
    resource = spec(source.type).resource_class.from_source(source)
    stats = RequestStats()
    fields = {**resource.model_dump(), "token": "sandbox"}
    connector = type(resource)(**fields).connector(stats)
    try:
        report: SyncReport = run_sync(connector, landing, metadata)
    finally:
        connector.client.close()
    return stats, report, resource.page_size


def lower_bound(counts: pl.DataFrame, page: int) -> tuple[int, int]:
    children = set(PER_ITEM) | {"check_runs"}  # per commit: counted apart, in main()
    pages = sum(
        max(1, math.ceil(n / page))
        for kind, n in counts.select("kind", "len").iter_rows()
        if kind not in children and kind != "tombstone"
    )
    by_kind = dict(counts.group_by("kind").agg(pl.col("len").sum()).iter_rows())
    # One call per parent for each kind of child it has (GitLab: approvals and notes per MR).
    return pages, sum(by_kind.get(PER_ITEM[k], 0) for k in by_kind if k in PER_ITEM)


def main() -> None:
    world = build_world()
    header = ("tool", "full sync", "list pages", "per-item", "bound", "no-change", "endpoints")
    print("{:<8} {:>10} {:>11} {:>9} {:>7} {:>10} {:>10}".format(*header))
    with SandboxServer(Sandbox(world)) as server:
        sources = world.config(server.base_urls())["sources"]
        for tool in TOOLS:
            source = SourceConfig.model_validate(next(s for s in sources if s["type"] == tool))
            with tempfile.TemporaryDirectory() as tmp:
                landing = LandingStore(Path(tmp) / "landing")
                metadata = MetadataStore(f"sqlite:///{tmp}/metadata.sqlite")
                full, _, page = sync(source, landing, metadata)
                counts = landing.scan(tool).group_by("scope", "kind").len().collect()
                pages, per_item = lower_bound(counts, page)
                # GitHub check runs are listed per commit: one call per commit that has any (the
                # commits without are not known in advance, so the connector pays for those too).
                checked = (
                    landing.scan(tool)
                    .filter(pl.col("kind") == "check_runs")
                    .select(pl.col("payload").str.json_path_match("$.head_sha").n_unique())
                    .collect()
                    .item()
                )
                per_item += checked
                again, report, _ = sync(source, landing, metadata)
                row = (tool, full.requests, pages, per_item, pages + per_item, again.requests)
                print(
                    "{:<8} {:>10} {:>11} {:>9} {:>7} {:>10} {:>10}".format(
                        *row, len(report.endpoints)
                    )
                )


if __name__ == "__main__":
    main()
