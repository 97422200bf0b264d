"""GDPR: export what FlowSync holds about a person, erase them, and scan every store for PII.

A pure core (no Dagster): ``flowsync gdpr …`` (:mod:`flowsync_pipelines.gdpr_cli`) and the
``pii_scan`` asset check (:mod:`assets.privacy`) are thin wrappers around these functions.

Who a person is
---------------
:func:`find_person` starts from one email address or tool handle and collects, until nothing
new turns up: every identity vault row whose handle or email matches; the team-member entry of
``flowsync.yaml`` that names them (all its handles); vault rows sharing any of those emails; the
accounts identity resolution linked to the same person (``identity_links``, e.g. a Figma account
known only by its display name); and the addresses GitHub commits show next to their login or,
unlinked, next to their name (the vault keeps one email per account, so a second commit address
would otherwise survive an erasure). An address's local part counts as an identifier too
(Jenkins shows ``41895518+login`` as a user id). Bot accounts are never part of a person.

How an identifier is matched
----------------------------
Case-insensitively, and only on word boundaries: ``jdoe`` matches in ``jdoe``,
``https://github.com/jdoe/followers`` and ``jdoe-patch-1`` but not in ``jdoelle``. Inside JSON,
matching runs on decoded string values (and keys), never on the raw text, so escapes cannot hide
an identifier and a replacement can never break the document. Identifiers shorter than
:data:`MIN_IDENTIFIER_LENGTH` characters are too common to search for in text; they are only
matched as the entire value of an account field (``login``, ``accountId``, ``email``…).

What ``forget`` does, store by store
------------------------------------
- **erasure record** first: salted digests of the person's identifiers go into the metadata
  store (table ``erased_identifiers``; the identifiers themselves are never stored), so any sync
  that runs from then on scrubs re-fetched records at landing time (:func:`scrub_erased`) —
  the tools still hold the data, and the next sync would land it again. ``erasures`` keeps the
  erasure id, times, erased pseudonyms and counts per store.
- **landing** (raw zone): every Parquet file holding an identifier is rewritten atomically
  (temporary file, fsync, rename). In JSON payloads an account field that *is* the identifier
  becomes what the tool itself sends for an account that no longer exists — ``login`` /
  ``username`` become GitHub's and GitLab's ``ghost``, ``accountId`` and email fields become
  null, and the account object's ``id``/``node_id``/avatar become null (also when the object
  is recognised by the person's display name, as Figma's ``{id, handle}``) — so re-normalising
  the scrubbed landing yields no pseudonym at all. Any other occurrence (URLs, names, free
  text) becomes ``[erased]``. ``payload_sha256`` and ``landing_ref`` are recomputed for changed
  rows, and the ``landing_ref`` of derived DuckDB rows is updated, so every citation resolves.
- **DuckDB**: a column equal to an erased pseudonym becomes NULL (``signals.actor`` with
  ``actor_kind = 'erased'``, so an analyst sees why the actor is missing rather than a silent
  gap; NOT NULL columns such as ``team_members.actor`` lose the row), a JSON value equal to it
  becomes null (``attributes.assignee``), and identifiers or pseudonyms inside any text are
  replaced by ``[erased]``. Events and counts stay: they are facts about the team's work, only
  the link to the person is cut (NULL, not a shared "erased" pseudonym, so the erased person's
  events cannot be grouped back together). When that changed any row, the stored models of the
  predicted statements (``statement_models``) are dropped: their features hold no pseudonym,
  but they were fitted on data that held the person; the next run refits on the scrubbed data.
- **outbox**: identifiers and display names in rendered digests become ``[erased]`` (JSON files
  are rewritten as JSON, in their own layout).
- **metadata store**: the person's vault rows are deleted — last, so an interrupted erasure can
  be re-run and still find the person; rows keyed by an erased pseudonym in other tables go
  (``identity_links``); identifiers in other tables (e.g. webhook bodies) are scrubbed like
  landing payloads, with their ``*_sha256`` recomputed.
- **Neo4j** (when ``NEO4J_URI`` is set): person nodes keyed by an erased pseudonym are
  detach-deleted, other properties equal to it are removed, identifiers in strings scrubbed.

Running ``forget`` again for the same person changes nothing and records nothing. If
``flowsync.yaml`` still lists the person as a team member, the next run re-creates their vault
rows and names them in digests: remove the entry (FlowSync does not edit the admin's file);
:func:`pii_scan` reports an erased person found in the vault as a violation.

The PII scan
------------
Known identifiers are the vault's handles, emails and display names plus the members'
names, emails and handles in ``flowsync.yaml`` (bots and strings under 4 characters skipped),
and the salted digests of every erased identifier. :func:`pii_scan` searches landing, every
VARCHAR/JSON/list column of every DuckDB table, the outbox, every metadata-store table but the
vault, and Neo4j node and relationship string properties. Zones:

- *raw zone (allowed)*: landing payloads, quarantine payloads and webhook bodies hold
  identifiers of people not erased — that is what "raw" means;
- *delivered digests (names allowed)*: digests name people to the roles allowed to see them;
  display names there are expected, logins and emails are not;
- everything else must be clean, and an erased person's identifiers are a violation anywhere
  (the vault included) — only ``flowsync.yaml``, the admin's own input, is merely reported.

Findings never show an identifier in full (``j***@acme.example``).

Rotating the pseudonymisation key (``FLOWSYNC_PSEUDONYM_KEY``)
------------------------------------------------------------
A pseudonym is ``HMAC(key, "<source>:<handle>")``: whoever holds the key and guesses a login can
confirm its pseudonym. Rotate when the key may have leaked, when someone who held it leaves, or
on a schedule. Because landing is raw (it holds handles, not pseudonyms), everything keyed by the
old key can be re-derived without asking the tools again:

1. Pause schedules and sensors and let running runs finish; back up the DuckDB file and the
   metadata store.
2. Generate a new key (``python -c "import secrets; print(secrets.token_hex(32))"``) and put it
   in the secret store as the new ``FLOWSYNC_PSEUDONYM_KEY``.
3. Re-key the vault: for every ``identity_vault`` row insert ``pseudonym(new_key, source,
   handle)`` with the same columns and delete the old row, in one transaction (the vault holds
   the handle, so this needs neither the old key nor landing).
4. Rebuild everything derived: remove the DuckDB file (signals, quarantine, identities, role
   views, current-state tables) and re-materialise every partition from landing in one backfill
   (``BackfillPolicy.single_run``); clear the FlowSync graph in Neo4j and re-mirror it. The same
   run rebuilds ``team_members`` from ``flowsync.yaml`` and ``identity_links`` (person
   pseudonyms are keyed too) in the metadata store.
5. Destroy the old key (delete the secret version and any copies). From then on, old
   pseudonyms in backups, exports or logs can no longer be linked to anyone.

What stays valid: landing and its ``landing_ref`` citations, event ids (they hold no actor),
statement evidence and digest citations, sync cursors, the outbox (it holds names, not
pseudonyms), and the erasure record — its digests use their own salt, not the pseudonym key, so
erased people stay erased. What changes: every pseudonym (``signals.actor``,
``attributes.assignee``, ``@p_…`` mentions in titles, role views, graph person nodes); the
pseudonyms listed in ``erasures`` and in earlier exports become unlinkable, as intended.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl
import sqlalchemy as sa

from flowsync_pipelines import warehouse
from flowsync_pipelines.audit.keys import PUBLIC_KEY_FILE
from flowsync_pipelines.env import (
    METADATA_URL_ENV,
    NEO4J_PASSWORD_ENV,
    NEO4J_URI_ENV,
    NEO4J_USER_ENV,
    PSEUDONYM_KEY_ENV,
    SIGNING_KEY_ENV,
)
from flowsync_pipelines.identity import identity_links
from flowsync_pipelines.landing import LandingStore, canonical_json
from flowsync_pipelines.metadata import MetadataStore, identity_vault
from flowsync_pipelines.metastore import upgrade
from flowsync_pipelines.metastore.tables import erased_identifiers as erased_identifiers_table
from flowsync_pipelines.metastore.tables import erasure_salt, erasures
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import (
    FlowSyncConfig,
    Paths,
    config_path,
    flowsync_home,
    load_config,
)
from flowsync_pipelines.statements.store import forget_models

Progress = Callable[[str], None]

ERASED = "[erased]"
GHOST_LOGIN = "ghost"  # what GitHub and GitLab show in place of an account that no longer exists
MIN_IDENTIFIER_LENGTH = 4
_PLACEHOLDERS = frozenset({ERASED, GHOST_LOGIN})

# The environment the pipeline reads (see definitions.py); repeated here so that the CLI does
# not import the Dagster definitions, which build themselves at import.

# Member fields of flowsync.yaml that hold a tool handle, by source type.
MEMBER_HANDLE_FIELDS = ("github", "gitlab", "jira", "linear", "figma", "sentry")

# JSON keys whose value names an account. When the whole value is an erased identifier the
# object is that account: the keys below get what a tool sends for a vanished account.
ACCOUNT_KEYS = frozenset({"login", "username", "accountId", "account_id", "email", "emailAddress"})
_GHOSTED_KEYS = frozenset({"login", "username"})
_NULLED_KEYS = frozenset({"accountId", "account_id", "email", "emailAddress"})
# A user object that shows the person's display name is theirs too (Figma's user is only
# ``{id, handle}``, with the display name as ``handle``); its account id then goes as well.
_NAME_KEYS = frozenset({"name", "displayName", "display_name", "fullName", "handle"})
_ACCOUNT_DETAIL_KEYS = frozenset({"id", "node_id", "avatar_url", "gravatar_id", "img_url"})

LANDING_TEXT_COLUMNS = ("scope", "record_id", "request")

# Zones a finding can be in; only OUTSIDE (and an erased person anywhere but CONFIG) fails.
RAW = "raw zone (allowed)"
DELIVERED = "delivered digests (names allowed)"
VAULT = "identity vault"
CONFIG = "flowsync.yaml (admin input)"
OUTSIDE = "outside the vault"
AUDIT = "audit log (pseudonyms allowed)"  # signed and append-only: erasure cannot rewrite it

# Columns that hold raw tool payloads by contract, wherever they are stored.
RAW_ZONE_COLUMNS = frozenset(
    {("duckdb", "quarantine", "payload"), ("metadata", "webhook_deliveries", "body")}
)
# Metadata tables the scan and the scrub leave alone: the vault is where identifiers belong,
# the erasure tables hold digests and pseudonyms by design.
_PRIVACY_TABLES = frozenset({"erasures", "erased_identifiers", "erasure_salt"})
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
_SKIPPED_METADATA_TABLES = frozenset({"identity_vault"}) | _PRIVACY_TABLES | _DAGSTER_TABLES
# The signed audit log is append-only: erasure never rewrites it (that would break its chain).
# It holds pseudonyms and digests, never identifiers — the scan checks that — and the erasure
# itself is an entry there, so a statement about an erased person still verifies.
_APPEND_ONLY_TABLES = frozenset({"audit_log", "audit_head", "audit_keys"})

_WORD_START = re.compile(r"(?<![^\W_])[^\W_]")
_WORD_END = re.compile(r"[^\W_](?![^\W_])")


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
            metadata_url=os.environ.get(METADATA_URL_ENV) or f"sqlite:///{paths.metadata}",
            config_file=config_file,
            neo4j_uri=os.environ.get(NEO4J_URI_ENV) or None,
            neo4j_auth=(user, password) if password else None,
            pseudonym_key=os.environ.get(PSEUDONYM_KEY_ENV) or None,
            signing_key=os.environ.get(SIGNING_KEY_ENV) or None,
            audit_public_key=paths.home / PUBLIC_KEY_FILE,
        )

    def config(self) -> FlowSyncConfig:
        return load_config(self.config_file) if self.config_file else FlowSyncConfig()


# -- matching identifiers in text -----------------------------------------------------------------
def fold(text: str) -> str:
    """Lower-case ``text`` keeping its length, so positions in the result map back to ``text``."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _substring_eligible(folded: str) -> bool:
    return len(folded) >= MIN_IDENTIFIER_LENGTH and folded[0].isalnum() and folded[-1].isalnum()


