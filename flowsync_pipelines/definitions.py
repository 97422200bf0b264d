"""The root Definitions: every asset, check, resource and schedule, wired from flowsync.yaml.

Cross-cutting policy lives here once: which sources exist, how secrets arrive (``dg.EnvVar``),
where the stores are, and that runs execute in one process (DuckDB has a single writer).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.digests import team_digests_asset
from assets.graph import context_graph_asset
from assets.identities import identities_asset
from assets.ingestion import landing_asset
from assets.privacy import pii_scan_check
from assets.role_views import em_team_wip_asset, role_views_asset
from assets.signals import signals_asset
from assets.statements import statements_asset
from flowsync_pipelines.gdpr import NEO4J_PASSWORD_ENV, NEO4J_URI_ENV, NEO4J_USER_ENV
from flowsync_pipelines.identity import overrides_path
from flowsync_pipelines.partitions import daily_partitions
from flowsync_pipelines.settings import (
    FlowSyncConfig,
    Paths,
    config_path,
    flowsync_home,
    load_config,
)
from flowsync_pipelines.webhooks.assets import webhook_landing_asset
from flowsync_pipelines.webhooks.sensor import webhook_ingestion_job, webhook_queue_sensor
from resources.circleci import CircleCIResource
from resources.figma import FigmaResource
from resources.git import GitResource
from resources.github import GitHubResource
from resources.gitlab import GitLabResource
from resources.jenkins import JenkinsResource
from resources.jira import JiraResource
from resources.linear import LinearResource
from resources.neo4j import Neo4jResource
from resources.sentry import SentryResource
from resources.stores import (
    LandingResource,
    MetadataResource,
    OrganisationResource,
    OutboxResource,
    PrivacyResource,
    WarehouseResource,
)

PSEUDONYM_KEY_ENV = "FLOWSYNC_PSEUDONYM_KEY"
METADATA_URL_ENV = "FLOWSYNC_METADATA_URL"


# One resource class per source type; each builds itself from its flowsync.yaml entry.
RESOURCE_TYPES: dict[str, type] = {
    "github": GitHubResource,
    "jira": JiraResource,
    "git": GitResource,
    "linear": LinearResource,
    "sentry": SentryResource,
    "figma": FigmaResource,
    "gitlab": GitLabResource,
    "jenkins": JenkinsResource,
    "circleci": CircleCIResource,
}


def source_resources(config: FlowSyncConfig) -> dict[str, dg.ConfigurableResource]:
    """One typed resource per polled source, keyed by the source's name.

    A ``receive: webhooks`` source gets none: nothing polls it, so it needs no URL or token.
    """
    return {
        source.name: RESOURCE_TYPES[source.type].from_source(source)
        for source in config.sources
        if source.polls and source.type in RESOURCE_TYPES
    }


def neo4j_resource() -> Neo4jResource:
    """The context graph's Neo4j mirror when NEO4J_URI is set; a disabled resource otherwise."""
    if not os.environ.get(NEO4J_URI_ENV):
        return Neo4jResource()  # empty uri: context_graph writes DuckDB only
    return Neo4jResource(
        uri=dg.EnvVar(NEO4J_URI_ENV),
        user=dg.EnvVar(NEO4J_USER_ENV) if os.environ.get(NEO4J_USER_ENV) else "",
        password=dg.EnvVar(NEO4J_PASSWORD_ENV) if os.environ.get(NEO4J_PASSWORD_ENV) else "",
    )


def build_definitions(home: Path | None = None, config_file: Path | None = None) -> dg.Definitions:
    """Definitions for one FlowSync home and configuration (both default to the environment)."""
    paths = Paths(home=home or flowsync_home())
    config_file = config_file or config_path()
    config = load_config(config_file)
    partitions = daily_partitions(config.start_date)
    sources = source_resources(config)

    landing_assets = [
        landing_asset(s.name, s.type, partitions) for s in config.sources if s.name in sources
    ]
    # Webhooks: a landing asset fed by the gateway's queue, and a sensor that runs it for the
    # days the deliveries are about.
    receives_webhooks = any(s.receives_webhooks for s in config.sources)
    webhook_assets = [webhook_landing_asset(partitions)] if receives_webhooks else []
    webhook_jobs = [webhook_ingestion_job(partitions)] if receives_webhooks else []
    all_assets = [
        *landing_assets,
        *webhook_assets,
        signals_asset(partitions, [a.key for a in [*landing_assets, *webhook_assets]]),
        identities_asset(partitions, overrides_file=overrides_path(paths.home)),
        em_team_wip_asset(partitions),
        role_views_asset(partitions),
        team_digests_asset(partitions),
        context_graph_asset(partitions),
        statements_asset(partitions),
    ]
    # Every asset, so every polled source's landing asset: webhook-only sources have none.
    daily_job = dg.define_asset_job("daily_refresh", selection="*", partitions_def=partitions)
    return dg.Definitions(
        assets=all_assets,
        asset_checks=[pii_scan_check],
        jobs=[daily_job, *webhook_jobs],
        sensors=[webhook_queue_sensor(job, partitions) for job in webhook_jobs],
        schedules=[
            dg.build_schedule_from_partitioned_job(daily_job, hour_of_day=5, minute_of_hour=0)
        ],
        resources={
            **sources,
            "landing": LandingResource(root=str(paths.landing)),
            "warehouse": WarehouseResource(path=str(paths.duckdb)),
            "metadata": MetadataResource(
                url=os.environ.get(METADATA_URL_ENV) or f"sqlite:///{paths.metadata}"
            ),
            "privacy": PrivacyResource(pseudonym_key=dg.EnvVar(PSEUDONYM_KEY_ENV)),
            "outbox": OutboxResource(root=str(paths.outbox)),
            "organisation": OrganisationResource(config_path=str(config_file)),
            # The graph is always in DuckDB; it is mirrored to Neo4j only when NEO4J_URI is set.
            "neo4j": neo4j_resource(),
        },
        # DuckDB allows one writer per file: keep a run's steps in one process.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
