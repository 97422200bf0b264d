"""The ``flowsync`` command line."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from flowsync_pipelines.audit.cli import keys_app, verify_command
from flowsync_pipelines.env import DAGSTER_HOME_ENV
from flowsync_pipelines.gdpr_cli import gdpr_app
from flowsync_pipelines.settings import flowsync_home
from flowsync_pipelines.webhooks.cli import webhooks_app

# Dagster flags beta parameters we rely on knowingly (BackfillPolicy); keep CLI output clean.
warnings.filterwarnings("ignore", message=r".*is currently in beta", category=Warning)
warnings.filterwarnings("ignore", message=r".*is currently in preview", category=Warning)

app = typer.Typer(help="FlowSync: cited, confidence-banded engineering status digests.")
sandbox_app = typer.Typer(help="Local tool sandboxes serving the demo organisation.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(gdpr_app, name="gdpr")
app.add_typer(keys_app, name="keys")
app.command("verify")(verify_command)


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option(help="FLOWSYNC_HOME for the demo")] = None,
    days: Annotated[int, typer.Option(help="Days of simulated activity")] = 60,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 7,
    port: Annotated[int, typer.Option(help="Sandbox port (0 = any free port)")] = 8765,
    pagerduty: Annotated[
        bool, typer.Option(help="Page the on-call through PagerDuty too (a second source)")
    ] = False,
) -> None:
    """Run the whole pipeline on the demo organisation and say where the results are."""
    from dataclasses import replace

    from flowsync_pipelines.demo import run_demo
    from flowsync_pipelines.simulator import DEMO

    conventions = replace(DEMO, pagerduty=True) if pagerduty else DEMO
    result = run_demo(
        home or flowsync_home(), days=days, seed=seed, port=port, conventions=conventions
    )
    typer.echo("")
    typer.echo(f"DuckDB warehouse : {result.duckdb}")
    typer.echo(f"Digests          : {result.outbox}  ({result.digests} Markdown digests)")
    typer.echo(f"Dagster run      : {result.run_id}  (browse it with `make dev`)")
    for preview in result.previews:
        role = preview.role.replace("_", " ")
        typer.echo(f"\n{role.capitalize()} digest of {preview.as_of}: {preview.html}")
        for channel, what in preview.channels.items():
            typer.echo(f"  would send by {channel:<8} to {what}")
    typer.echo("")
    typer.echo(f"Try              : {demo_query_command(result.duckdb, executable())}")


def executable() -> str:
    """How to call ``flowsync`` from here: by name when it is on PATH, else by its path (the
    demo runs from the virtualenv, which is often not activated)."""
    import os
    import shutil
    import sys

    here = Path(sys.argv[0]).resolve()
    found = shutil.which("flowsync")
    if found and Path(found).resolve() == here:
        return "flowsync"
    if here.name != "flowsync" or not here.exists():
        return "flowsync"
    relative = os.path.relpath(here)
    return relative if not relative.startswith("..") else str(here)


def demo_query_command(duckdb_path: Path, flowsync: str = "flowsync") -> str:
    """The query the demo suggests, as a command that works on a fresh install: ``--home`` unless
    the demo ran in the default home (``./data``; the user's shell has no ``FLOWSYNC_HOME``)."""
    home = f"--home {duckdb_path.parent} " if duckdb_path.parent != Path("data").resolve() else ""
    return (
        f"{flowsync} sql {home}"
        '"SELECT team, service, deployments, change_failure_rate, performance_level FROM dora '
        "WHERE window_days = 28 AND as_of_date = (SELECT max(as_of_date) FROM dora) "
        'ORDER BY team, service"'
    )


@app.command("sql")
def sql_command(
    query: Annotated[str, typer.Argument(help='One SQL query, e.g. "SELECT * FROM dora LIMIT 5"')],
    output_format: Annotated[
        str, typer.Option("--format", help="text (aligned columns), csv or json")
    ] = "text",
    home: Annotated[Path | None, typer.Option(help="FLOWSYNC_HOME holding flowsync.duckdb")] = None,
) -> None:
    """Run a read-only SQL query on the warehouse (role views, signals, statements...)."""
    import duckdb

    from flowsync_pipelines.settings import Paths
    from flowsync_pipelines.sql_query import render, run_query

    if output_format not in ("text", "csv", "json"):
        raise typer.BadParameter("--format must be text, csv or json", param_hint="--format")
    try:
        columns, rows = run_query(Paths(home=home or flowsync_home()).duckdb, query)
    except (FileNotFoundError, duckdb.Error) as error:
        typer.echo(f"flowsync sql: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(render(columns, rows, output_format))  # type: ignore[arg-type]


@app.command()
def instance(
    home: Annotated[Path, typer.Option(help="The DAGSTER_HOME directory to prepare")],
) -> None:
    """Install dagster.yaml into DAGSTER_HOME (PostgreSQL storage when DAGSTER_PG_URL is set)."""
    from flowsync_pipelines.instance import prepare_dagster_home

    target = prepare_dagster_home(home.resolve())
    typer.echo(f"Dagster instance configuration: {target}")


@app.command("import")
def import_(
    since: Annotated[str, typer.Option(help="First day to import, YYYY-MM-DD (>= start_date)")],
    until: Annotated[
        str | None, typer.Option(help="Last day to import, YYYY-MM-DD (default: yesterday)")
    ] = None,
    window: Annotated[
        str,
        typer.Option(help="Days per run: all (one run), year or month (one single run per window)"),
    ] = "year",
) -> None:
    """Import history: every asset over SINCE … UNTIL, one run per month or year, then the daily
    partitions take over. Prints progress per window, then a JSON report (timings; events dated
    before start_date or after UNTIL, which the windows do not keep)."""
    import json
    import os
    from datetime import UTC, date, datetime, timedelta

    import dagster as dg

    from flowsync_pipelines.definitions import build_definitions
    from flowsync_pipelines.history import check_range, import_history

    if window not in ("all", "month", "year"):
        raise typer.BadParameter(f"--window is all, year or month, not {window!r}")
    try:
        first = date.fromisoformat(since)
        last = date.fromisoformat(until) if until else datetime.now(UTC).date() - timedelta(days=1)
    except ValueError as err:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {err}") from err
    defs = build_definitions()
    try:
        check_range(defs, first, last)
    except ValueError as err:
        typer.echo(f"flowsync import: {err}", err=True)
        raise typer.Exit(2) from err
    persistent = bool(os.environ.get(DAGSTER_HOME_ENV))
    if not persistent:
        typer.echo("DAGSTER_HOME is not set: runs are recorded in a temporary instance", err=True)
    with dg.DagsterInstance.get() if persistent else dg.DagsterInstance.ephemeral() as instance:
        report = import_history(
            defs,
            instance,
            since=first,
            until=last,
            window=window,  # type: ignore[arg-type]
            progress=lambda line: typer.echo(line, err=True),
        )
    typer.echo(json.dumps(report.as_dict(), indent=2))
    if not report.success:
        raise typer.Exit(1)


@app.command()
def deliver(
    retry_failed: Annotated[
        bool, typer.Option(help="Give rows that failed another round of attempts first")
    ] = False,
    rounds: Annotated[int, typer.Option(help="Passes over the pending rows (retries)")] = 8,
) -> None:
    """Send the digests waiting in the outbox (Slack, email, Teams, files), each exactly once.

    Channels are configured by env vars (FLOWSYNC_SLACK_TOKEN, FLOWSYNC_SLACK_BASE_URL,
    FLOWSYNC_SMTP_HOST, …; see the README); a channel without settings keeps its rows pending.
    """

    from flowsync_pipelines.delivery.outbox import Outbox, OutboxRow
    from flowsync_pipelines.delivery.send import deliver_pending
    from flowsync_pipelines.delivery.senders import DeliverySettings
    from flowsync_pipelines.metadata import MetadataStore
    from flowsync_pipelines.settings import Paths, load_config

    paths = Paths(home=flowsync_home())
    try:
        config = load_config()
    except ValueError as err:
        typer.echo(f"flowsync deliver: {err}", err=True)
        raise typer.Exit(2) from err
    store = MetadataStore(paths.metadata_url)
    try:
        outbox = Outbox(store)
        if retry_failed:
            typer.echo(f"requeued {outbox.requeue_failed()} failed rows", err=True)
        total = len(outbox.pending())
        typer.echo(f"{total} digests pending", err=True)
        done = 0

        def progress(row: OutboxRow, outcome: str) -> None:
            nonlocal done
            if outcome in ("sent", "found", "failed"):
                done += 1
            typer.echo(
                f"[{done}/{total}] {outcome:<8} {row.channel:<8} {row.day} {row.subscription_id}",
                err=True,
            )

        report = deliver_pending(
            outbox,
            {s.id: s for s in config.digests},
            DeliverySettings.from_env().senders(paths.outbox),
            rounds=rounds,
            progress=progress,
        )
        counts = outbox.counts()
    finally:
        store.dispose()
    typer.echo(
        " ".join(f"{k}={v}" for k, v in report.as_dict().items())
        + " | outbox: "
        + " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    )
    if counts.get("failed"):
        raise typer.Exit(1)


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8765,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 7,
    days: Annotated[int, typer.Option(help="Days of simulated activity")] = 60,
    start: Annotated[
        str | None, typer.Option(help="First simulated day, YYYY-MM-DD (default: the demo's)")
    ] = None,
) -> None:
    """Serve the demo organisation's tool APIs until interrupted."""
    from datetime import UTC, datetime

    from flowsync_pipelines.sandbox import serve
    from flowsync_pipelines.simulator import build_world

    first = {} if start is None else {"start": datetime.fromisoformat(start).replace(tzinfo=UTC)}
    serve(build_world(seed=seed, days=days, **first), host=host, port=port)


if __name__ == "__main__":
    app()