def _digest(salt: bytes, folded: str) -> str:
    return hashlib.blake2b(folded.encode(), key=salt, digest_size=16).hexdigest()


@dataclass(frozen=True)
class IdentifierKind:
    """What a matched identifier is: an erased person's, and/or a display name."""

    erased: bool
    name: bool = False


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    kind: IdentifierKind


class IdentifierSet:
    """Personal identifiers to find in text: in clear and/or as salted digests.

    In clear for the scan and for ``forget`` (the person is known); as digests for the erasure
    registry, which must recognise an erased person's identifiers without storing them. Both
    are matched by the same code, so landing-time scrubbing of a re-fetched record produces
    exactly the bytes ``forget`` wrote, and landing's de-duplication absorbs it.
    """

    def __init__(
        self,
        plain: Mapping[str, IdentifierKind] | None = None,
        *,
        salt: bytes | None = None,
        digests: Iterable[tuple[str, int, bool]] = (),
        min_length: int = MIN_IDENTIFIER_LENGTH,
    ) -> None:
        self._plain: dict[str, IdentifierKind] = {}
        for identifier, kind in (plain or {}).items():
            folded = fold(identifier.strip())
            if len(folded) < min_length or folded in _PLACEHOLDERS:
                continue
            known = self._plain.get(folded)
            # Erased wins, and a string that is both a name and a handle is not "just a name".
            self._plain[folded] = IdentifierKind(
                erased=kind.erased or bool(known and known.erased),
                name=kind.name and (known is None or known.name),
            )
        entries = list(digests)
        self._salt = salt
        self._digests = frozenset(d for d, _, _ in entries)
        if self._digests and salt is None:
            raise ValueError("digests need the salt they were made with")
        lengths = {len(k) for k in self._plain if _substring_eligible(k)}
        lengths |= {length for _, length, substring in entries if substring}
        self._lengths = sorted(lengths, reverse=True)  # longest first: "a.b@x.io" before "a.b"
        self._cache: dict[tuple[str, bool], tuple[Match, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._plain or self._digests)

    def __len__(self) -> int:
        return len(self._plain) + len(self._digests)

    def __contains__(self, identifier: object) -> bool:
        return isinstance(identifier, str) and self.kind(fold(identifier.strip())) is not None

    def patterns(self) -> list[str]:
        """Identifiers in clear (folded), for a vectorised substring pre-filter."""
        return sorted(self._plain)

    @property
    def has_digests(self) -> bool:
        return bool(self._digests)

    def kind(self, folded: str) -> IdentifierKind | None:
        """What ``folded`` is, when it is exactly one of the identifiers; else None."""
        found = self._plain.get(folded)
        if found is not None:
            return found
        if self._digests and _digest(self._salt, folded) in self._digests:  # type: ignore[arg-type]
            return IdentifierKind(erased=True)
        return None

    def whole(self, text: str, *, account_field: bool = False) -> IdentifierKind | None:
        """The identifier ``text`` is in its entirety (short ones only in an account field)."""
        folded = fold(text.strip())
        if not folded or (len(folded) < MIN_IDENTIFIER_LENGTH and not account_field):
            return None
        return self.kind(folded)

    def find(self, text: str, *, account_field: bool = False) -> tuple[Match, ...]:
        """Non-overlapping occurrences in ``text`` on word boundaries, longest first."""
        key = (text, account_field)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        whole = self.whole(text, account_field=account_field)
        if whole is not None:
            result: tuple[Match, ...] = (Match(0, len(text), whole),)
        else:
            result = self._find_parts(text)
        if len(self._cache) > 500_000:
            self._cache.clear()
        self._cache[key] = result
        return result

    def _find_parts(self, text: str) -> tuple[Match, ...]:
        if not self._lengths or len(text) < self._lengths[-1]:
            return ()
        folded = fold(text)
        ends = {m.end() for m in _WORD_END.finditer(folded)}
        found: list[Match] = []
        free_from = 0
        for start_match in _WORD_START.finditer(folded):
            start = start_match.start()
            if start < free_from:
                continue
            for length in self._lengths:
                end = start + length
                if end in ends and (kind := self.kind(folded[start:end])) is not None:
                    found.append(Match(start, end, kind))
                    free_from = end
                    break
        return tuple(found)


def mask(text: str) -> str:
    """An identifier shown without giving it away: ``j***@acme.example``, ``G*** O***``."""
    text = text.strip()
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    words = text.split()
    if len(words) > 1:
        return " ".join(f"{w[:1]}***" for w in words)
    return f"{text[:1]}***{text[-1:]}" if len(text) > 3 else "***"


# -- scrubbing ------------------------------------------------------------------------------------
def scrub_text(text: str, identifiers: IdentifierSet) -> str:
    """``text`` with every identifier occurrence replaced by ``[erased]``."""
    return _replace(text, identifiers.find(text))


def _replace(text: str, matches: Sequence[Match]) -> str:
    if not matches:
        return text
    parts: list[str] = []
    last = 0
    for match in matches:
        parts += [text[last : match.start], ERASED]
        last = match.end
    return "".join(parts) + text[last:]


def _scrub_string(text: str, identifiers: IdentifierSet, key: str | None) -> str | None:
    if identifiers.whole(text, account_field=key in ACCOUNT_KEYS) is not None:
        if key in _GHOSTED_KEYS:
            return GHOST_LOGIN
        if key in _NULLED_KEYS:
            return None
        return ERASED
    return scrub_text(text, identifiers)


def _scrub_json(value: Any, identifiers: IdentifierSet, key: str | None = None) -> Any:
    """A copy of ``value`` with identifiers scrubbed (the same object when nothing matched)."""
    if isinstance(value, str):
        return _scrub_string(value, identifiers, key)
    if isinstance(value, list):
        items = [_scrub_json(item, identifiers, key) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    is_account = any(
        k in ACCOUNT_KEYS | _NAME_KEYS
        and isinstance(v, str)
        and identifiers.whole(v, account_field=k in ACCOUNT_KEYS) is not None
        for k, v in value.items()
    )
    out: dict[Any, Any] = {}
    changed = False
    for k, v in value.items():
        new_key = scrub_text(k, identifiers) if isinstance(k, str) else k
        while new_key in out:  # two keys scrubbed to the same text: keep both values
            new_key = f"{new_key}~"
        if is_account and k in _ACCOUNT_DETAIL_KEYS and v is not None:
            new_value = None
        else:
            new_value = _scrub_json(v, identifiers, k if isinstance(k, str) else None)
        changed = changed or new_key != k or new_value is not v
        out[new_key] = new_value
    return out if changed else value


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # integers beyond 64 bits, which orjson refuses


def scrub_payload(text: str, identifiers: IdentifierSet) -> str:
    """A landing payload (JSON text) with ``identifiers`` scrubbed; unchanged text if none.

    Matching runs on decoded JSON strings and keys, and the result is serialised the way
    landing serialises payloads (:func:`~flowsync_pipelines.landing.canonical_json`), so the
    document stays valid JSON and scrubbing the same record twice gives the same bytes. Text
    that is not JSON is scrubbed as plain text.
    """
    if not identifiers:
        return text
    try:
        document = _loads(text)
    except ValueError:
        return scrub_text(text, identifiers)
    scrubbed = _scrub_json(document, identifiers)
    return text if scrubbed is document else canonical_json(scrubbed)


def _prefilter(column: pl.Series, identifiers: IdentifierSet) -> pl.Series:
    """Rows that may hold an identifier: all of them when some are only known as digests."""
    if identifiers.has_digests or not identifiers.patterns():
        return pl.Series([identifiers.has_digests] * len(column), dtype=pl.Boolean)
    patterns = sorted(
        {p for p in identifiers.patterns()} | {p.lower() for p in identifiers.patterns()}
    )
    return column.str.to_lowercase().str.contains_any(patterns).fill_null(False)


def _landing_ref(source: str, kind: str, record_id: str, sha256: str) -> str:
    return f"{source}/{kind}/{record_id}@{sha256[:16]}"  # as landing.landing_frame builds it


def _scrub_landing_rows(
    frame: pl.DataFrame, identifiers: IdentifierSet, *, source: str, kind: str
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Scrub landing rows; returns the frame and ``{old landing_ref: new landing_ref}``."""
    candidates = _prefilter(frame.get_column("payload"), identifiers)
    for column in LANDING_TEXT_COLUMNS:
        if column in frame.columns:
            candidates = candidates | _prefilter(frame.get_column(column), identifiers)
    rows = candidates.arg_true().to_list()
    if not rows:
        return frame, {}
    columns = {c: frame.get_column(c).to_list() for c in ("payload", *LANDING_TEXT_COLUMNS)}
    sha = frame.get_column("payload_sha256").to_list()
    refs = frame.get_column("landing_ref").to_list()
    changed: dict[str, str] = {}
    for row in rows:
        payload = columns["payload"][row]
        new_payload = scrub_payload(payload, identifiers)
        texts = {
            c: None if columns[c][row] is None else scrub_text(columns[c][row], identifiers)
            for c in LANDING_TEXT_COLUMNS
        }
        if new_payload == payload and all(texts[c] == columns[c][row] for c in texts):
            continue
        columns["payload"][row] = new_payload
        for c, value in texts.items():
            columns[c][row] = value
        sha[row] = hashlib.sha256(new_payload.encode()).hexdigest()
        new_ref = _landing_ref(source, kind, columns["record_id"][row], sha[row])
        changed[refs[row]] = new_ref
        refs[row] = new_ref
    if not changed:
        return frame, {}
    replaced = [
        pl.Series(name, values, dtype=frame.schema[name]) for name, values in columns.items()
    ]
    replaced.append(pl.Series("payload_sha256", sha, dtype=frame.schema["payload_sha256"]))
    replaced.append(pl.Series("landing_ref", refs, dtype=frame.schema["landing_ref"]))
    return frame.with_columns(replaced), changed


def scrub_landing_frame(frame: pl.DataFrame, identifiers: IdentifierSet) -> pl.DataFrame:
    """Landing rows (as :func:`~flowsync_pipelines.landing.landing_frame` builds them) scrubbed.

    The landing-time half of an erasure: a record re-fetched from a tool that still holds an
    erased person is scrubbed before it is landed, with ``payload_sha256`` and ``landing_ref``
    recomputed, so it lands as the version ``forget`` already wrote (a no-op) or as a clean one.
    """
    if not identifiers or frame.is_empty():
        return frame
    parts = []
    numbered = frame.with_row_index("_row")
    for (source, kind), part in numbered.partition_by(["source", "kind"], as_dict=True).items():
        parts.append(_scrub_landing_rows(part, identifiers, source=str(source), kind=str(kind))[0])
    return pl.concat(parts).sort("_row").drop("_row")


def erased_identifiers(store: MetadataStore | sa.Engine) -> IdentifierSet:
    """Every erased identifier, as salted digests: the lookup landing-time scrubbing uses."""
    engine = store if isinstance(store, sa.Engine) else store.engine
    return ErasureRegistry(engine).identifiers()


def scrub_erased(frame: pl.DataFrame, store: MetadataStore | sa.Engine) -> pl.DataFrame:
    """``frame`` with erased people's identifiers scrubbed: call it on every frame before landing.

    ``store`` is the metadata store (or its engine, as the webhook queue holds it). A no-op (one
    small query) while nobody has been erased; row order is kept.
    """
    identifiers = erased_identifiers(store)
    return scrub_landing_frame(frame, identifiers) if identifiers else frame


# -- the erasure record ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ErasureRecord:
    erasure_id: str
    requested_at: datetime
    completed_at: datetime | None
    pseudonyms: tuple[str, ...]
    counts: dict[str, int]


class ErasureRegistry:
    """The erasure record in the metadata store: who was erased (as digests), when, what changed.

    The salt is random per installation and independent of the pseudonym key, so rotating that
    key leaves erasures in force. A salted digest of a guessable login can still be confirmed by
    someone who reads this store — who could read the vault next to it anyway.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        upgrade(engine)

    def salt(self, *, create: bool = False) -> bytes | None:
        """The installation's salt; made on the first erasure (``create=True``)."""
        query = sa.select(erasure_salt.c.salt).where(erasure_salt.c.name == "default")
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        if value is None and create:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        erasure_salt.insert().values(name="default", salt=secrets.token_hex(32))
                    )
            except sa.exc.IntegrityError:
                pass  # another process made it first: use theirs
            with self.engine.connect() as conn:
                value = conn.execute(query).scalar()
        return bytes.fromhex(value) if value else None

    def entries(self) -> list[tuple[str, int, bool]]:
        """``(digest, length, substring)`` of every erased identifier."""
        table = erased_identifiers_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.digest, table.c.length, table.c.substring))
            return [(r.digest, int(r.length), bool(r.substring)) for r in rows]

    def identifiers(self, plain: Mapping[str, IdentifierKind] | None = None) -> IdentifierSet:
        """Every erased identifier as a digest, plus ``plain`` identifiers in clear."""
        entries = self.entries()
        if not entries:
            return IdentifierSet(plain)
        return IdentifierSet(plain, salt=self.salt(), digests=entries)

    def digest(self, identifier: str, salt: bytes) -> str:
        return _digest(salt, fold(identifier.strip()))

    def registered(self, digests: Iterable[str]) -> dict[str, str]:
        """``{digest: erasure_id}`` for the digests already erased."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        table = erased_identifiers_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.digest, table.c.erasure_id).where(table.c.digest.in_(wanted))
            ).all()
        return {r.digest: r.erasure_id for r in rows}

    def start(
        self,
        erasure_id: str,
        *,
        request_digest: str,
        pseudonyms: Sequence[str],
        entries: Sequence[tuple[str, int, bool]],
        identifier_count: int,
    ) -> None:
        """Register the digests first, so landing-time scrubbing protects the person at once."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(erasures.c.erasure_id).where(erasures.c.erasure_id == erasure_id)
            ).first()
            if exists is None:
                conn.execute(
                    erasures.insert().values(
                        erasure_id=erasure_id,
                        requested_at=datetime.now(UTC),
                        request_digest=request_digest,
                        pseudonyms=json.dumps(sorted(pseudonyms)),
                        identifiers=identifier_count,
                        counts="{}",
                    )
                )
            for digest, length, substring in entries:
                conn.execute(
                    erased_identifiers_table.insert().values(
                        digest=digest, erasure_id=erasure_id, length=length, substring=substring
                    )
                )

    def complete(
        self, erasure_id: str, counts: Mapping[str, int], pseudonyms: Sequence[str]
    ) -> None:
        with self.engine.begin() as conn:
            old = conn.execute(
                sa.select(erasures.c.pseudonyms).where(erasures.c.erasure_id == erasure_id)
            ).scalar()
            merged = sorted(set(json.loads(old or "[]")) | set(pseudonyms))
            conn.execute(
                erasures.update()
                .where(erasures.c.erasure_id == erasure_id)
                .values(
                    completed_at=datetime.now(UTC),
                    counts=json.dumps(dict(counts), sort_keys=True),
                    pseudonyms=json.dumps(merged),
                )
            )

    def record(self, erasure_id: str) -> ErasureRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(erasures).where(erasures.c.erasure_id == erasure_id)
            ).first()
        if row is None:
            return None
        return ErasureRecord(
            erasure_id=row.erasure_id,
            requested_at=row.requested_at,
            completed_at=row.completed_at,
            pseudonyms=tuple(json.loads(row.pseudonyms)),
            counts=json.loads(row.counts),
        )

    def incomplete_for(self, digests: Iterable[str]) -> str | None:
        """An interrupted erasure of the same identifiers, to be finished rather than repeated."""
        ids = set(self.registered(digests).values())
        if not ids:
            return None
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(erasures.c.erasure_id)
                .where(erasures.c.erasure_id.in_(sorted(ids)), erasures.c.completed_at.is_(None))
                .limit(1)
            ).scalar()

    def erased_pseudonyms(self) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(erasures.c.pseudonyms)).scalars().all()
        return {p for row in rows for p in json.loads(row)}


