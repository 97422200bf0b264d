"""``flowsync gdpr``: export, erase and scan personal data from the command line.

The commands read the same environment as the pipeline (``FLOWSYNC_HOME``, ``FLOWSYNC_CONFIG``,
``FLOWSYNC_METADATA_URL``, ``NEO4J_URI``, ``FLOWSYNC_PSEUDONYM_KEY``), print progress on standard
error, and never print an identifier except in the export the data subject asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from flowsync_pipelines.gdpr import Person, Stores

# The gdpr module (Polars, DuckDB, SQLAlchemy) is imported inside each command, so that
# `flowsync --help` and the other commands do not pay for it.

gdpr_app = typer.Typer(
    help="Personal data (GDPR): export what FlowSync holds about a person, erase them, scan.",
    no_args_is_help=True,
)

PersonOption = Annotated[
    str,
    typer.Option(
        "--person",
        help="The person's email address or a tool handle (GitHub login, Jira account id, …).",
    ),
]

EXIT_NOT_FOUND, EXIT_FAILED = 2, 3


def _progress(message: str) -> None:
    typer.echo(message, err=True)


def _stores() -> Stores:
    from flowsync_pipelines.gdpr import Stores

    try:
        stores = Stores.from_environment()
        stores.config()  # a broken flowsync.yaml is reported before any work starts
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    return stores


def _find(stores: Stores, request: str) -> Person:
    from flowsync_pipelines.gdpr import find_person, mask, previous_erasure

    person = find_person(stores, request, progress=_progress)
    if person.found:
        return person
    erasure = previous_erasure(stores, request)
    if erasure is not None:
        typer.echo(
            f"{mask(request)} was erased on {erasure.requested_at:%Y-%m-%d} "
            f"(erasure {erasure.erasure_id}); FlowSync holds nothing more about them.",
            err=True,
        )
        raise typer.Exit(0)
    typer.echo(
        f"No one matches {mask(request)} in the identity vault or in flowsync.yaml. Give an "
        "email address or a tool handle exactly as the tool shows it (any case).",
        err=True,
    )
    raise typer.Exit(EXIT_NOT_FOUND)


def _describe(person: Person) -> str:
    sources = sorted({e.source for e in person.vault_entries})
    teams = sorted({m.team for m in person.memberships})
    return (
        f"{len(person.vault_entries)} vault entries ({', '.join(sources) or 'none'}), "
        f"{len(person.identifiers)} identifiers, {len(person.pseudonyms)} pseudonyms"
        + (f", member of {', '.join(teams)} in flowsync.yaml" if teams else "")
    )


@gdpr_app.command("export")
def export_command(
    person: PersonOption,
    out: Annotated[
        Path | None, typer.Option(help="Write the JSON to this file instead of standard output.")
    ] = None,
) -> None:
    """Write everything FlowSync holds about a person as JSON (right of access)."""
    from flowsync_pipelines.gdpr import GdprError, export_person

    stores = _stores()
    found = _find(stores, person)
    try:
        document = export_person(stores, found, progress=_progress)
    except GdprError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    # Created private: it is one person's data, for them.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in document["counts"].items())
    typer.echo(f"wrote {out}: {counts}", err=True)


@gdpr_app.command("forget")
def forget_command(
    person: PersonOption,
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking to confirm.")] = False,
) -> None:
    """Erase a person from every store and record the erasure (right to erasure)."""
    from flowsync_pipelines.gdpr import GdprError, forget_person, mask

    stores = _stores()
    found = _find(stores, person)
    typer.echo(f"{mask(person)}: {_describe(found)}", err=True)
    if not yes:
        typer.confirm(
            "Erase this person from landing, the warehouse, the outbox, the metadata store"
            + (" and Neo4j" if stores.neo4j_uri else "")
            + "? This cannot be undone.",
            abort=True,
            err=True,
        )
    try:
        report = forget_person(stores, found, progress=_progress)
    except GdprError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    if report.changed:
        changes = ", ".join(f"{k}={v}" for k, v in sorted(report.counts.items()))
        typer.echo(f"erased (erasure {report.erasure_id}): {changes or 'identifiers registered'}")
    else:
        typer.echo(f"nothing left to erase; already erased by erasure {report.previous_erasure_id}")
    if report.config_teams:
        typer.echo(
            f"warning: flowsync.yaml still lists this person in team(s) "
            f"{', '.join(sorted(set(report.config_teams)))}. Remove the member entry: otherwise "
            "the next run re-creates their vault rows and names them in digests.",
            err=True,
        )


@gdpr_app.command("scan")
def scan_command(
    raw_zone: Annotated[
        bool,
        typer.Option(
            "--raw-zone/--no-raw-zone", help="Also search landing (the raw zone); the slow part."
        ),
    ] = True,
    samples: Annotated[int, typer.Option(help="Examples and locations shown per finding.")] = 3,
) -> None:
    """Search every store for personal identifiers; exit 1 when something is where it must not be.

    Identifiers of people not erased are expected in the raw zone (landing) and, as display
    names, in delivered digests; anywhere else — and an erased person's anywhere — is a violation.
    """
    from flowsync_pipelines.gdpr import GdprError, pii_scan

    stores = _stores()
    try:
        report = pii_scan(stores, include_raw_zone=raw_zone, samples=samples, progress=_progress)
    except GdprError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    typer.echo(report.render())
    raise typer.Exit(1 if report.violations else 0)
