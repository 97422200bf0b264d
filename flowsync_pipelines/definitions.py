"""The root Definitions: every asset, check, resource and schedule, wired from flowsync.yaml.

Cross-cutting policy lives here once: which sources exist, how secrets arrive (``dg.EnvVar``),
where the stores are, and that runs execute in one process (DuckDB has a single writer).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from assets.digests import team_digests_asset
from assets.graph import context_graph_asset
from assets.identities import identities_asset
from assets.ingestion import landing_asset
from assets.privacy import pii_scan_check
from assets.role_views import em_team_wip_asset, role_views_asset
from assets.signals import signals_asset
from assets.statements import statements_asset
from flowsync_pipelines.audit.keys import PUBLIC_KEY_FILE
from flowsync_pipelines.citations import routes
from flowsync_pipelines.delivery.jobs import digest_delivery_job, digest_subscriptions_sensor
from flowsync_pipelines.env import (
    NEO4J_PASSWORD_ENV,
    NEO4J_URI_ENV,
    NEO4J_USER_ENV,
    PSEUDONYM_KEY_ENV,
    SIGNING_KEY_ENV,
)
from flowsync_pipelines.identity import overrides_path
from flowsync_pipelines.partitions import daily_partitions, range_tags
from flowsync_pipelines.settings import (
    FlowSyncConfig,
    Paths,
    config_path,
    flowsync_home,
    load_config,
)
from flowsync_pipelines.sources.registry import SOURCES
from flowsync_pipelines.webhooks.assets import webhook_landing_asset
from flowsync_pipelines.webhooks.sensor import webhook_ingestion_job, webhook_queue_sensor
from resources.delivery import delivery_resource
from resources.neo4j import Neo4jResource
from resources.stores import (
    AuditResource,
    LandingResource,
    MetadataResource,
    OrganisationResource,
    OutboxResource,
    PrivacyResource,
    WarehouseResource,
)

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

HISTORY_JOB = "history_import"


def source_resources(config: FlowSyncConfig) -> dict[str, dg.ConfigurableResource]:
    """One typed resource per polled source, keyed by the source's name.

    A ``receive: webhooks`` source gets none: nothing polls it, so it needs no URL or token.
    """
    return {
        source.name: resource.from_source(source)
        for source in config.sources
        if source.polls and (resource := SOURCES[source.type].resource_class) is not None
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


# The hourly refresh also re-runs yesterday at this UTC hour, once its late data has arrived.
COMPLETE_YESTERDAY_AT_HOUR = 5


def refresh_schedule(
    job: UnresolvedAssetJobDefinition, partitions_def: dg.DailyPartitionsDefinition
) -> dg.ScheduleDefinition:
    """Every hour, one run of ``job`` for today (a partition while it runs), so polled data
    shows the same day; at 05:00 UTC the run covers yesterday too, which completes it."""

    @dg.schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule="0 * * * *",
        execution_timezone="UTC",
        description=(
            "Hourly: today's partition (so today is visible while it runs); at 05:00 UTC "
            "yesterday … today in one run, which completes yesterday for role views and digests."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        today = context.scheduled_execution_time.date()
        if not partitions_def.has_partition_key(today.isoformat()):
            return dg.SkipReason(f"{today} is before start_date: nothing to refresh yet")
        first = today
        if context.scheduled_execution_time.hour == COMPLETE_YESTERDAY_AT_HOUR:
            first = today - timedelta(days=1)
        if not partitions_def.has_partition_key(first.isoformat()):
            first = today
        stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H")
        if first == today:
            return dg.RunRequest(run_key=f"refresh:{stamp}", partition_key=today.isoformat())
        return dg.RunRequest(
            run_key=f"refresh:{stamp}", tags=range_tags(first.isoformat(), today.isoformat())
        )

    return _schedule


def build_definitions(home: Path | None = None, config_file: Path | None = None) -> dg.Definitions:
    """Definitions for one FlowSync home and configuration (both default to the environment)."""
    paths = Paths(home=home or flowsync_home())
    config_file = config_file or config_path()
    config = load_config(config_file)
    partitions = daily_partitions(config.start_date)
    sources = source_resources(config)
    metadata_url = paths.metadata_url

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
        signals_asset(
            partitions, [a.key for a in [*landing_assets, *webhook_assets]], routes(config)
        ),
        identities_asset(partitions, overrides_file=overrides_path(paths.home)),
        em_team_wip_asset(partitions),
        role_views_asset(partitions),
        team_digests_asset(partitions),
        context_graph_asset(partitions),
        statements_asset(partitions),
    ]
    # Every asset, so every polled source's landing asset: webhook-only sources have none.
    daily_job = dg.define_asset_job("daily_refresh", selection="*", partitions_def=partitions)
    # `flowsync import`: everything but the digests — nobody is sent last year's mornings.
    history_job = dg.define_asset_job(
        HISTORY_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("digests"),
        partitions_def=partitions,
    )
    return dg.Definitions(
        assets=all_assets,
        asset_checks=[pii_scan_check],
        jobs=[daily_job, history_job, *webhook_jobs, digest_delivery_job],
        sensors=[
            *(webhook_queue_sensor(job, partitions) for job in webhook_jobs),
            digest_subscriptions_sensor(),
        ],
        schedules=[refresh_schedule(daily_job, partitions)],
        resources={
            **sources,
            "landing": LandingResource(root=str(paths.landing)),
            "warehouse": WarehouseResource(path=str(paths.duckdb)),
            "metadata": MetadataResource(url=metadata_url),
            # Statements, digests and models are signed entries; the public key is published
            # beside the log.
            "audit": AuditResource(
                metadata_url=metadata_url,
                signing_key=dg.EnvVar(SIGNING_KEY_ENV),
                public_key_file=str(paths.home / PUBLIC_KEY_FILE),
            ),
            "privacy": PrivacyResource(pseudonym_key=dg.EnvVar(PSEUDONYM_KEY_ENV)),
            "outbox": OutboxResource(root=str(paths.outbox)),
            "organisation": OrganisationResource(config_path=str(config_file)),
            "delivery": delivery_resource(),
            # The graph is always in DuckDB; it is mirrored to Neo4j only when NEO4J_URI is set.
            "neo4j": neo4j_resource(),
        },
        # DuckDB allows one writer per file: keep a run's steps in one process.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