def previous_erasure(stores: Stores, request: str) -> ErasureRecord | None:
    """The erasure that already covered ``request`` (an email or handle), if any."""
    store = MetadataStore(stores.metadata_url)
    try:
        registry = ErasureRegistry(store.engine)
        salt = registry.salt()
        if salt is None:
            return None
        hit = registry.registered([registry.digest(request, salt)])
        return registry.record(next(iter(hit.values()))) if hit else None
    finally:
        store.dispose()


# -- who a person is ------------------------------------------------------------------------------
@dataclass(frozen=True)
class VaultEntry:
    pseudonym: str
    source: str
    handle: str
    display_name: str | None
    email: str | None
    actor_kind: str
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Membership:
    team: str
    name: str
    email: str | None
    handles: dict[str, str]


@dataclass(frozen=True)
class Person:
    """Everything that identifies one person across the vault, the config and the tools."""

    request: str
    vault_entries: tuple[VaultEntry, ...]
    memberships: tuple[Membership, ...]
    discovered: frozenset[str] = frozenset()  # e.g. a second commit address of their login
    computed_pseudonyms: frozenset[str] = frozenset()

    @property
    def found(self) -> bool:
        return bool(self.vault_entries or self.memberships)

    @property
    def pseudonyms(self) -> tuple[str, ...]:
        return tuple(
            sorted({e.pseudonym for e in self.vault_entries} | set(self.computed_pseudonyms))
        )

    @property
    def names(self) -> frozenset[str]:
        names = {e.display_name for e in self.vault_entries if e.display_name}
        names |= {m.name for m in self.memberships}
        return frozenset(n for n in names if n.strip())

    @property
    def identifiers(self) -> frozenset[str]:
        """Handles, account ids, emails and display names, as found (case kept)."""
        found: set[str] = set(self.discovered) | set(self.names)
        for entry in self.vault_entries:
            found.add(entry.handle)
            if entry.email:
                found.add(entry.email)
        for membership in self.memberships:
            found.update(membership.handles.values())
            if membership.email:
                found.add(membership.email)
        # An address's local part identifies its owner on its own too: Jenkins shows user ids
        # like "41895518+login" (a GitHub no-reply address without its domain).
        found |= {e.partition("@")[0] for e in found if "@" in e}
        return frozenset(i for i in found if i and fold(i.strip()) not in _PLACEHOLDERS)

    def identifier_set(self, *, with_pseudonyms: bool = False) -> IdentifierSet:
        """The person's identifiers in clear, short ones included (they are known to be theirs)."""
        plain = {i: IdentifierKind(erased=True, name=i in self.names) for i in self.identifiers}
        if with_pseudonyms:
            plain.update({p: IdentifierKind(erased=True) for p in self.pseudonyms})
        return IdentifierSet(plain, min_length=1)


