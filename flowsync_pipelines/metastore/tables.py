"""Every table of the metadata store (SQLite file by default, PostgreSQL in production), in one
SQLAlchemy ``MetaData``: sync state, identity vault and links, webhook queue, delivery outbox,
erasure record and audit log.

This module is the model; the database follows it only through migrations
(``metastore/migrations/versions``). Change a table here *and* add a migration: the test
``tests/test_metastore.py`` fails while the two disagree. The code that reads and writes each
table lives with its feature and imports the table from here.
"""

from __future__ import annotations

import sqlalchemy as sa

METADATA = sa.MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# -- sync state (flowsync_pipelines.ingest): keyed by source *name* ----------------------------
sync_state = sa.Table(
    "sync_state",
    METADATA,
    sa.Column("source", sa.String, primary_key=True),  # the source's name in flowsync.yaml
    sa.Column("scope", sa.String, primary_key=True),
    sa.Column("endpoint", sa.String, primary_key=True),
    sa.Column("cursor", sa.String),  # newest updated_at durably landed, ISO-8601 UTC
    sa.Column("etag", sa.String),  # validator of the first page, for a conditional re-request
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# -- identity vault (flowsync_pipelines.metadata) and links (flowsync_pipelines.identity) --------
identity_vault = sa.Table(
    "identity_vault",
    METADATA,
    sa.Column("pseudonym", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("handle", sa.String, nullable=False),
    sa.Column("display_name", sa.String),
    sa.Column("email", sa.String),
    sa.Column("actor_kind", sa.String, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Vault side: which person each account belongs to, how sure FlowSync is, and why.
identity_links = sa.Table(
    "identity_links",
    METADATA,
    sa.Column("pseudonym", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("person", sa.String, nullable=False, index=True),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("method", sa.String, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# -- webhook queue (flowsync_pipelines.webhooks.queue) --------------------------------------------
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    METADATA,
    sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(32), nullable=False),  # the source's name in flowsync.yaml
    sa.Column("delivery_id", sa.String(255), nullable=False),
    sa.Column("event_type", sa.String(255), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_day", sa.String(10), nullable=False),  # UTC YYYY-MM-DD: the partition
    sa.Column("headers", sa.Text, nullable=False),  # JSON object of the headers worth keeping
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("body_sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("landing_refs", sa.Text),  # JSON list of landing_ref, once landed
    sa.Column("processed_at", sa.DateTime(timezone=True)),
    # Its type, whose provider reads the delivery (migration 0002; null read as ``source``).
    sa.Column("source_type", sa.String(32)),
    sa.UniqueConstraint("source", "delivery_id", name="uq_webhook_deliveries_source_delivery"),
    sa.Index("ix_webhook_deliveries_state_day", "state", "received_day"),
)

# -- delivery outbox (flowsync_pipelines.delivery.outbox) -----------------------------------------
digest_outbox = sa.Table(
    "digest_outbox",
    METADATA,
    sa.Column("digest_id", sa.String(32), primary_key=True),  # model.digest_id(...)
    sa.Column("subscription_id", sa.String, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),  # the recipient's local day, ISO
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # pending / sent / failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("in_flight", sa.Boolean, nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("lease_owner", sa.String),  # "host:pid" of the process sending it
    sa.Column("last_error", sa.Text),
    sa.Column("provider_id", sa.String),  # Slack "channel/ts", SMTP Message-ID, Teams request
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # canonical JSON of the channel's payload
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("subscription_id", "day", "channel", name="digest_outbox_once"),
    sa.Index("digest_outbox_state", "state"),
)

# -- erasure record (flowsync_pipelines.privacy) ---------------------------------------------------
erasures = sa.Table(
    "erasures",
    METADATA,
    sa.Column("erasure_id", sa.String(32), primary_key=True),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),  # null while (or if) interrupted
    sa.Column("request_digest", sa.String(32), nullable=False),  # salted, like the identifiers
    sa.Column("pseudonyms", sa.Text, nullable=False),  # JSON list of the pseudonyms erased
    sa.Column("identifiers", sa.Integer, nullable=False),  # how many, never which
    sa.Column("counts", sa.Text, nullable=False),  # JSON object: what changed, per store
)

erased_identifiers = sa.Table(
    "erased_identifiers",
    METADATA,
    sa.Column("digest", sa.String(32), primary_key=True),  # blake2b(salt, folded identifier)
    sa.Column("erasure_id", sa.String(32), nullable=False),
    sa.Column("length", sa.Integer, nullable=False),  # lets text matching skip other lengths
    sa.Column("substring", sa.Boolean, nullable=False),  # matched inside text, not only whole
)

erasure_salt = sa.Table(
    "erasure_salt",
    METADATA,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("salt", sa.String(64), nullable=False),
)

# -- the audit log (flowsync_pipelines.audit) -----------------------------------------------------
# Append-only: rows are inserted by AuditLog and never updated or deleted (gdpr leaves them
# alone: they hold pseudonyms and digests, never identifiers). UNIQUE seq and prev_hash make a
# fork impossible; audit_head is the row appenders lock and the last entry's record.
audit_log = sa.Table(
    "audit_log",
    METADATA,
    sa.Column("seq", _BIGINT, primary_key=True, autoincrement=False),  # 1, 2, 3, … no gaps
    sa.Column("at", sa.String(32), nullable=False),  # UTC, 2026-09-01T05:00:00.000000Z
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # canonical JSON
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("signature", sa.String(128), nullable=False),  # Ed25519 over entry_hash, hex
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Index("audit_log_kind_subject_seq", "kind", "subject", "seq"),
)

audit_head = sa.Table(
    "audit_head",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("seq", _BIGINT, nullable=False),  # 0 before the first entry
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(16)),  # the key that signs the next entry
)

audit_keys = sa.Table(  # the public keys, published beside the log
    "audit_keys",
    METADATA,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("public_key", sa.Text, nullable=False),  # PEM
    sa.Column("introduced_seq", _BIGINT, nullable=False),
    sa.Column("retired_seq", _BIGINT),
)
