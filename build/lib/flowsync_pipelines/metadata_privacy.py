"""The metadata store's privacy: every table FlowSync keeps there, and the identity vault.

Two stores behind :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`:

- :class:`MetadataPrivacy` — every table but the vault, the erasure record and the append-only
  audit log: a value that is an erased pseudonym is nulled, or its row deleted when the column is
  part of the key or NOT NULL (``identity_links``); identifiers inside values (webhook bodies)
  are scrubbed like landing payloads, with their ``*_sha256`` recomputed.
- :class:`IdentityVaultPrivacy` — the vault, where identifiers belong: ``forget`` deletes the
  person's rows last of all (so an interrupted erasure can be re-run and still find the person),
  and the scan flags an erased person found there or in ``flowsync.yaml``.

The audit log, in the same database, has its own: :mod:`flowsync_pipelines.audit.privacy`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from flowsync_pipelines.metadata import AUDIT_TABLES, identity_vault
from flowsync_pipelines.privacy.findings import CONFIG, OUTSIDE, RAW, VAULT
from flowsync_pipelines.privacy.identifiers import IdentifierSet, matches_in_value, scrub_payload
from flowsync_pipelines.privacy.interface import Erasure, Export, Exported, Scan
from flowsync_pipelines.privacy.person import config_memberships
from flowsync_pipelines.privacy.registry import ERASURE_TABLES

# Columns that hold raw tool payloads by contract (the scan's raw zone).
RAW_ZONE_COLUMNS = frozenset({("webhook_deliveries", "body")})
# Dagster's own storage, should its PostgreSQL database be shared with the metadata store:
# not FlowSync's to scan or rewrite.
_DAGSTER_TABLES = frozenset(
    {
        "alembic_version", "asset_check_executions", "asset_daemon_asset_evaluations",
        "asset_event_tags", "asset_keys", "backfill_tags", "bulk_actions", "concurrency_limits",
        "concurrency_slots", "daemon_heartbeats", "dynamic_partitions", "event_logs",
        "instance_info", "instigators", "job_ticks", "jobs", "kvs", "pending_steps", "run_tags",
        "runs", "secondary_indexes", "snapshots",
    }
)  # fmt: skip
# Tables the scan and the scrub leave alone: the vault is where identifiers belong, the erasure
# tables hold digests and pseudonyms by design, the audit log has its own privacy module.
_SKIPPED_METADATA_TABLES = (
    frozenset({identity_vault.name, *(t.name for t in AUDIT_TABLES)})
    | ERASURE_TABLES
    | _DAGSTER_TABLES
)

# Where a match in a metadata value is: ``zone(table, column, matched text)``.
Zone = Callable[[sa.Table, sa.Column, str], str]


def reflected_tables(engine: sa.Engine) -> list[sa.Table]:
    """Every table in the metadata store's database, as it is (sorted by name)."""
    reflected = sa.MetaData()
    reflected.reflect(engine)
    return [t for _, t in sorted(reflected.tables.items())]


def _metadata_tables(engine: sa.Engine) -> list[sa.Table]:
    return [t for t in reflected_tables(engine) if t.name not in _SKIPPED_METADATA_TABLES]


def _is_text(column: sa.Column) -> bool:
    return isinstance(column.type, sa.String | sa.LargeBinary)


def _scrub_stored(
    value: Any, identifiers: IdentifierSet, refs: Mapping[str, str], column: str
) -> Any:
    """A metadata value scrubbed (bytes stay bytes; landing_refs follow rewritten records)."""
    if value is None:
        return None
    as_bytes = isinstance(value, bytes | memoryview)
    if as_bytes:
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return value
    else:
        text = str(value)
    new = scrub_payload(text, identifiers)
    if "landing_ref" in column:
        for old_ref, new_ref in refs.items():
            if old_ref in new:
                new = new.replace(old_ref, new_ref)
    if new == text:
        return value
    return new.encode() if as_bytes else new


def scan_tables(scan: Scan, tables: Iterable[sa.Table], zone: Zone) -> None:
    """Match the identifiers in every text value of ``tables`` (bytes read as UTF-8)."""
    for table in tables:
        texts = [c for c in table.columns if _is_text(c)]
        if not texts:
            continue
        keys = list(table.primary_key.columns)
        with scan.metadata.engine.connect() as conn:
            for row in conn.execute(sa.select(*keys, *texts)).mappings():
                sample = ", ".join(f"{k.name}={row[k.name]}" for k in keys)
                for column in texts:
                    value = row[column.name]
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        try:
                            value = bytes(value).decode("utf-8")
                        except UnicodeDecodeError:
                            continue
                    for matched, kind in matches_in_value(
                        str(value), scan.identifiers, is_json=True
                    ):
                        location = f"{table.name}.{column.name}"
                        where = zone(table, column, matched)
                        scan.found.add("metadata", location, where, matched, kind, sample)


