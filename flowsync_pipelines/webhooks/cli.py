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

from flowsync_pipelines.settings import Paths, flowsync_home, load_config

METADATA_URL_ENV = "FLOWSYNC_METADATA_URL"


class SqliteSynchronous(StrEnum):
    """How hard SQLite works to keep a commit (``PRAGMA synchronous``)."""

    full = "full"
    normal = "normal"


webhooks_app = typer.Typer(
    help="The webhook gateway: receive tools' deliveries durably, drain them into landing."
)


def metadata_url(home: Path) -> str:
    """The metadata store URL: ``FLOWSYNC_METADATA_URL``, else the SQLite file under ``home``.

    The same rule ``definitions.py`` applies, so the gateway and the pipeline share one queue.
    """
    return os.environ.get(METADATA_URL_ENV) or f"sqlite:///{Paths(home=home).metadata}"


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
    """Serve POST /webhooks/<provider>, /healthz and /metrics until interrupted.

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
    if not secrets.by_route:
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
        f"webhook gateway on http://{host}:{port}/webhooks/<provider> "
        f"for {', '.join(sorted(secrets.by_route))}",
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


@webhooks_app.command("drain")
def drain_command(
    home: Annotated[Path | None, typer.Option(help="FLOWSYNC_HOME (default: environment)")] = None,
) -> None:
    """Land every pending delivery now and print what happened (for operators and tests)."""
    from flowsync_pipelines.landing import LandingStore
    from flowsync_pipelines.webhooks.drain import drain
    from flowsync_pipelines.webhooks.queue import DeliveryQueue

    home = (home or flowsync_home()).resolve()
    queue = DeliveryQueue(metadata_url(home))
    try:
        report = drain(queue, LandingStore(Paths(home=home).landing))
        states = queue.count_by_state()
    finally:
        queue.dispose()
    typer.echo(json.dumps({**report.as_dict(), "queue": states}, indent=2))
