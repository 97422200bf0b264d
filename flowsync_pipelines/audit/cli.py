"""``flowsync verify`` and ``flowsync keys``: check the audit log, make and rotate signing keys.

They read the pipeline's environment: ``FLOWSYNC_HOME`` (where ``audit_public_key.pem`` is
published), ``FLOWSYNC_METADATA_URL`` (else ``$FLOWSYNC_HOME/metadata.sqlite``) and, to sign,
``FLOWSYNC_SIGNING_KEY``. Keys are never printed except by ``keys generate``, whose output is
the new key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from flowsync_pipelines.env import NEW_SIGNING_KEY_ENV, SIGNING_KEY_ENV
from flowsync_pipelines.settings import Paths

keys_app = typer.Typer(help="Signing keys of the audit log.", no_args_is_help=True)


def _metadata_url(home: Path) -> str:
    return Paths(home=home).metadata_url


def verify_command(
    target: Annotated[
        str | None,
        typer.Argument(help="A statement id or a digest file; omit with --all."),
    ] = None,
    all_entries: Annotated[
        bool, typer.Option("--all", help="Verify the whole chain and every signature.")
    ] = False,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="The published public key (default $FLOWSYNC_HOME/audit_public_key.pem)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes checking signatures (default: up to 2).")
    ] = None,
    chain_only: Annotated[
        bool,
        typer.Option(
            "--chain-only", help="With --all: check the chain and signatures, re-derive nothing."
        ),
    ] = False,
) -> None:
    """Verify the audit log: print OK, or each difference (entry, field, expected, found).

    The chain and signatures first; then each statement is re-derived from the landing records
    its evidence came from (their payload hashes checked, re-normalised, recomputed) and each
    digest file checked against its logged hash. Exit status 0 when everything verifies, 1
    otherwise.
    """
    from flowsync_pipelines.audit.keys import PUBLIC_KEY_FILE, read_published_key
    from flowsync_pipelines.audit.verify import (
        VerifyContext,
        load_rederivers,
        rederive_log,
        verify_digest_file,
        verify_log,
        verify_statement,
    )
    from flowsync_pipelines.metadata import MetadataStore
    from flowsync_pipelines.settings import Paths, flowsync_home

    if all_entries == (target is not None):
        typer.echo("error: give a statement id or a digest file, or --all (not both)", err=True)
        raise typer.Exit(2)
    home = flowsync_home()
    store = MetadataStore(_metadata_url(home))
    try:
        if all_entries:
            key_file = public_key or home / PUBLIC_KEY_FILE
            published = read_published_key(key_file)
            if published is None:
                typer.echo(
                    f"warning: no public key published at {key_file}; the log is checked "
                    "against the key its first entry names",
                    err=True,
                )
            report = verify_log(store.engine, published_key=published, workers=workers)
            if not chain_only:
                load_rederivers()
                derived = rederive_log(store.engine, VerifyContext(engine=store.engine, home=home))
                report.problems += derived.problems
                report.rederived, report.notes = derived.rederived, derived.notes
        else:
            assert target is not None
            load_rederivers()
            context = VerifyContext(engine=store.engine, home=home)
            path = Path(target)
            if path.is_file():
                report = verify_digest_file(
                    store.engine, path, outbox=Paths(home=home).outbox, context=context
                )
            else:
                report = verify_statement(store.engine, target, context=context)
    finally:
        store.dispose()
    typer.echo(report.render())
    raise typer.Exit(0 if report.ok else 1)


@keys_app.command("generate")
def generate_command() -> None:
    """Print a new Ed25519 signing key (base64) for FLOWSYNC_SIGNING_KEY; keep it secret."""
    from flowsync_pipelines.audit.chain import key_id
    from flowsync_pipelines.audit.keys import generate_signing_key, load_signing_key, public_bytes

    key = generate_signing_key()
    typer.echo(f"key id {key_id(public_bytes(load_signing_key(key)))}", err=True)
    typer.echo(key)


@keys_app.command("rotate")
def rotate_command(
    new_key_env: Annotated[
        str, typer.Option(help="The env var holding the new key (`flowsync keys generate`).")
    ] = NEW_SIGNING_KEY_ENV,
) -> None:
    """Hand the audit log over to a new key: an entry signed by the current key names it.

    Then put the new key in FLOWSYNC_SIGNING_KEY; the public key is republished beside the log.
    """
    from flowsync_pipelines.audit.keys import PUBLIC_KEY_FILE, SigningKeyError
    from flowsync_pipelines.audit.log import AuditError, AuditLog
    from flowsync_pipelines.metadata import MetadataStore
    from flowsync_pipelines.settings import flowsync_home

    current, new = os.environ.get(SIGNING_KEY_ENV), os.environ.get(new_key_env)
    if not current or not new:
        missing = SIGNING_KEY_ENV if not current else new_key_env
        typer.echo(f"error: {missing} is not set", err=True)
        raise typer.Exit(2)
    home = flowsync_home()
    store = MetadataStore(_metadata_url(home))
    try:
        log = AuditLog(store.engine, current, public_key_file=home / PUBLIC_KEY_FILE)
        old_id = log.key_id
        entry = log.rotate(new)
    except (AuditError, SigningKeyError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    finally:
        store.dispose()
    typer.echo(
        f"rotated: key {old_id} -> {log.key_id} (entry {entry.seq}); "
        f"now set {SIGNING_KEY_ENV} to the new key"
    )
