"""Two GitHub sources side by side (github.com and an Enterprise server): state is keyed by the
source's *name*, so each lands in its own partition, keeps its own cursors and circuit breaker,
and cites its own web base URL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from flowsync_pipelines.citations import routes, web_url
from flowsync_pipelines.ingest import SyncReport, run_sync
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.sandbox import Sandbox, SandboxServer
from flowsync_pipelines.settings import FlowSyncConfig, SourceConfig
from resources.github import GitHubConnector, GitHubResource
from resources.http import BREAKERS, CircuitOpen, RequestStats

GHE_WEB = "https://ghe.acme.example"


def _sync(
    source: SourceConfig, landing: LandingStore, metadata: MetadataStore
) -> tuple[GitHubConnector, SyncReport]:
    # As Definitions build it (the token an EnvVar, resolved when the resource initialises).
    resource = GitHubResource.from_source(source).process_config_and_initialize()
    connector = resource.connector(RequestStats())
    try:
        return connector, run_sync(connector, landing, metadata, source=source.name)
    finally:
        connector.client.close()


def test_two_github_sources_keep_their_own_state_and_citations(world, tmp_path: Path) -> None:
    public_repo, enterprise_repo = world.github_repos()[:2]
    BREAKERS.clear()
    as_of = world.start + timedelta(days=12)  # a fortnight's records keep it quick
    with (
        SandboxServer(Sandbox(world, as_of=as_of)) as dotcom,
        SandboxServer(Sandbox(world, as_of=as_of)) as enterprise,
    ):
        config = FlowSyncConfig.model_validate(
            {
                "organisation": "acme",
                "start_date": "2026-09-01",
                "sources": [
                    {"name": "github", "type": "github", "base_url": f"{dotcom.url}/github",
                     "token_env": "GITHUB_TOKEN", "scopes": {"repos": [public_repo]}},
                    {"name": "ghe", "type": "github", "base_url": f"{enterprise.url}/github",
                     "web_url": GHE_WEB + "/", "token_env": "GITHUB_TOKEN",
                     "scopes": {"repos": [enterprise_repo]}},
                ],
            }
        )  # fmt: skip
        github, ghe = config.sources
        landing = LandingStore(tmp_path / "landing")
        metadata = MetadataStore(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
        try:
            first, github_report = _sync(github, landing, metadata)
            second, ghe_report = _sync(ghe, landing, metadata)
            assert github_report.landed > 0 and ghe_report.landed > 0

            # Landing partitions and cursors are per name.
            landed = landing.scan().collect()
            assert sorted(landed.get_column("source").unique()) == ["ghe", "github"]
            assert (tmp_path / "landing" / "source=ghe").is_dir()
            scopes = landed.group_by("source").agg(pl.col("scope").unique())
            assert dict(scopes.iter_rows()) == {"github": [public_repo], "ghe": [enterprise_repo]}
            assert metadata.sync_position("github", public_repo, "pulls")[0] is not None
            assert metadata.sync_position("ghe", enterprise_repo, "pulls")[0] is not None
            assert metadata.sync_position("github", enterprise_repo, "pulls") == (None, None)

            # Each source has its own breaker: the Enterprise one open leaves github.com alone.
            assert first.client.breaker is BREAKERS["github"]
            assert second.client.breaker is BREAKERS["ghe"]
            for _ in range(BREAKERS["ghe"].threshold):
                BREAKERS["ghe"].record(ok=False)
            assert (BREAKERS["ghe"].state, BREAKERS["github"].state) == ("open", "closed")
            with pytest.raises(CircuitOpen, match="ghe"):
                second.client.breaker.before_request()
            first.client.breaker.before_request()  # github.com's requests still go out
            assert _sync(github, landing, metadata)[1].landed == 0  # re-sync: nothing new
        finally:
            metadata.dispose()
            BREAKERS.clear()

    # Citations: each source's events link to its own web base URL.
    events = normalise(landed, pseudonym_key="k", sources=routes(config)).signals
    by_source = events.with_columns(
        landed_as=pl.col("landing_ref").str.split("/").list.first()
    ).filter(pl.col("url").is_not_null())
    assert set(by_source.get_column("source")) == {"github"}  # both are GitHub to normalise
    # (deployments also cite the environment they deployed to: another host, left alone)
    webs = {"github": "https://github.com/", "ghe": GHE_WEB + "/"}
    for name, web in webs.items():
        urls = by_source.filter(pl.col("landed_as") == name).get_column("url")
        other = next(w for n, w in webs.items() if n != name)
        assert urls.str.starts_with(web).sum() > urls.len() // 2
        assert urls.str.starts_with(other).sum() == 0


def test_a_sources_web_url_defaults_to_the_tools_public_one_else_its_base_url() -> None:
    def source(**fields: str) -> SourceConfig:
        return SourceConfig.model_validate({"name": "s", **fields})

    assert web_url(source(type="github")) == "https://github.com"
    assert web_url(source(type="github", web_url=GHE_WEB + "/")) == GHE_WEB
    assert web_url(source(type="jira", base_url="https://acme.atlassian.net/")) == (
        "https://acme.atlassian.net"
    )
