"""The PII scan: every registered store searched for known and erased identifiers.

Known identifiers are the vault's handles, emails and display names plus the members' names,
emails and handles in ``flowsync.yaml`` (bots and strings under 4 characters skipped), and the
salted digests of every erased identifier. Each store reports what it finds, by zone
(:mod:`flowsync_pipelines.privacy.findings`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.privacy import stores as privacy_stores
from flowsync_pipelines.privacy.findings import Findings, ScanReport
from flowsync_pipelines.privacy.identifiers import IdentifierKind, IdentifierSet, is_erased
from flowsync_pipelines.privacy.interface import Progress, Scan, Stores
from flowsync_pipelines.privacy.person import VaultEntry, config_memberships, read_vault
from flowsync_pipelines.privacy.registry import ErasureRegistry
from flowsync_pipelines.settings import FlowSyncConfig


def _known_identifiers(
    vault: Sequence[VaultEntry], config: FlowSyncConfig, registry: ErasureRegistry
) -> IdentifierSet:
    """Vault and config identifiers in clear, flagged erased when their digest is registered."""
    plain: dict[str, IdentifierKind] = {}
    names: set[str] = set()
    values: set[str] = set()
    for entry in vault:
        if entry.actor_kind == "bot":
            continue
        values.add(entry.handle)
        if entry.email:
            values.add(entry.email)
        if entry.display_name:
            names.add(entry.display_name)
    for membership in config_memberships(config):
        values.update(membership.handles.values())
        if membership.email:
            values.add(membership.email)
        names.add(membership.name)
    registered = registry.identifiers()
    for value in values | names:
        plain[value] = IdentifierKind(erased=value in registered, name=value in names)
    for value in registry.erased_pseudonyms():
        plain[value] = IdentifierKind(erased=True)
    return registry.identifiers(plain)


def pii_scan(
    stores: Stores,
    *,
    include_raw_zone: bool = True,
    samples: int = 3,
    progress: Progress | None = None,
) -> ScanReport:
    """Search every store for personal identifiers outside the vault.

    Args:
        stores: where to look (Neo4j only when ``stores.neo4j_uri`` is set).
        include_raw_zone: also search landing (the slowest part; the asset check skips it).
        samples: masked identifiers and sample locations kept per finding.

    Returns:
        findings per store and location with counts, zone, masked examples and locations.
    """
    started = time.perf_counter()
    store = MetadataStore(stores.metadata_url)
    try:
        registry = ErasureRegistry(store.engine)
        vault = read_vault(store)
        config = stores.config()
        identifiers = _known_identifiers(vault, config, registry)
        scan = Scan(
            stores=stores,
            metadata=store,
            identifiers=identifiers,
            erased=_erased_only(identifiers, registry),
            vault=vault,
            config=config,
            found=Findings(samples),
            say=progress or (lambda _: None),
        )
        for privacy in privacy_stores.STORES:
            if privacy.raw_zone and not include_raw_zone:
                continue
            privacy.scan(scan)
        known = len(identifiers.patterns())
        erased_count = len(registry.entries())
    finally:
        store.dispose()
    return ScanReport(
        findings=list(scan.found.by_key.values()),
        stores_scanned=scan.scanned,
        known_identifiers=known,
        erased_identifiers=erased_count,
        seconds=time.perf_counter() - started,
    )


def _erased_only(identifiers: IdentifierSet, registry: ErasureRegistry) -> IdentifierSet:
    """The erased subset: what must not be in the raw zone either."""
    plain = {
        p: IdentifierKind(erased=True) for p in identifiers.patterns() if is_erased(identifiers, p)
    }
    return registry.identifiers(plain)
