"""Two GitHub sources side by side (github.com and an Enterprise server): state is keyed by the
source's *name*, so each lands in its own partition, keeps its own cursors and circuit breaker,
cites its own web base URL, and receives webhooks at its own endpoint with its own secret."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from flowsync_pipelines.citations import routes, web_url
from flowsync_pipelines.ingest import SyncReport, run_sync
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.sandbox import Sandbox, SandboxServer
from flowsync_pipelines.settings import FlowSyncConfig, SourceConfig, load_config
from flowsync_pipelines.webhooks.drain import drain
from flowsync_pipelines.webhooks.harness import GatewayProcess, sign, write_gateway_config
from flowsync_pipelines.webhooks.queue import DeliveryQueue
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


def test_two_github_sources_receive_webhooks_each_at_its_own_endpoint(world, tmp_path: Path):
    secrets = {"dotcom": "whsec-dotcom-0123456789", "ghe": "whsec-ghe-9876543210"}
    # Each source its own day of deliveries, one of each event (pull requests land as polled
    # kinds, pushes whole): identical content under two names would be one event.
    deliveries = {}
    for offset, name in enumerate(secrets, start=3):
        day = world.start + timedelta(days=offset)
        sent = world.webhook_deliveries(sources=("github",), start=day, end=day + timedelta(days=1))
        deliveries[name] = list({d.event: d for d in sent}.values())
        assert {"pull_request", "push"} <= {d.event for d in deliveries[name]}
    envs = {name: f"FLOWSYNC_TEST_WEBHOOK_SECRET_{name.upper()}" for name in secrets}
    types = dict.fromkeys(secrets, "github")
    config_file = write_gateway_config(tmp_path / "flowsync.yaml", envs, types=types)
    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    gateway = GatewayProcess(
        home=tmp_path / "home",
        config_file=config_file,
        metadata_url=url,
        env={envs[name]: secret for name, secret in secrets.items()},
    )

    def post(path: str, secret: str, delivery, delivery_id: str) -> httpx.Response:
        body, headers = sign(
            path, delivery.payload, secret, event=delivery.event, delivery_id=delivery_id,
            sources=types,
        )  # fmt: skip
        return httpx.post(f"{gateway.url}/webhooks/{path}", content=body, headers=headers)

    with gateway:
        for name, secret in secrets.items():
            for delivery in deliveries[name]:
                answer = post(name, secret, delivery, delivery.delivery_id)
                assert (answer.status_code, answer.json()["status"]) == (202, "stored")
        # Each secret opens its own endpoint only.
        forged = post("ghe", secrets["dotcom"], deliveries["ghe"][0], "forged-1")
        assert forged.status_code == 401, forged.text
        # With two GitHub sources the type path names neither: it says which paths to use.
        ambiguous = post("github", secrets["dotcom"], deliveries["dotcom"][0], "ambiguous-1")
        assert ambiguous.status_code == 404
        assert "/webhooks/dotcom, /webhooks/ghe" in ambiguous.json()["error"]
        assert httpx.get(f"{gateway.url}/healthz").json()["endpoints"] == ["dotcom", "ghe"]
        metrics = httpx.get(f"{gateway.url}/metrics").text
        assert 'flowsync_webhook_signature_failures_total{source="ghe"} 1' in metrics
        assert 'flowsync_webhook_signature_failures_total{source="dotcom"}' not in metrics
        assert 'flowsync_webhook_deliveries_total{source="ghe",outcome="stored"}' in metrics

    queue = DeliveryQueue(url)
    landing = LandingStore(tmp_path / "landing")
    try:
        for name in secrets:
            ids = [d.delivery_id for d in deliveries[name]]
            rows = queue.find(name, [*ids, "forged-1", "ambiguous-1"])
            assert sorted(r.delivery_id for r in rows) == sorted(ids)
            assert {(r.source, r.source_type) for r in rows} == {(name, "github")}
        report = drain(queue, landing)
        assert report.deliveries == sum(map(len, deliveries.values()))
        assert report.quarantined == 0
    finally:
        queue.dispose()

    # Pushed records land under the source's name, where its polled records land, each dated by
    # the events its type's normaliser reads (not by when it arrived, months later).
    landed = landing.scan().collect()
    assert (tmp_path / "landing" / "source=ghe").is_dir()
    kinds = landed.group_by("source").agg(pl.col("kind").unique())
    for name, landed_kinds in kinds.iter_rows():
        assert {"pulls", "webhook:push"} <= set(landed_kinds), name
    assert sorted(kinds.get_column("source")) == ["dotcom", "ghe"]
    assert landed.get_column("updated_at").max() < world.start + timedelta(days=6)

    # Normalisation reads both names as GitHub; each event keeps its source's name.
    events = normalise(
        landed, pseudonym_key="k", sources=routes(load_config(config_file))
    ).signals.with_columns(landed_as=pl.col("landing_ref").str.split("/").list.first())
    assert set(events.get_column("source")) == {"github"}
    assert set(events.get_column("landed_as")) == {"dotcom", "ghe"}