class MetadataPrivacy:
    """The metadata tables' side of :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`."""

    raw_zone = False

    def scan(self, scan: Scan) -> None:
        scan.scanned.append("metadata")
        scan.say("scanning the metadata store …")
        scan_tables(
            scan,
            _metadata_tables(scan.metadata.engine),
            lambda table, column, _: (
                RAW if (table.name, column.name) in RAW_ZONE_COLUMNS else OUTSIDE
            ),
        )

    def forget(self, erasure: Erasure) -> dict[str, int]:
        """Cut the person out of every metadata table but the vault; rows changed."""
        engine = erasure.metadata.engine
        pseudonyms, refs = erasure.pseudonyms, erasure.rewritten_refs
        erasure.say("scrubbing the metadata store …")
        changed_rows = 0
        for table in _metadata_tables(engine):
            if not pseudonyms:
                break
            with engine.begin() as conn:
                for column in (c for c in table.columns if isinstance(c.type, sa.String)):
                    holds = column.in_(list(pseudonyms))
                    if column.primary_key or not column.nullable:
                        done = conn.execute(table.delete().where(holds))
                    else:
                        done = conn.execute(table.update().where(holds).values({column.name: None}))
                    changed_rows += int(done.rowcount or 0)
        for table in _metadata_tables(engine):
            keys = list(table.primary_key.columns)
            key_names = {k.name for k in keys}
            texts = [c for c in table.columns if _is_text(c) and c.name not in key_names]
            if not keys or not texts:
                continue
            with engine.begin() as conn:
                for row in conn.execute(sa.select(*keys, *texts)).mappings().all():
                    values: dict[str, Any] = {}
                    for column in texts:
                        old = row[column.name]
                        new = _scrub_stored(old, erasure.identifiers, refs, column.name)
                        if new is not None and new != old:
                            values[column.name] = new
                            digest_column = f"{column.name}_sha256"
                            if digest_column in table.columns and isinstance(new, bytes | str):
                                raw = new if isinstance(new, bytes) else new.encode()
                                values[digest_column] = hashlib.sha256(raw).hexdigest()
                    if values:
                        conn.execute(
                            table.update().where(*(k == row[k.name] for k in keys)).values(**values)
                        )
                        changed_rows += 1
        return {"metadata_rows": changed_rows}

    def export(self, export: Export) -> Exported:
        # Webhook bodies and the like are raw payloads about many people, as landing's are, and
        # derived tables are keyed by pseudonyms the export lists: nothing to add.
        return Exported()


class IdentityVaultPrivacy:
    """The identity vault's side of :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`."""

    raw_zone = False

    def scan(self, scan: Scan) -> None:
        """The vault and the config may hold identifiers — but not those of an erased person.

        Reported under the metadata store (``metadata:identity_vault``) and ``config``.
        """
        identifiers, found = scan.identifiers, scan.found
        for entry in scan.vault:
            for value in (entry.handle, entry.email, entry.display_name):
                kind = identifiers.whole(value, account_field=True) if value else None
                if kind is not None and kind.erased:
                    found.add(
                        "metadata", "identity_vault", VAULT, value, kind, f"source={entry.source}"
                    )  # type: ignore[arg-type]
        for membership in config_memberships(scan.config):
            for value in (membership.name, membership.email, *membership.handles.values()):
                kind = identifiers.whole(value, account_field=True) if value else None
                if kind is not None and kind.erased:
                    found.add(
                        "config", "teams.members", CONFIG, value, kind, f"team={membership.team}"
                    )  # type: ignore[arg-type]

    def forget(self, erasure: Erasure) -> dict[str, int]:
        """Delete the person's vault rows (registered last: see the module docstring)."""
        if not erasure.pseudonyms:
            return {"vault_rows": 0}
        with erasure.metadata.engine.begin() as conn:
            result = conn.execute(
                identity_vault.delete().where(identity_vault.c.pseudonym.in_(erasure.pseudonyms))
            )
        return {"vault_rows": int(result.rowcount or 0)}

    def export(self, export: Export) -> Exported:
        # The vault rows are the person as found (``Person.vault_entries``), which every export
        # begins with.
        return Exported()