def _read_vault(store: MetadataStore) -> list[VaultEntry]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(identity_vault)).all()
    return [
        VaultEntry(
            pseudonym=r.pseudonym,
            source=r.source,
            handle=r.handle,
            display_name=r.display_name,
            email=r.email,
            actor_kind=r.actor_kind,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def _read_links(store: MetadataStore) -> dict[str, str]:
    """Account pseudonym → person pseudonym, as identity resolution last linked them."""
    if not sa.inspect(store.engine).has_table(identity_links.name):
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(identity_links.c.pseudonym, identity_links.c.person))
        return {r.pseudonym: r.person for r in rows}


def _memberships(config: FlowSyncConfig) -> list[Membership]:
    return [
        Membership(
            team=team.key,
            name=member.name,
            email=member.email,
            handles={f: getattr(member, f) for f in MEMBER_HANDLE_FIELDS if getattr(member, f)},
        )
        for team in config.teams
        for member in team.members
    ]


def _commit_addresses(
    landing: LandingStore, sources: Iterable[str], logins: set[str], names: set[str]
) -> tuple[set[str], set[str]]:
    """Emails and names GitHub commits show for the person: ``(emails, names)``.

    A commit made with one of ``logins`` shows its address and name; a commit linked to no
    account (``author: null``, an address GitHub does not know) is the person's when it carries
    one of their display names. The vault keeps one email per account, so without this a second
    commit address would survive an erasure. (A namesake's unlinked commits would be erased too:
    the safer error.)
    """
    emails: set[str] = set()
    found_names: set[str] = set()
    if not logins and not names:
        return emails, found_names
    for source in sources:
        lazy = landing.scan(source, "commits")
        payload = pl.col("payload")
        frame = lazy.select(
            *(
                payload.str.json_path_match(f"$.{who}.login").alias(f"{who}_login")
                for who in ("author", "committer")
            ),
            *(
                payload.str.json_path_match(f"$.commit.{who}.{what}").alias(f"{who}_{what}")
                for who in ("author", "committer")
                for what in ("email", "name")
            ),
        ).collect()
        for who in ("author", "committer"):
            login = pl.col(f"{who}_login")
            mine = frame.filter(
                login.str.to_lowercase().is_in(sorted(logins))
                | (login.is_null() & pl.col(f"{who}_name").str.to_lowercase().is_in(sorted(names)))
            )
            emails.update(mine.get_column(f"{who}_email").drop_nulls().to_list())
            found_names.update(mine.get_column(f"{who}_name").drop_nulls().to_list())
    return emails, found_names


def find_person(stores: Stores, request: str, *, progress: Progress | None = None) -> Person:
    """Every vault row, config entry and commit address that identifies the requested person.

    Args:
        stores: where to look.
        request: an email address or a tool handle (login, account id), any case.

    Returns:
        the person; ``person.found`` is False when nothing matches (e.g. already erased).
    """
    say = progress or (lambda _: None)
    config = stores.config()
    store = MetadataStore(stores.metadata_url)
    try:
        vault = [e for e in _read_vault(store) if e.actor_kind != "bot"]
        links = _read_links(store)
    finally:
        store.dispose()
    members = _memberships(config)
    handles = {fold(request.strip())}
    emails = {fold(request.strip())}
    matched_rows: dict[str, VaultEntry] = {}
    matched_members: dict[int, Membership] = {}
    discovered: set[str] = set()
    github_sources = [s.name for s in config.sources if s.type == "github"] or ["github"]
    landing = LandingStore(stores.landing)
    searched_logins: set[str] = set()
    searched_names: set[str] = set()
    persons: set[str] = set()
    # Grow the set until nothing new turns up: a config entry names handles, a handle's vault
    # row names an email, that email is another account's, identity resolution linked another
    # account (a Figma account by its name) to the same person, a login's commits show addresses.
    for _ in range(10):
        before = (len(matched_rows), len(matched_members), len(emails), len(handles))
        persons |= {links[p] for p in matched_rows if p in links}
        for index, member in enumerate(members):
            member_handles = {fold(h) for h in member.handles.values()}
            if (member.email and fold(member.email) in emails) or member_handles & handles:
                matched_members[index] = member
                handles |= member_handles
                if member.email:
                    emails.add(fold(member.email))
        for entry in vault:
            linked = links.get(entry.pseudonym) in persons
            if (
                linked
                or fold(entry.handle) in handles
                or (entry.email and fold(entry.email) in emails)
            ):
                matched_rows[entry.pseudonym] = entry
                handles.add(fold(entry.handle))
                if entry.email:
                    emails.add(fold(entry.email))
                if entry.source == "email":
                    emails.add(fold(entry.handle))
        logins = {fold(e.handle) for e in matched_rows.values() if e.source == "github"}
        logins |= {
            fold(m.handles["github"]) for m in matched_members.values() if "github" in m.handles
        }
        names = {fold(e.display_name) for e in matched_rows.values() if e.display_name}
        names |= {fold(m.name) for m in matched_members.values()}
        if (logins - searched_logins) or (names - searched_names):
            say("looking for the person's commit addresses in landing …")
            found_emails, found_names = _commit_addresses(landing, github_sources, logins, names)
            searched_logins |= logins
            searched_names |= names
            discovered |= found_emails | found_names
            emails |= {fold(e) for e in found_emails}
        if (len(matched_rows), len(matched_members), len(emails), len(handles)) == before:
            break
    memberships = tuple(matched_members[i] for i in sorted(matched_members))
    # The person pseudonyms themselves (DuckDB ``identities.person``) name the person too.
    computed: set[str] = {links[p] for p in matched_rows if p in links}
    if stores.pseudonym_key:
        # What role views hold for a config member even when the vault never had the row.
        key = stores.pseudonym_key
        computed |= {pseudonym(key, s, h) for m in memberships for s, h in m.handles.items()}
    return Person(
        request=request,
        vault_entries=tuple(sorted(matched_rows.values(), key=lambda e: (e.source, e.pseudonym))),
        memberships=memberships,
        discovered=frozenset(discovered),
        computed_pseudonyms=frozenset(computed),
    )


# -- DuckDB helpers -------------------------------------------------------------------------------
def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Column:
    table: str
    name: str
    dtype: str  # VARCHAR | JSON | VARCHAR[]
    nullable: bool

    @property
    def ref(self) -> str:
        return f"{self.table}.{self.name}"

    def as_text(self) -> str:
        column = _quote(self.name)
        return f"CAST({column} AS VARCHAR)" if self.dtype == "JSON" else column


def _text_columns(con: duckdb.DuckDBPyConnection) -> list[_Column]:
    rows = con.execute(
        "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES' "
        "FROM information_schema.columns c "
        "JOIN information_schema.tables t "
        "  ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema "
        "  AND t.table_name = c.table_name "
        "WHERE c.table_catalog = current_database() AND c.table_schema = 'main' "
        "  AND t.table_type = 'BASE TABLE' AND c.data_type IN ('VARCHAR', 'JSON', 'VARCHAR[]') "
        "ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    return [_Column(*row) for row in rows]


def _primary_key(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    row = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE database_name = current_database() AND schema_name = 'main' "
        "AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
        [table],
    ).fetchone()
    return list(row[0]) if row else []


def _distinct_texts(con: duckdb.DuckDBPyConnection, column: _Column) -> list[str]:
    table = _quote(column.table)
    if column.dtype == "VARCHAR[]":
        sql = f"SELECT DISTINCT unnest({_quote(column.name)}) AS v FROM {table}"
    else:
        sql = f"SELECT DISTINCT {column.as_text()} AS v FROM {table}"
    return [v for (v,) in con.execute(sql).fetchall() if v is not None]


def _json_strings(value: Any) -> Iterator[tuple[str, str | None]]:
    """``(text, key)`` for every string (and key) in a decoded JSON document."""
    if isinstance(value, str):
        yield value, None
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield k, None
            if isinstance(v, str):
                yield v, k if isinstance(k, str) else None
            else:
                yield from _json_strings(v)


def _matches_in_value(
    value: str, identifiers: IdentifierSet, *, is_json: bool
) -> list[tuple[str, IdentifierKind]]:
    """``(matched text, kind)`` for every identifier occurrence in a stored value."""
    found: list[tuple[str, IdentifierKind]] = []
    texts: Iterable[tuple[str, str | None]] = [(value, None)]
    if is_json:
        with suppress(ValueError):
            texts = _json_strings(_loads(value))
    for text, key in texts:
        for match in identifiers.find(text, account_field=key in ACCOUNT_KEYS):
            found.append((text[match.start : match.end], match.kind))
    return found


@contextmanager
def _open_warehouse(path: Path, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, or an error saying that a run probably holds its lock."""
    try:
        opened = warehouse.connect(path, read_only=read_only)
        con = opened.__enter__()
    except duckdb.IOException as err:
        raise GdprError(
            f"cannot open the DuckDB warehouse {path} ({err}). A pipeline run probably holds "
            "it: retry when the run has finished."
        ) from err
    try:
        yield con
    finally:
        opened.__exit__(None, None, None)


# -- export ---------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _outbox_files(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


def _readable(path: Path, text: str) -> str:
    """The text a reader of the file sees (HTML entities decoded)."""
    return html.unescape(text) if path.suffix.lower() in {".html", ".htm"} else text


def export_person(
    stores: Stores, person: Person, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Everything FlowSync holds about ``person``, as one JSON-ready document.

    Vault entries (names, emails), team memberships from ``flowsync.yaml``, pseudonyms, the
    signals they authored or that reference them, role-view items about them, digest lines
    naming them, and which landing records mention them (raw payloads also describe other
    people, so they are cited by ``landing_ref`` rather than copied).
    """
    say = progress or (lambda _: None)
    pseudonyms = list(person.pseudonyms)
    signals: list[dict[str, Any]] = []
    statements: list[dict[str, Any]] = []
    if stores.duckdb.exists() and pseudonyms:
        say("reading signals and role views …")
        with _open_warehouse(stores.duckdb, read_only=True) as con:
            tables = {c.table for c in _text_columns(con)}
            if "signals" in tables:
                signals = (
                    con.execute(
                        "SELECT * FROM signals WHERE list_contains($p, actor) "
                        "OR len(list_filter($p, x -> contains(CAST(attributes AS VARCHAR), x) "
                        "OR contains(coalesce(title, ''), x))) > 0 "
                        "ORDER BY occurred_at, event_id",
                        {"p": pseudonyms},
                    )
                    .pl()
                    .to_dicts()
                )
            if "em_team_wip_items" in tables:
                statements = (
                    con.execute(
                        "SELECT * FROM em_team_wip_items WHERE list_contains($p, actor) "
                        "ORDER BY as_of_date, team, item_kind, entity_id",
                        {"p": pseudonyms},
                    )
                    .pl()
                    .to_dicts()
                )
    identifiers = person.identifier_set()
    say("reading digests in the outbox …")
    outbox_lines = []
    for path in _outbox_files(stores.outbox):
        try:
            text = _readable(path, path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if identifiers.find(line):
                outbox_lines.append(
                    {"file": str(path.relative_to(stores.outbox)), "line": number, "text": line}
                )
    say("finding landing records that mention the person …")
    landing_refs = _landing_mentions(stores.landing, identifiers)
    by_kind: dict[str, int] = {}
    for ref in landing_refs:
        source_kind = "/".join(ref.split("/", 2)[:2])
        by_kind[source_kind] = by_kind.get(source_kind, 0) + 1
    document = {
        "request": person.request,
        "generated_at": datetime.now(UTC),
        "vault_entries": [asdict(e) for e in person.vault_entries],
        "team_memberships": [asdict(m) for m in person.memberships],
        "other_identifiers_seen_in_tools": sorted(person.discovered),
        "pseudonyms": pseudonyms,
        "signals": signals,
        "statements": statements,
        "outbox_lines": outbox_lines,
        "landing_records": {"by_source_kind": by_kind, "landing_refs": landing_refs},
        "counts": {
            "vault_entries": len(person.vault_entries),
            "team_memberships": len(person.memberships),
            "pseudonyms": len(pseudonyms),
            "signals": len(signals),
            "statements": len(statements),
            "outbox_lines": len(outbox_lines),
            "landing_records": len(landing_refs),
        },
    }
    document = _jsonable(document)
    _audit(
        stores,
        "gdpr_export",
        "person:" + hashlib.sha256("\n".join(sorted(pseudonyms)).encode()).hexdigest()[:16],
        {
            "generated_at": document["generated_at"],
            "pseudonyms": sorted(pseudonyms),
            "counts": document["counts"],
            "document_sha256": hashlib.sha256(
                json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
            ).hexdigest(),
        },
        say,
    )
    return document


def _audit(stores: Stores, kind: str, subject: str, content: dict[str, Any], say: Progress) -> None:
    """Record an export or erasure in the signed audit log (once; see ``AuditLog.append_once``).

    Content holds pseudonyms, counts and digests, never the identifiers of the request.
    """
    if not stores.signing_key:
        say(f"warning: {SIGNING_KEY_ENV} is not set; this {kind} is not in the audit log")
        return
    from flowsync_pipelines.audit import AuditLog

    store = MetadataStore(stores.metadata_url)
    try:
        log = AuditLog(store.engine, stores.signing_key, public_key_file=stores.audit_public_key)
        entry = log.append_once(kind, subject, content)  # type: ignore[arg-type]
    finally:
        store.dispose()
    if entry is not None:
        say(f"recorded in the audit log as entry {entry.seq}")


def _landing_mentions(root: Path, identifiers: IdentifierSet) -> list[str]:
    refs: list[str] = []
    if not identifiers:
        return refs
    for path in sorted(root.glob("source=*/kind=*/*.parquet")):
        frame = pl.read_parquet(path, hive_partitioning=False)
        candidates = _prefilter(frame.get_column("payload"), identifiers)
        for payload, ref in frame.filter(candidates).select("payload", "landing_ref").iter_rows():
            if _matches_in_value(payload, identifiers, is_json=True):
                refs.append(ref)
    return sorted(refs)


# -- forget ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForgetReport:
    """What an erasure changed. ``erasure_id`` is None when there was nothing (left) to erase."""

    erasure_id: str | None
    counts: dict[str, int]
    previous_erasure_id: str | None = None
    config_teams: tuple[str, ...] = ()  # teams in flowsync.yaml that still list the person

    @property
    def changed(self) -> bool:
        return self.erasure_id is not None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Replace ``path`` atomically: write a temporary sibling, fsync, rename, fsync the folder."""
    temporary = path.with_name(f".{path.name}.gdpr-tmp")
    write(temporary)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)  # readers see the old file or the new one, never half
    _fsync_directory(path.parent)


def _forget_in_landing(
    root: Path, identifiers: IdentifierSet, say: Progress
) -> tuple[int, int, dict[str, str]]:
    """Rewrite every landing file holding an identifier; ``(rows, files, landing_ref map)``."""
    files = sorted(root.glob("source=*/kind=*/*.parquet"))
    say(f"scrubbing landing: {len(files)} files …")
    rows = changed_files = 0
    refs: dict[str, str] = {}
    for path in files:
        source = path.parent.parent.name.removeprefix("source=")
        kind = path.parent.name.removeprefix("kind=")
        frame = pl.read_parquet(path, hive_partitioning=False)
        scrubbed, changed = _scrub_landing_rows(frame, identifiers, source=source, kind=kind)
        if not changed:
            continue
        _replace_file(
            path,
            lambda target, data=scrubbed: data.write_parquet(
                target, compression="zstd", compression_level=1, statistics=True
            ),
        )
        rows += len(changed)
        changed_files += 1
        refs.update(changed)
    return rows, changed_files, refs


def _forget_in_warehouse(
    path: Path,
    identifiers: IdentifierSet,
    pseudonyms: Sequence[str],
    refs: Mapping[str, str],
    say: Progress,
) -> dict[str, int]:
    """Cut the person out of DuckDB in one transaction; rows changed per table."""
    if not path.exists():
        return {}
    say("scrubbing the DuckDB warehouse …")
    counts: dict[str, int] = {}

    def count(table: str, cursor: duckdb.DuckDBPyConnection) -> None:
        changed = cursor.fetchone()
        if changed and changed[0]:
            counts[table] = counts.get(table, 0) + int(changed[0])

    with _open_warehouse(path, read_only=False) as con:
        columns = _text_columns(con)
        con.execute("BEGIN TRANSACTION")
        try:
            if pseudonyms:
                _null_pseudonyms(con, columns, list(pseudonyms), count)
            for column in columns:
                _scrub_column(con, column, identifiers, count)
            if refs:
                ref_map = pl.DataFrame({"old": list(refs), "new": list(refs.values())}).to_arrow()
                con.register("_landing_ref_map", ref_map)
                for column in columns:
                    if column.name == "landing_ref" and column.dtype == "VARCHAR":
                        table = _quote(column.table)
                        count(
                            column.table,
                            con.execute(
                                f"UPDATE {table} SET landing_ref = m.new FROM _landing_ref_map m "
                                f"WHERE {table}.landing_ref = m.old"
                            ),
                        )
                con.unregister("_landing_ref_map")
            # Models fitted on data that held the person go too; the next run refits.
            if counts and (dropped := forget_models(con)):
                counts["statement_models"] = dropped
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return counts


def _null_pseudonyms(
    con: duckdb.DuckDBPyConnection,
    columns: Sequence[_Column],
    pseudonyms: list[str],
    count: Callable[[str, duckdb.DuckDBPyConnection], None],
) -> None:
    """A value that *is* an erased pseudonym becomes NULL (or its row goes, if NOT NULL)."""
    by_table: dict[str, set[str]] = {}
    for column in columns:
        by_table.setdefault(column.table, set()).add(column.name)
    for column in columns:
        table, name = _quote(column.table), _quote(column.name)
        if column.dtype == "VARCHAR":
            predicate = f"list_contains($p, {name})"
            if not column.nullable:
                count(
                    column.table,
                    con.execute(f"DELETE FROM {table} WHERE {predicate}", {"p": pseudonyms}),
                )
                continue
            extra = ""
            if column.name == "actor" and "actor_kind" in by_table[column.table]:
                extra = ", actor_kind = 'erased'"
            count(
                column.table,
                con.execute(
                    f"UPDATE {table} SET {name} = NULL{extra} WHERE {predicate}", {"p": pseudonyms}
                ),
            )
        elif column.dtype == "JSON":
            for value in pseudonyms:
                quoted = json.dumps(value)
                count(
                    column.table,
                    con.execute(
                        f"UPDATE {table} SET {name} = CAST(replace(CAST({name} AS VARCHAR), $q, "
                        f"'null') AS JSON) WHERE contains(CAST({name} AS VARCHAR), $q)",
                        {"q": quoted},
                    ),
                )
        elif column.dtype == "VARCHAR[]":
            count(
                column.table,
                con.execute(
                    f"UPDATE {table} SET {name} = "
                    f"list_filter({name}, x -> NOT list_contains($p, x)) "
                    f"WHERE list_has_any({name}, $p)",
                    {"p": pseudonyms},
                ),
            )


def _scrub_column(
    con: duckdb.DuckDBPyConnection,
    column: _Column,
    identifiers: IdentifierSet,
    count: Callable[[str, duckdb.DuckDBPyConnection], None],
) -> None:
    """Replace identifiers inside the values of one text column (value by value)."""
    values = _distinct_texts(con, column)
    if not values:
        return
    candidates = pl.Series(values, dtype=pl.String).filter(
        _prefilter(pl.Series(values, dtype=pl.String), identifiers)
    )
    table, name = _quote(column.table), _quote(column.name)
    for old in candidates.to_list():
        new = (
            scrub_payload(old, identifiers)
            if column.dtype == "JSON"
            else scrub_text(old, identifiers)
        )
        if new == old:
            continue
        if column.dtype == "VARCHAR[]":
            sql = (
                f"UPDATE {table} SET {name} = list_transform({name}, x -> CASE WHEN x = $old "
                f"THEN $new ELSE x END) WHERE list_contains({name}, $old)"
            )
        elif column.dtype == "JSON":
            sql = (
                f"UPDATE {table} SET {name} = CAST($new AS JSON) "
                f"WHERE CAST({name} AS VARCHAR) = $old"
            )
        else:
            sql = f"UPDATE {table} SET {name} = $new WHERE {name} = $old"
        count(column.table, con.execute(sql, {"old": old, "new": new}))


def _json_layout(text: str, document: Any) -> Callable[[Any], str]:
    """A serialiser that reproduces ``text``'s own layout (indent, escaping, final newline)."""
    newline = "\n" if text.endswith("\n") else ""
    layouts = [
        {"indent": indent, "ensure_ascii": ascii_only, "separators": separators}
        for indent in (1, 2, 4, None)
        for ascii_only in (False, True)
        for separators in (None, (",", ":"))
    ]
    for layout in layouts:
        if json.dumps(document, **layout) + newline == text:  # type: ignore[arg-type]
            return lambda doc, how=layout: json.dumps(doc, **how) + newline  # type: ignore[arg-type]
    return lambda doc: json.dumps(doc, indent=1, ensure_ascii=False) + newline


def _scrub_outbox_file(path: Path, identifiers: IdentifierSet) -> str | None:
    """The scrubbed content of one rendered digest, or None when it names nobody erased."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except ValueError:
            new = scrub_text(text, identifiers)
        else:
            scrubbed = _scrub_json(document, identifiers)
            new = text if scrubbed is document else _json_layout(text, document)(scrubbed)
    elif path.suffix.lower() in {".html", ".htm"}:
        # Templates escape "O'Brien" as O&#39;Brien (Jinja) or O&#x27;Brien (html.escape).
        variants = {html.escape(i) for i in identifiers.patterns()}
        variants |= {v.replace("&#x27;", "&#39;").replace("&quot;", "&#34;") for v in variants}
        escaped = IdentifierSet({v: IdentifierKind(erased=True) for v in variants}, min_length=1)
        new = scrub_text(scrub_text(text, identifiers), escaped)
    else:
        new = scrub_text(text, identifiers)
    return None if new == text else new


def _forget_in_outbox(
    root: Path, identifiers: IdentifierSet, say: Progress
) -> tuple[int, dict[str, str]]:
    """Scrub rendered digests; ``(files, {SHA-256 of old bytes: SHA-256 of new bytes})``."""
    files = _outbox_files(root)
    say(f"scrubbing the outbox: {len(files)} files …")
    hashes: dict[str, str] = {}
    for path in files:
        new = _scrub_outbox_file(path, identifiers)
        if new is None:
            continue
        old = hashlib.sha256(path.read_bytes()).hexdigest()
        _replace_file(path, lambda target, text=new: target.write_text(text, encoding="utf-8"))
        hashes[old] = hashlib.sha256(path.read_bytes()).hexdigest()
    return len(hashes), hashes


def _metadata_tables(engine: sa.Engine, *, writable: bool = False) -> list[sa.Table]:
    """Metadata tables to scan; with ``writable``, those erasure may rewrite."""
    reflected = sa.MetaData()
    reflected.reflect(engine)
    skipped = _SKIPPED_METADATA_TABLES | (_APPEND_ONLY_TABLES if writable else frozenset())
    return [t for name, t in sorted(reflected.tables.items()) if name not in skipped]


def _is_text(column: sa.Column) -> bool:
    return isinstance(column.type, sa.String | sa.LargeBinary)


def _forget_in_metadata(
    store: MetadataStore,
    identifiers: IdentifierSet,
    pseudonyms: Sequence[str],
    refs: Mapping[str, str],
    say: Progress,
) -> int:
    """Cut the person out of every metadata table but the vault; rows changed.

    A value that is an erased pseudonym is nulled, or its row deleted when the column is part
    of the key or NOT NULL (e.g. ``identity_links``); identifiers inside values are scrubbed.
    """
    say("scrubbing the metadata store …")
    changed_rows = 0
    for table in _metadata_tables(store.engine, writable=True):
        if not pseudonyms:
            break
        with store.engine.begin() as conn:
            for column in (c for c in table.columns if isinstance(c.type, sa.String)):
                holds = column.in_(list(pseudonyms))
                if column.primary_key or not column.nullable:
                    done = conn.execute(table.delete().where(holds))
                else:
                    done = conn.execute(table.update().where(holds).values({column.name: None}))
                changed_rows += int(done.rowcount or 0)
    for table in _metadata_tables(store.engine, writable=True):
        keys = list(table.primary_key.columns)
        key_names = {k.name for k in keys}
        texts = [c for c in table.columns if _is_text(c) and c.name not in key_names]
        if not keys or not texts:
            continue
        with store.engine.begin() as conn:
            for row in conn.execute(sa.select(*keys, *texts)).mappings().all():
                values: dict[str, Any] = {}
                for column in texts:
                    old = row[column.name]
                    new = _scrub_stored(old, identifiers, refs, column.name)
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
    return changed_rows


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


def _neo4j_driver(stores: Stores) -> Any:
    """A Neo4j driver (``neo4j`` is imported only when a graph is configured)."""
    import neo4j

    return neo4j.GraphDatabase.driver(stores.neo4j_uri, auth=stores.neo4j_auth)


# Every string (or list of strings) property of every node and relationship, optionally only
# those holding one of the needles (lower-cased substrings) so that the filter runs in Neo4j.
NEO4J_STRING_PROPERTIES = """
MATCH (n)
UNWIND keys(n) AS key
WITH n, key, n[key] AS value
WHERE value IS :: STRING OR value IS :: LIST<STRING NOT NULL>
WITH n, key, value, CASE WHEN value IS :: STRING THEN [value] ELSE value END AS texts
WHERE $everything OR any(t IN texts WHERE any(needle IN $needles WHERE toLower(t) CONTAINS needle))
RETURN 'node' AS element, elementId(n) AS element_id, labels(n) AS labels, key, value
UNION ALL
MATCH ()-[r]->()
UNWIND keys(r) AS key
WITH r, key, r[key] AS value
WHERE value IS :: STRING OR value IS :: LIST<STRING NOT NULL>
WITH r, key, value, CASE WHEN value IS :: STRING THEN [value] ELSE value END AS texts
WHERE $everything OR any(t IN texts WHERE any(needle IN $needles WHERE toLower(t) CONTAINS needle))
RETURN 'relationship' AS element, elementId(r) AS element_id, [type(r)] AS labels, key, value
"""
NEO4J_DELETE_PERSON_NODES = """
MATCH (n) WHERE any(key IN ['pseudonym', 'id', 'actor'] WHERE n[key] IN $pseudonyms)
  AND any(label IN labels(n) WHERE toLower(label) = 'person')
DETACH DELETE n
RETURN count(*) AS deleted
"""
NEO4J_SET_NODE = "MATCH (n) WHERE elementId(n) = $element_id SET n += $properties"
NEO4J_SET_RELATIONSHIP = "MATCH ()-[r]->() WHERE elementId(r) = $element_id SET r += $properties"


def _neo4j_strings(driver: Any, identifiers: IdentifierSet) -> list[dict[str, Any]]:
    """String properties that may hold an identifier (all of them when some are digests)."""
    needles = sorted({p.lower() for p in identifiers.patterns()})
    records, _, _ = driver.execute_query(
        NEO4J_STRING_PROPERTIES, {"everything": identifiers.has_digests, "needles": needles}
    )
    return [record.data() for record in records]


def _forget_in_neo4j(
    stores: Stores, identifiers: IdentifierSet, pseudonyms: Sequence[str], say: Progress
) -> int:
    say("scrubbing Neo4j …")
    changed = 0
    with _neo4j_driver(stores) as driver:
        if pseudonyms:
            records, _, _ = driver.execute_query(
                NEO4J_DELETE_PERSON_NODES, {"pseudonyms": list(pseudonyms)}
            )
            changed += records[0]["deleted"] if records else 0
        for row in _neo4j_strings(driver, identifiers):
            value = row["value"]
            if isinstance(value, str):
                new: Any = None if value in pseudonyms else scrub_text(value, identifiers)
            else:
                new = [scrub_text(v, identifiers) for v in value if v not in pseudonyms]
            if new == value:
                continue
            query = NEO4J_SET_NODE if row["element"] == "node" else NEO4J_SET_RELATIONSHIP
            driver.execute_query(
                query, {"element_id": row["element_id"], "properties": {row["key"]: new}}
            )
            changed += 1
    return changed


def _delete_vault_rows(store: MetadataStore, pseudonyms: Sequence[str]) -> int:
    if not pseudonyms:
        return 0
    with store.engine.begin() as conn:
        result = conn.execute(
            identity_vault.delete().where(identity_vault.c.pseudonym.in_(list(pseudonyms)))
        )
    return int(result.rowcount or 0)


def forget_person(
    stores: Stores, person: Person, *, progress: Progress | None = None
) -> ForgetReport:
    """Erase ``person`` from every store and record the erasure (see the module docstring).

    Re-runnable: an interrupted erasure is finished by running it again, and running it after
    it completed changes nothing and records nothing.
    """
    say = progress or (lambda _: None)
    identifiers = person.identifier_set()
    with_pseudonyms = person.identifier_set(with_pseudonyms=True)
    pseudonyms = list(person.pseudonyms)
    store = MetadataStore(stores.metadata_url)
    try:
        registry = ErasureRegistry(store.engine)
        salt = registry.salt(create=True)
        if salt is None:  # pragma: no cover - the store refused the write
            raise GdprError(f"could not create the erasure salt in {stores.metadata_url}")
        entries = {
            registry.digest(i, salt): (len(fold(i.strip())), _substring_eligible(fold(i.strip())))
            for i in person.identifiers
        }
        already = registry.registered(entries)
        new_entries = [(d, n, s) for d, (n, s) in entries.items() if d not in already]
        erasure_id = registry.incomplete_for(entries)
        if new_entries:
            erasure_id = erasure_id or uuid.uuid4().hex
            registry.start(
                erasure_id,
                request_digest=registry.digest(person.request, salt),
                pseudonyms=pseudonyms,
                entries=new_entries,
                identifier_count=len(entries),
            )
        counts: dict[str, int] = {}
        landing_rows, landing_files, refs = _forget_in_landing(stores.landing, identifiers, say)
        counts |= {"landing_rows": landing_rows, "landing_files": landing_files}
        for table, n in _forget_in_warehouse(
            stores.duckdb, with_pseudonyms, pseudonyms, refs, say
        ).items():
            counts[f"duckdb:{table}"] = n
        counts["outbox_files"], outbox_hashes = _forget_in_outbox(
            stores.outbox, with_pseudonyms, say
        )
        counts["metadata_rows"] = _forget_in_metadata(store, identifiers, pseudonyms, refs, say)
        if stores.neo4j_uri:
            counts["neo4j_properties"] = _forget_in_neo4j(stores, with_pseudonyms, pseudonyms, say)
        counts["vault_rows"] = _delete_vault_rows(store, pseudonyms)
        counts = {k: v for k, v in counts.items() if v}
        if counts and erasure_id is None:
            erasure_id = uuid.uuid4().hex  # identifiers known, but data came back: record it
            registry.start(
                erasure_id,
                request_digest=registry.digest(person.request, salt),
                pseudonyms=pseudonyms,
                entries=[],
                identifier_count=len(entries),
            )
        if erasure_id is not None:
            registry.complete(erasure_id, counts, pseudonyms)
            _audit(
                stores,
                "gdpr_erasure",
                f"erasure:{erasure_id}",
                {
                    "erasure_id": erasure_id,
                    "pseudonyms": sorted(pseudonyms),
                    "identifiers": len(entries),
                    "counts": counts,
                    # Cited landing records rewritten by the scrub: SHA-256 of the old
                    # landing_ref (it may hold an identifier) -> the new one. Lets verify explain
                    # why a statement's cited payload hash changed.
                    "rewritten_landing_refs": {
                        hashlib.sha256(old.encode()).hexdigest(): new
                        for old, new in sorted(refs.items())
                    },
                    # Rendered digests scrubbed: SHA-256 of their bytes before -> after, so
                    # verify can say why a logged digest file no longer hashes as logged.
                    "rewritten_outbox_files": dict(sorted(outbox_hashes.items())),
                },
                say,
            )
        previous = next(iter(already.values()), None)
    finally:
        store.dispose()
    return ForgetReport(
        erasure_id=erasure_id,
        counts=counts,
        previous_erasure_id=previous,
        config_teams=tuple(m.team for m in person.memberships),
    )


# -- the PII scan ---------------------------------------------------------------------------------
@dataclass
class Finding:
    """Identifier occurrences in one place (store + location), in one zone."""

    store: str
    location: str
    zone: str
    erased: bool
    matches: int = 0
    identifiers: list[str] = field(default_factory=list)  # masked, a few
    samples: list[str] = field(default_factory=list)  # where, a few

    @property
    def violation(self) -> bool:
        return self.zone == OUTSIDE or (self.erased and self.zone not in (CONFIG, AUDIT))


@dataclass
class ScanReport:
    """What :func:`pii_scan` found, per store; ``clean`` when nothing violates the rules."""

    findings: list[Finding]
    stores_scanned: list[str]
    known_identifiers: int
    erased_identifiers: int
    seconds: float = 0.0

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.violation]

    @property
    def clean(self) -> bool:
        return not self.violations

    def total(self, *, zone: str | None = None, violations_only: bool = False) -> int:
        return sum(
            f.matches
            for f in self.findings
            if (zone is None or f.zone == zone) and (f.violation or not violations_only)
        )

    def render(self) -> str:
        """A human-readable report (identifiers masked)."""
        lines = [
            f"PII scan of {', '.join(self.stores_scanned)}: {self.known_identifiers} known "
            f"identifiers, {self.erased_identifiers} erased ones (as digests), "
            f"{self.seconds:.1f} s."
        ]
        order = {OUTSIDE: 0, VAULT: 1, DELIVERED: 2, RAW: 3, CONFIG: 4}
        for finding in sorted(
            self.findings,
            key=lambda f: (not f.violation, order.get(f.zone, 9), f.store, f.location),
        ):
            status = (
                "VIOLATION"
                if finding.violation
                else ("warning" if finding.zone == CONFIG else "ok")
            )
            who = "erased person" if finding.erased else "known person"
            lines.append(
                f"  [{status}] {finding.store}:{finding.location} — {finding.matches} matches of "
                f"{who} identifiers ({finding.zone}); e.g. {', '.join(finding.identifiers)}"
                + (f" at {'; '.join(finding.samples)}" if finding.samples else "")
            )
            if finding.zone == CONFIG:
                lines.append(
                    "      remove the erased person from flowsync.yaml, or the next run "
                    "re-creates their vault rows and names them in digests"
                )
        verdict = (
            "clean: no identifiers outside the vault and the raw zone, none of an erased person"
            if self.clean
            else f"{len(self.violations)} violations"
        )
        lines.append(verdict)
        return "\n".join(lines)


class _Findings:
    """Collects matches into findings, a few masked examples and sample locations each."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self.by_key: dict[tuple[str, str, str, bool], Finding] = {}

    def add(
        self, store: str, location: str, zone: str, matched: str, kind: IdentifierKind, sample: str
    ) -> None:
        if zone == DELIVERED and (kind.erased or not kind.name):
            zone = OUTSIDE  # digests may name people; logins, emails, the erased: never
        key = (store, location, zone, kind.erased)
        finding = self.by_key.setdefault(key, Finding(store, location, zone, kind.erased))
        finding.matches += 1
        masked = mask(matched)
        if masked not in finding.identifiers and len(finding.identifiers) < self.samples:
            finding.identifiers.append(masked)
        if sample and sample not in finding.samples and len(finding.samples) < self.samples:
            finding.samples.append(sample)


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
    for membership in _memberships(config):
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
    say = progress or (lambda _: None)
    found = _Findings(samples)
    scanned: list[str] = []
    store = MetadataStore(stores.metadata_url)
    try:
        registry = ErasureRegistry(store.engine)
        vault = _read_vault(store)
        config = stores.config()
        identifiers = _known_identifiers(vault, config, registry)
        erased_only = _erased_only(identifiers, registry)
        if include_raw_zone:
            scanned.append("landing")
            _scan_landing(stores.landing, identifiers, erased_only, found, say)
        if stores.duckdb.exists():
            scanned.append("duckdb")
            _scan_warehouse(stores.duckdb, identifiers, found, say)
        scanned.append("outbox")
        _scan_outbox(stores.outbox, identifiers, found, say)
        scanned.append("metadata")
        _scan_metadata(store, identifiers, vault, config, found, say)
        if stores.neo4j_uri:
            scanned.append("neo4j")
            _scan_neo4j(stores, identifiers, found, say)
        known = len(identifiers.patterns())
        erased_count = len(registry.entries())
    finally:
        store.dispose()
    return ScanReport(
        findings=list(found.by_key.values()),
        stores_scanned=scanned,
        known_identifiers=known,
        erased_identifiers=erased_count,
        seconds=time.perf_counter() - started,
    )


def _erased_only(identifiers: IdentifierSet, registry: ErasureRegistry) -> IdentifierSet:
    """The erased subset: what must not be in the raw zone either."""
    plain = {
        p: IdentifierKind(erased=True) for p in identifiers.patterns() if _is_erased(identifiers, p)
    }
    return registry.identifiers(plain)


def _is_erased(identifiers: IdentifierSet, folded: str) -> bool:
    kind = identifiers.kind(folded)
    return kind is not None and kind.erased


def _scan_landing(
    root: Path,
    identifiers: IdentifierSet,
    erased: IdentifierSet,
    found: _Findings,
    say: Progress,
) -> None:
    """Raw zone: live identifiers counted by a vectorised substring search (informational);
    erased ones matched exactly, since the raw zone must not hold them either."""
    files = sorted(root.glob("source=*/kind=*/*.parquet"))
    say(f"scanning landing: {len(files)} files …")
    if not files:
        return
    live = [p for p in identifiers.patterns() if not _is_erased(identifiers, p)]
    lazy = pl.scan_parquet(files, hive_partitioning=True)
    if live:
        hits = (
            lazy.select(
                "source",
                "kind",
                "landing_ref",
                pl.col("payload").str.to_lowercase().str.extract_many(live).alias("hits"),
            )
            .filter(pl.col("hits").list.len() > 0)
            .explode("hits")
            .collect()
        )
        live_kind = IdentifierKind(erased=False)
        for source, kind, ref, hit in hits.iter_rows():
            found.add("landing", f"{source}/{kind}", RAW, hit, live_kind, ref)
    if not erased:
        return
    for path in files:
        location = f"{path.parent.parent.name.removeprefix('source=')}/"
        location += path.parent.name.removeprefix("kind=")
        frame = pl.read_parquet(path, hive_partitioning=False)
        columns = ["landing_ref", "payload", *LANDING_TEXT_COLUMNS]
        for ref, payload, *texts in frame.select(columns).iter_rows():
            matches = _matches_in_value(payload, erased, is_json=True)
            for text in texts:
                if text:
                    matches += _matches_in_value(text, erased, is_json=False)
            for matched, kind_of in matches:
                found.add("landing", location, RAW, matched, kind_of, ref)


def _scan_warehouse(
    path: Path, identifiers: IdentifierSet, found: _Findings, say: Progress
) -> None:
    say("scanning the DuckDB warehouse …")
    with _open_warehouse(path, read_only=True) as con:
        for column in _text_columns(con):
            values = _distinct_texts(con, column)
            if not values:
                continue
            series = pl.Series(values, dtype=pl.String)
            candidates = series.filter(_prefilter(series, identifiers)).to_list()
            zone = RAW if ("duckdb", column.table, column.name) in RAW_ZONE_COLUMNS else OUTSIDE
            keys = _primary_key(con, column.table)
            for value in candidates:
                matches = _matches_in_value(value, identifiers, is_json=column.dtype == "JSON")
                if not matches:
                    continue
                sample = _warehouse_sample(con, column, keys, value)
                for matched, kind in matches:
                    found.add("duckdb", column.ref, zone, matched, kind, sample)


def _warehouse_sample(
    con: duckdb.DuckDBPyConnection, column: _Column, keys: list[str], value: str
) -> str:
    """Where one matching value sits: the primary key of a row holding it."""
    if not keys:
        return ""
    table, name = _quote(column.table), _quote(column.name)
    predicate = (
        f"list_contains({name}, $v)" if column.dtype == "VARCHAR[]" else f"{column.as_text()} = $v"
    )
    selected = ", ".join(f"CAST({_quote(k)} AS VARCHAR)" for k in keys)
    row = con.execute(
        f"SELECT {selected} FROM {table} WHERE {predicate} LIMIT 1", {"v": value}
    ).fetchone()
    return "" if row is None else ", ".join(f"{k}={v}" for k, v in zip(keys, row, strict=True))


def _scan_neo4j(
    stores: Stores, identifiers: IdentifierSet, found: _Findings, say: Progress
) -> None:
    say("scanning Neo4j …")
    with _neo4j_driver(stores) as driver:
        rows = _neo4j_strings(driver, identifiers)
    for row in rows:
        texts = [row["value"]] if isinstance(row["value"], str) else row["value"]
        location = f"{row['element']}:{'/'.join(row['labels'])}.{row['key']}"
        for text in texts:
            for match in identifiers.find(text):
                matched = text[match.start : match.end]
                sample = f"elementId {row['element_id']}"
                found.add("neo4j", location, OUTSIDE, matched, match.kind, sample)


def _scan_outbox(root: Path, identifiers: IdentifierSet, found: _Findings, say: Progress) -> None:
    files = _outbox_files(root)
    say(f"scanning the outbox: {len(files)} files …")
    for path in files:
        try:
            text = _readable(path, path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
        relative = str(path.relative_to(root))
        for number, line in enumerate(text.splitlines(), start=1):
            for match in identifiers.find(line):
                found.add(
                    "outbox",
                    "digests",
                    DELIVERED,
                    line[match.start : match.end],
                    match.kind,
                    f"{relative}:{number}",
                )


def _scan_metadata(
    store: MetadataStore,
    identifiers: IdentifierSet,
    vault: Sequence[VaultEntry],
    config: FlowSyncConfig,
    found: _Findings,
    say: Progress,
) -> None:
    say("scanning the metadata store …")
    erased = ErasureRegistry(store.engine).erased_pseudonyms()
    for table in _metadata_tables(store.engine):
        texts = [c for c in table.columns if _is_text(c)]
        if not texts:
            continue
        keys = list(table.primary_key.columns)
        with store.engine.connect() as conn:
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
                    zone = (
                        RAW
                        if ("metadata", table.name, column.name) in RAW_ZONE_COLUMNS
                        else OUTSIDE
                    )
                    for matched, kind in _matches_in_value(str(value), identifiers, is_json=True):
                        # The audit log keeps (erased) pseudonyms; an identifier there still fails.
                        pseudonymous = table.name in _APPEND_ONLY_TABLES and matched in erased
                        found.add(
                            "metadata",
                            f"{table.name}.{column.name}",
                            AUDIT if pseudonymous else zone,
                            matched,
                            kind,
                            sample,
                        )
    # The vault and the config may hold identifiers — but not those of an erased person.
    for entry in vault:
        for value in (entry.handle, entry.email, entry.display_name):
            kind = identifiers.whole(value, account_field=True) if value else None
            if kind is not None and kind.erased:
                found.add(
                    "metadata", "identity_vault", VAULT, value, kind, f"source={entry.source}"
                )  # type: ignore[arg-type]
    for membership in _memberships(config):
        for value in (membership.name, membership.email, *membership.handles.values()):
            kind = identifiers.whole(value, account_field=True) if value else None
            if kind is not None and kind.erased:
                found.add("config", "teams.members", CONFIG, value, kind, f"team={membership.team}")  # type: ignore[arg-type]
