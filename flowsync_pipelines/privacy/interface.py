"""What every store's privacy module implements, and what it is handed.

Each store FlowSync writes keeps its privacy knowledge beside its own code (``landing_privacy``,
``warehouse_privacy``, ``delivery/outbox_privacy``, ``metadata_privacy``,
``graph/neo4j_privacy``) behind :class:`PrivacyStore`: ``scan``, ``forget`` and ``export``. The
``privacy`` package orchestrates: it finds the person, keeps the erasure record and the audit
entries, and iterates over the registered stores (:data:`.stores.STORES`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flowsync_pipelines.audit.keys import PUBLIC_KEY_FILE
from flowsync_pipelines.env import (
    NEO4J_PASSWORD_ENV,
    NEO4J_URI_ENV,
    NEO4J_USER_ENV,
    PSEUDONYM_KEY_ENV,
    SIGNING_KEY_ENV,
)
from flowsync_pipelines.settings import (
    FlowSyncConfig,
    Paths,
    config_path,
    flowsync_home,
    load_config,
)

if TYPE_CHECKING:
    from flowsync_pipelines.metadata import MetadataStore
    from flowsync_pipelines.privacy.findings import Findings
    from flowsync_pipelines.privacy.identifiers import IdentifierSet
    from flowsync_pipelines.privacy.person import VaultEntry

Progress = Callable[[str], None]


class GdprError(RuntimeError):
    """A GDPR command cannot proceed; the message says why and what to do."""


# -- where the stores are -------------------------------------------------------------------------
@dataclass(frozen=True)
class Stores:
    """Every place FlowSync keeps data, i.e. everywhere export, forget and the scan look."""

    landing: Path
    duckdb: Path
    outbox: Path
    metadata_url: str
    config_file: Path | None = None
    neo4j_uri: str | None = None
    neo4j_auth: tuple[str, str] | None = None
    pseudonym_key: str | None = None  # lets find_person compute pseudonyms the vault lost
    signing_key: str | None = None  # FLOWSYNC_SIGNING_KEY: exports and erasures are audit entries
    audit_public_key: Path | None = None  # where the audit log's public key is published

    @classmethod
    def from_environment(cls) -> Stores:
        """The stores the pipeline uses: FLOWSYNC_HOME, FLOWSYNC_CONFIG, FLOWSYNC_METADATA_URL."""
        paths = Paths(home=flowsync_home())
        return cls.for_paths(paths, config_file=config_path())

    @classmethod
    def for_paths(cls, paths: Paths, *, config_file: Path | None = None) -> Stores:
        user, password = os.environ.get(NEO4J_USER_ENV, "neo4j"), os.environ.get(NEO4J_PASSWORD_ENV)
        return cls(
            landing=paths.landing,
            duckdb=paths.duckdb,
            outbox=paths.outbox,
            metadata_url=paths.metadata_url,
            config_file=config_file,
            neo4j_uri=os.environ.get(NEO4J_URI_ENV) or None,
            neo4j_auth=(user, password) if password else None,
            pseudonym_key=os.environ.get(PSEUDONYM_KEY_ENV) or None,
            signing_key=os.environ.get(SIGNING_KEY_ENV) or None,
            audit_public_key=paths.home / PUBLIC_KEY_FILE,
        )

    def config(self) -> FlowSyncConfig:
        return load_config(self.config_file) if self.config_file else FlowSyncConfig()


# -- what a store is handed -----------------------------------------------------------------------
@dataclass
class Erasure:
    """One erasure, as each store's ``forget`` sees it.

    Stores run in registry order, and a store earlier in it leaves here what later ones need:
    landing the ``landing_ref`` values it rewrote (derived rows and webhook bodies cite them),
    the outbox the digest files it rewrote (the audit entry maps them).
    """

    stores: Stores
    metadata: MetadataStore
    identifiers: IdentifierSet  # the person's identifiers in clear
    with_pseudonyms: IdentifierSet  # the same plus their pseudonyms, for derived stores
    pseudonyms: list[str]
    say: Progress
    rewritten_refs: dict[str, str] = field(default_factory=dict)  # old landing_ref -> new
    rewritten_files: dict[str, str] = field(default_factory=dict)  # SHA-256 before -> after


@dataclass
class Scan:
    """One PII scan, as each store's ``scan`` sees it: stores add findings and say they looked."""

    stores: Stores
    metadata: MetadataStore
    identifiers: IdentifierSet  # every known identifier, flagged erased when it is
    erased: IdentifierSet  # the erased subset: not even the raw zone may hold it
    vault: list[VaultEntry]
    config: FlowSyncConfig
    found: Findings
    say: Progress
    scanned: list[str] = field(default_factory=list)  # store names, in the order searched


@dataclass
class Export:
    """One export (right of access), as each store's ``export`` sees it."""

    stores: Stores
    identifiers: IdentifierSet  # the person's identifiers in clear
    pseudonyms: list[str]
    say: Progress


@dataclass(frozen=True)
class Exported:
    """A store's part of an export: sections of the document and how many items each holds."""

    sections: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class PrivacyStore(Protocol):
    """One store's privacy: what ``flowsync gdpr scan/forget/export`` does to it."""

    # Raw tool payloads by design (landing): the scan may skip it, an export cites it last.
    raw_zone: bool

    def scan(self, scan: Scan) -> None:
        """Add a finding for every identifier in the store; append its name to ``scanned``."""

    def forget(self, erasure: Erasure) -> dict[str, int]:
        """Cut the person out of the store; what changed, by count name (zeros dropped later)."""

    def export(self, export: Export) -> Exported:
        """What the store holds about the person."""


# -- shared by file-based stores ------------------------------------------------------------------
def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Replace ``path`` atomically: write a temporary sibling, fsync, rename, fsync the folder."""
    temporary = path.with_name(f".{path.name}.gdpr-tmp")
    write(temporary)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)  # readers see the old file or the new one, never half
    _fsync_directory(path.parent)
