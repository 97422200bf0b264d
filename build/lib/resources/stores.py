"""Resources for FlowSync's own stores: landing zone, DuckDB warehouse, metadata store, outbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from flowsync_pipelines import warehouse
from flowsync_pipelines.audit import AuditLog
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.settings import FlowSyncConfig, load_config


class LandingResource(dg.ConfigurableResource):
    """The append-only Parquet landing zone."""

    root: str

    def store(self) -> LandingStore:
        return LandingStore(Path(self.root))


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file holding signals, quarantine and role views."""

    path: str

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(Path(self.path), read_only=read_only) as con:
            yield con


class MetadataResource(dg.ConfigurableResource):
    """Sync state and the identity vault: SQLite by default, PostgreSQL by URL."""

    url: str = Field(description="SQLAlchemy URL, e.g. sqlite:////…/metadata.sqlite")

    def store(self) -> MetadataStore:
        return MetadataStore(self.url)


class PrivacyResource(dg.ConfigurableResource):
    """Holds the pseudonymisation key; pass it as dg.EnvVar('FLOWSYNC_PSEUDONYM_KEY')."""

    pseudonym_key: str


class AuditResource(dg.ConfigurableResource):
    """The signed audit log in the metadata store.

    Pass ``signing_key=dg.EnvVar("FLOWSYNC_SIGNING_KEY")``: the Ed25519 private key, as base64 of
    its 32 raw bytes (``flowsync keys generate``) or PEM. It is never logged or shown.
    """

    metadata_url: str = Field(description="SQLAlchemy URL of the metadata store")
    signing_key: str = Field(description="Ed25519 private key (base64 of 32 bytes, or PEM)")
    public_key_file: str | None = Field(
        default=None,
        description="Where the public key is published, e.g. $FLOWSYNC_HOME/audit_public_key.pem",
    )

    def log(self, store: MetadataStore) -> AuditLog:
        """The log, writing through ``store``'s engine (dispose the store when done)."""
        return AuditLog(
            store.engine,
            self.signing_key,
            public_key_file=Path(self.public_key_file) if self.public_key_file else None,
        )

    @contextmanager
    def open(self) -> Iterator[AuditLog]:
        """The log on its own connection to the metadata store, closed when the block ends."""
        store = MetadataStore(self.metadata_url)
        try:
            yield self.log(store)
        finally:
            store.dispose()


class OutboxResource(dg.ConfigurableResource):
    """Where rendered digests are written before (and whether or not) they are delivered."""

    root: str

    def path(self) -> Path:
        return Path(self.root)


class OrganisationResource(dg.ConfigurableResource):
    """Teams and digest subscriptions, read from flowsync.yaml when a run needs them."""

    config_path: str

    def config(self) -> FlowSyncConfig:
        return load_config(Path(self.config_path))
