"""``flowsync webhooks serve|drain``: run the gateway, or land what it queued right now.

Heavy imports (uvicorn, Starlette, Polars) happen inside the commands, so ``flowsync --help``
and the gateway's start stay quick.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from flowsync_pipelines.env import CONFIG_ENV, DAGSTER_HOME_ENV
from flowsync_pipelines.settings import Paths, flowsync_home, load_config


class SqliteSynchronous(StrEnum):
    """How hard SQLite works to keep a commit (``PRAGMA synchronous``)."""

    full = "full"
    normal = "normal"


webhooks_app = typer.Typer(
    help="The webhook gateway: receive tools' deliveries durably, drain them into landing."
)


def metadata_url(home: Path) -> str:
    """The metadata store URL of ``home`` (:attr:`Paths.metadata_url`)."""
    return Paths(home=home).metadata_url


@webhooks_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8780,
    max_body_bytes: Annotated[
        int, typer.Option(help="Larger deliveries get 413 (GitHub's own cap is 25 MB)")
    ] = 25 * 1024 * 1024,
    rate_limit: Annotated[
        float, typer.Option(help="Deliveries per second per source (token bucket; 0 = no limit)")
    ] = 200.0,
    rate_burst: Annotated[int, typer.Option(help="Deliveries a source may send at once")] = 1000,
    sqlite_synchronous: Annotated[
        SqliteSynchronous,
        typer.Option(
            help="SQLite queue only: 'full' survives power loss; 'normal' (WAL) survives a "
            "crash of the gateway but may lose the last commits on power loss"
        ),
    ] = SqliteSynchronous.full,
) -> None:
    """Serve POST /webhooks/<source name>, /healthz and /metrics until interrupted.

    Each source with a ``webhook_secret_env`` is served at ``/webhooks/<its name>``, and at its
    type's path (``/webhooks/github``) while it is the only source of that type doing so.

    Secrets come from the env vars that flowsync.yaml's sources name in ``webhook_secret_env``;
    deliveries are queued in the metadata store (``FLOWSYNC_METADATA_URL`` or the SQLite file
    under ``FLOWSYNC_HOME``).
    """
    import uvicorn

    from flowsync_pipelines.webhooks.app import GatewayConfig, build_app
    from flowsync_pipelines.webhooks.providers import secrets_from_environment

    try:
        secrets = secrets_from_environment(load_config().sources, os.environ)
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from err
    if not secrets.by_source:
        typer.echo(
            "no source in flowsync.yaml has a webhook_secret_env: every delivery would get 404",
            err=True,
        )
        raise typer.Exit(2)
    config = GatewayConfig(
        metadata_url=metadata_url(flowsync_home()),
        secrets=secrets,
        max_body_bytes=max_body_bytes,
        rate_per_second=rate_limit,
        rate_burst=rate_burst,
        sqlite_synchronous="full" if sqlite_synchronous is SqliteSynchronous.full else "normal",
    )
    typer.echo(
        f"webhook gateway on http://{host}:{port}/webhooks/<source> "
        f"for {', '.join(secrets.paths())}",
        err=True,
    )
    uvicorn.run(
        build_app(config),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


MATERIALIZE = (
    "dagster asset materialize -m flowsync_pipelines.definitions "
    "--select 'webhook_landing*' --partition-range {first}...{last}"
)


@webhooks_app.command("drain")
def drain_command(
    home: Annotated[Path | None, typer.Option(help="FLOWSYNC_HOME (default: environment)")] = None,
    run: Annotated[
        bool,
        typer.Option(
            "--run",
            help="Also re-derive the days landed now (webhook_ingestion over each range of days, "
            "in this process; needs what `dagster asset materialize` needs in the environment)",
        ),
    ] = False,
) -> None:
    """Land every pending delivery now; print the days they are about and what to run for them.

    Deliveries land by the day they are about, whenever received, so days already materialised
    may have gained records: each stretch of such days is printed with the `dagster asset
    materialize` command that re-derives it (``--run`` runs them); today is one of them (it is a
    partition while it runs). Only days after today (a sender's clock ahead of ours) are
    ``waiting``: they are not partitions yet.
    """
    from flowsync_pipelines.landing import LandingStore
    from flowsync_pipelines.partitions import daily_partitions
    from flowsync_pipelines.webhooks.drain import drain
    from flowsync_pipelines.webhooks.queue import DeliveryQueue
    from flowsync_pipelines.webhooks.sensor import partition_ranges

    home = (home or flowsync_home()).resolve()
    queue = DeliveryQueue(metadata_url(home))
    try:
        report = drain(queue, LandingStore(Paths(home=home).landing))
        states = queue.count_by_state()
    finally:
        queue.dispose()
    config_file = _config_file(home)
    partitions = daily_partitions(load_config(config_file).start_date)
    first_day = partitions.get_first_partition_key() or ""
    days = {max(day, first_day) for day in report.days}
    ranges, waiting = partition_ranges(days, partitions)
    runs = [
        {"first": first, "last": last, "command": MATERIALIZE.format(first=first, last=last)}
        for first, last in ranges
    ]
    typer.echo(
        json.dumps(
            {**report.as_dict(), "queue": states, "runs": runs, "waiting": waiting}, indent=2
        )
    )
    if run and ranges:
        _run_ranges(home, config_file, ranges)


def _config_file(home: Path) -> Path:
    """``FLOWSYNC_CONFIG``, else the ``flowsync.yaml`` in ``home``."""
    explicit = os.environ.get(CONFIG_ENV)
    return Path(explicit).resolve() if explicit else home / "flowsync.yaml"


def _run_ranges(home: Path, config_file: Path, ranges: list[tuple[str, str]]) -> None:
    """``webhook_ingestion`` over each range, one single run each, on the Dagster instance."""
    import dagster as dg

    from flowsync_pipelines.definitions import build_definitions
    from flowsync_pipelines.partitions import range_tags
    from flowsync_pipelines.webhooks.sensor import WEBHOOK_JOB

    job = build_definitions(home=home, config_file=config_file).resolve_job_def(WEBHOOK_JOB)
    with (
        dg.DagsterInstance.get()
        if os.environ.get(DAGSTER_HOME_ENV)
        else dg.DagsterInstance.ephemeral()
    ) as instance:
        for first, last in ranges:
            result = job.execute_in_process(
                instance=instance, tags=range_tags(first, last), raise_on_error=False
            )
            outcome = "succeeded" if result.success else "FAILED"
            typer.echo(f"{WEBHOOK_JOB} {first}...{last}: run {result.run_id} {outcome}", err=True)
            if not result.success:
                raise typer.Exit(1)
