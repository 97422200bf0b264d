"""Verifying the audit log: the whole chain, or the entries behind one statement or digest.

:func:`verify_log` walks every entry in ``seq`` order and reports each difference as a
:class:`Problem` (entry, field, expected, found):

- ``seq`` runs 1, 2, 3, … without gaps; each ``prev_hash`` is the previous entry's hash;
- ``entry_hash`` is recomputed from the entry's bytes (:mod:`~flowsync_pipelines.audit.chain`);
- every signature is checked with the key the chain itself establishes: the first entry
  (``log_opened``) names it, a ``key_rotated`` entry signed by the old key names the next;
- the ``audit_head`` row matches the last entry (a removed last entry shows here), the
  ``audit_keys`` table matches the keys in the chain, and the key published beside the log
  (``audit_public_key.pem``) is the chain's current key (a log rewritten and re-signed with
  another key shows here).

Signatures and hashes are checked in worker processes (``workers``), the links in order here.

Statements and digests are re-derived by plug-ins: :func:`register_rederiver` maps an entry
kind to a function that returns the problems it finds for one entry, and
:func:`register_batch_rederiver` to one that takes all entries of the kind at once
(``flowsync_pipelines.statements.verify`` registers one for ``statement``: it recomputes many
statements in one derivation). :func:`verify_entries` runs the integrity checks and the
re-deriver of each entry given; :func:`rederive_log` re-derives every entry of the log that has
one. Only the newest entry of a subject is re-derived (a statement re-stated, a digest
re-rendered: what is there now is what the newest entry says); older ones are checked for
integrity only. Re-derivers may add notes — what verified but changed, and why (an erasure) —
which are shown but do not fail verification.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flowsync_pipelines.audit.chain import GENESIS, Row, check_rows, key_id
from flowsync_pipelines.audit.keys import SigningKeyError, load_public_key
from flowsync_pipelines.audit.log import KINDS, AuditEntry, read_entries
from flowsync_pipelines.metadata import audit_head, audit_keys, audit_log, create_audit_tables

BATCH = 5_000
PARALLEL_FROM = 4_000  # fewer entries are checked in this process


@dataclass(frozen=True, order=True)
class Problem:
    """One difference: in entry ``seq`` (``None``: the log as a whole), ``field`` was not as
    expected."""

    seq: int | None
    field: str
    expected: str
    found: str
    note: str = ""

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "log"
        text = f"{where}: {self.field}: expected {self.expected}, found {self.found}"
        return f"{text} ({self.note})" if self.note else text


@dataclass
class VerifyReport:
    """What was verified and every problem found."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    keys: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rederived: int = 0  # entries whose content was re-derived (statements, digest files)
    notes: list[str] = field(default_factory=list)  # verified, but changed for a stated reason

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        derived = f"; {self.rederived} re-derived" if self.rederived else ""
        if self.ok:
            lines = [
                f"OK: {self.entries} entries, chain and signatures verified{derived} "
                f"(head {self.head_seq} {self.head_hash}; keys {', '.join(self.keys) or '-'})"
            ]
        else:
            lines = [f"FAILED: {len(self.problems)} problem(s) in {self.entries} entries{derived}"]
            lines += [f"  {p}" for p in sorted(self.problems, key=_order)]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _order(problem: Problem) -> tuple[int, str]:
    return (problem.seq if problem.seq is not None else -1, problem.field)


@dataclass
class _KeyChain:
    """Which key signs from which entry on, as the log's key entries establish it."""

    active: bytes | None = None
    seen: dict[str, bytes] = field(default_factory=dict)  # key id -> raw, in order
    retired: set[str] = field(default_factory=set)
    fallback: bytes | None = None  # checks signatures on when the log_opened entry is gone

    def step(self, seq: int, kind: str, entry_key_id: str, content: str) -> list[Problem]:
        """Account for one entry in order; returns problems about its key."""
        problems: list[Problem] = []
        if seq == 1 or self.active is None:
            if kind != "log_opened":
                problems.append(Problem(seq, "kind", "log_opened (the first entry)", kind))
                if self.fallback is None:
                    return problems
                self.active = self.fallback
                self.seen[key_id(self.fallback)] = self.fallback
                return problems + self._signer(seq, entry_key_id)
            raw, problem = _key_from(content, "public_key", seq)
            if problem:
                return [problem]
            self.active = raw
            self.seen[key_id(raw)] = raw
        elif kind == "log_opened":
            problems.append(Problem(seq, "kind", "log_opened only as entry 1", kind))
        return problems + self._signer(seq, entry_key_id)

    def _signer(self, seq: int, entry_key_id: str) -> list[Problem]:
        expected = key_id(self.active) if self.active else "none"
        if entry_key_id == expected:
            return []
        note = "retired key" if entry_key_id in self.retired else "not this log's current key"
        return [Problem(seq, "key_id", expected, entry_key_id, note)]

    def after(self, seq: int, kind: str, content: str) -> list[Problem]:
        """After the entry's signature is assigned: a rotation hands over to the new key."""
        if kind != "key_rotated":
            return []
        raw, problem = _key_from(content, "new_public_key", seq)
        if problem:
            return [problem]
        if self.active is not None:
            self.retired.add(key_id(self.active))
        self.active = raw
        self.seen[key_id(raw)] = raw
        return []


def _key_from(content: str, name: str, seq: int) -> tuple[bytes, Problem | None]:
    try:
        raw = load_public_key(json.loads(content)[name])
    except (ValueError, KeyError, TypeError, SigningKeyError) as err:
        return b"", Problem(seq, f"content.{name}", "an Ed25519 public key", type(err).__name__)
    return raw, None


def _rows(conn: sa.Connection, batch: int) -> Iterable[list[Row]]:
    columns = [
        audit_log.c[n]
        for n in (
            "seq", "at", "kind", "subject", "content", "content_sha256",
            "prev_hash", "entry_hash", "signature", "key_id",
        )
    ]  # fmt: skip
    last = None
    while True:
        query = sa.select(*columns).order_by(audit_log.c.seq).limit(batch)
        if last is not None:
            query = query.where(audit_log.c.seq > last)
        rows = [tuple(r) for r in conn.execute(query)]
        if not rows:
            return
        yield rows  # type: ignore[misc]
        last = rows[-1][0]


def _pool(workers: int) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def verify_log(
    engine: sa.Engine,
    *,
    published_key: bytes | None = None,
    workers: int | None = None,
    batch: int = BATCH,
) -> VerifyReport:
    """Verify the whole log (see the module docstring); never raises on a bad log.

    Args:
        engine: the metadata store.
        published_key: the raw public key published beside the log, when there is one; it must
            be the chain's current key.
        workers: processes checking hashes and signatures (default: up to 2, by CPU count);
            1 checks everything in this process.
        batch: entries read per query.
    """
    create_audit_tables(engine)
    report = VerifyReport()
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
        head = conn.execute(sa.select(audit_head)).first()
        table_keys = {r.key_id: r for r in conn.execute(sa.select(audit_keys))}
        if workers is None:
            workers = min(2, os.cpu_count() or 1) if total >= PARALLEL_FROM else 1
        pool = _pool(workers) if workers > 1 else None
        pending: list[Future[list[tuple[int, str, str, str]]]] = []
        findings: list[tuple[int, str, str, str]] = []
        chain = _KeyChain(fallback=published_key or _first_listed(table_keys))
        expected_seq, prev = 1, GENESIS
        try:
            for rows in _rows(conn, batch):
                keys: dict[int, bytes] = {}
                for seq, _at, kind, _subject, content, _c, prev_hash, digest, _s, kid in rows:
                    if seq != expected_seq:
                        report.problems.append(Problem(seq, "seq", str(expected_seq), str(seq)))
                    if prev_hash != prev:
                        report.problems.append(Problem(seq, "prev_hash", prev, str(prev_hash)))
                    if kind not in KINDS:
                        report.problems.append(
                            Problem(seq, "kind", "one of " + ", ".join(sorted(KINDS)), kind)
                        )
                    report.problems += chain.step(seq, kind, kid, content)
                    if chain.active is not None:
                        keys[seq] = chain.active
                    report.problems += chain.after(seq, kind, content)
                    expected_seq, prev = seq + 1, digest
                    report.head_seq, report.head_hash = seq, digest
                report.entries += len(rows)
                if pool is not None:
                    pending.append(pool.submit(check_rows, rows, keys))
                else:
                    findings += check_rows(rows, keys)
            for future in pending:
                findings += future.result()
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    report.problems += [Problem(*f) for f in findings]
    report.keys = list(chain.seen)
    report.problems += _check_head(head, report)
    report.problems += _check_published(chain, table_keys, published_key)
    report.problems.sort(key=_order)
    return report


def _first_listed(table_keys: dict[str, Any]) -> bytes | None:
    rows = sorted(table_keys.values(), key=lambda r: r.introduced_seq)
    try:
        return load_public_key(rows[0].public_key) if rows else None
    except (ValueError, SigningKeyError):
        return None


def _check_head(head: Any, report: VerifyReport) -> list[Problem]:
    if head is None:
        return [Problem(None, "audit_head", "one head row", "none")] if report.entries else []
    expected = f"{report.head_seq}:{report.head_hash}"
    found = f"{head.seq}:{head.entry_hash}"
    if expected != found:
        return [
            Problem(
                None, "audit_head", found, expected,
                "the head row records a different last entry: entries were removed or added",
            )
        ]  # fmt: skip
    return []


def _check_published(
    chain: _KeyChain, table_keys: dict[str, Any], published_key: bytes | None
) -> list[Problem]:
    problems: list[Problem] = []
    for kid, raw in chain.seen.items():
        row = table_keys.get(kid)
        if row is None:
            problems.append(Problem(None, "audit_keys", f"key {kid} listed", "missing"))
            continue
        try:
            listed = load_public_key(row.public_key)
        except (ValueError, SigningKeyError):
            listed = b""
        if listed != raw:
            problems.append(Problem(None, f"audit_keys[{kid}]", "the chain's key", "another key"))
    for kid in table_keys.keys() - chain.seen.keys():
        problems.append(Problem(None, "audit_keys", "only keys named in the chain", kid))
    if published_key is not None:
        current = key_id(chain.active) if chain.active else "none"
        if chain.active != published_key:
            problems.append(
                Problem(
                    None, "published public key", current, key_id(published_key),
                    "the log is not signed by the key published beside it",
                )
            )  # fmt: skip
    return problems


# -- entries behind one statement or digest --------------------------------------------------------
@dataclass
class VerifyContext:
    """What re-derivers may need: the metadata store, FLOWSYNC_HOME, and extras they agree on."""

    engine: sa.Engine
    home: Path | None = None
    digest_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # re-derivers explain accepted changes here


Rederiver = Callable[[AuditEntry, VerifyContext], Iterable[Problem]]
BatchRederiver = Callable[[Sequence[AuditEntry], VerifyContext], Iterable[Problem]]
_REDERIVERS: dict[str, Rederiver] = {}
_BATCH_REDERIVERS: dict[str, BatchRederiver] = {}


def register_rederiver(kind: str, rederiver: Rederiver) -> None:
    """Let ``verify`` re-derive entries of ``kind`` one by one (takes precedence over a batch
    re-deriver of the kind; replaces an earlier registration)."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit entry kind {kind!r}")
    _REDERIVERS[kind] = rederiver


def register_batch_rederiver(kind: str, rederiver: BatchRederiver) -> None:
    """Let ``verify`` re-derive all entries of ``kind`` it checks in one call."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit entry kind {kind!r}")
    _BATCH_REDERIVERS[kind] = rederiver


def rederiver_for(kind: str) -> Rederiver | None:
    return _REDERIVERS.get(kind)


def _rederive(entries: Sequence[AuditEntry], context: VerifyContext) -> tuple[list[Problem], int]:
    """Run the re-derivers on the newest entry of each (kind, subject); ``(problems, count)``."""
    newest: dict[tuple[str, str], AuditEntry] = {}
    for entry in entries:
        if entry.kind in _REDERIVERS or entry.kind in _BATCH_REDERIVERS:
            newest[(entry.kind, entry.subject)] = entry  # entries come in seq order
    problems: list[Problem] = []
    by_kind: dict[str, list[AuditEntry]] = {}
    for entry in sorted(newest.values(), key=lambda e: e.seq):
        by_kind.setdefault(entry.kind, []).append(entry)
    for kind, group in by_kind.items():
        single = _REDERIVERS.get(kind)
        if single is not None:
            for entry in group:
                problems += list(single(entry, context))
        else:
            problems += list(_BATCH_REDERIVERS[kind](group, context))
    return problems, len(newest)


def rederive_log(engine: sa.Engine, context: VerifyContext | None = None) -> VerifyReport:
    """Re-derive every entry of the log that has a re-deriver (the newest per subject).

    Integrity is :func:`verify_log`'s job; run it first. The report's ``notes`` say what
    verified although it changed, and why.
    """
    context = context or VerifyContext(engine=engine)
    kinds = sorted(set(_REDERIVERS) | set(_BATCH_REDERIVERS))
    entries = read_entries(engine, kind=kinds) if kinds else []
    problems, count = _rederive(entries, context)
    return VerifyReport(
        entries=len(entries), rederived=count, problems=sorted(set(problems), key=_order),
        notes=list(dict.fromkeys(context.notes)),
    )  # fmt: skip


# Modules that register re-derivers when imported; `flowsync verify` imports those present.
REDERIVER_MODULES: tuple[str, ...] = ("flowsync_pipelines.statements.verify",)


def load_rederivers() -> list[str]:
    """Import the modules in :data:`REDERIVER_MODULES` that exist; returns those imported."""
    loaded = []
    for name in REDERIVER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is None or not name.startswith(err.name):
                raise  # the module exists but something it imports is missing
            continue
        loaded.append(name)
    return loaded


@dataclass(frozen=True)
class Rewrite:
    """A cited landing record that an erasure rewrote (scrubbed), so its payload hash changed."""

    new_ref: str
    erasure_id: str
    seq: int  # the gdpr_erasure entry that says so


def landing_rewrites(engine: sa.Engine) -> dict[str, Rewrite]:
    """SHA-256 of each landing_ref an erasure rewrote -> what it became and which erasure.

    Re-derivers use it to say why a statement's cited payload no longer hashes as logged:
    ``landing_rewrites(engine).get(hashlib.sha256(old_ref.encode()).hexdigest())``.
    """
    rewrites: dict[str, Rewrite] = {}
    for entry in read_entries(engine, kind="gdpr_erasure"):
        data = entry.data if isinstance(entry.data, dict) else {}
        for digest, new_ref in (data.get("rewritten_landing_refs") or {}).items():
            rewrites[digest] = Rewrite(new_ref, str(data.get("erasure_id")), entry.seq)
    return rewrites


def outbox_rewrites(engine: sa.Engine) -> dict[str, Rewrite]:
    """SHA-256 of a rendered digest file's bytes before an erasure scrubbed it -> its SHA-256
    after (``new_ref``) and which erasure."""
    rewrites: dict[str, Rewrite] = {}
    for entry in read_entries(engine, kind="gdpr_erasure"):
        data = entry.data if isinstance(entry.data, dict) else {}
        for old, new in (data.get("rewritten_outbox_files") or {}).items():
            rewrites[old] = Rewrite(new, str(data.get("erasure_id")), entry.seq)
    return rewrites


def _key_epochs(engine: sa.Engine) -> tuple[list[tuple[int, bytes]], list[Problem]]:
    """``(first seq, key)`` of each key the log's key entries establish, checked in order."""
    entries = read_entries(engine, kind=("log_opened", "key_rotated"))
    chain, epochs, problems = _KeyChain(), [], []
    rows: list[Row] = []
    keys: dict[int, bytes] = {}
    for e in entries:
        if chain.active is None and e.seq != 1:
            problems.append(Problem(e.seq, "seq", "1 (log_opened)", str(e.seq)))
        problems += chain.step(e.seq, e.kind, e.key_id, e.content)
        if chain.active is not None:
            keys[e.seq] = chain.active
            if not epochs:
                epochs.append((e.seq, chain.active))
        rows.append(_as_row(e))
        problems += chain.after(e.seq, e.kind, e.content)
        if e.kind == "key_rotated" and chain.active is not None:
            epochs.append((e.seq + 1, chain.active))
    problems += [Problem(*f) for f in check_rows(rows, keys)]
    return epochs, problems


def _as_row(e: AuditEntry) -> Row:
    return (
        e.seq, e.at, e.kind, e.subject, e.content, e.content_sha256,
        e.prev_hash, e.entry_hash, e.signature, e.key_id,
    )  # fmt: skip


def verify_entries(
    engine: sa.Engine, entries: Sequence[AuditEntry], *, context: VerifyContext | None = None
) -> list[Problem]:
    """Integrity of each entry (hash, signature by the key of its epoch, link to the next
    entry) and, where a re-deriver is registered for its kind, re-derivation."""
    context = context or VerifyContext(engine=engine)
    epochs, problems = _key_epochs(engine)
    keys: dict[int, bytes] = {}
    for entry in entries:
        signer = next((raw for first, raw in reversed(epochs) if first <= entry.seq), None)
        if signer is None:
            problems.append(Problem(entry.seq, "key_id", "a key of this log", entry.key_id))
            continue
        keys[entry.seq] = signer
        if entry.key_id != key_id(signer):
            problems.append(Problem(entry.seq, "key_id", key_id(signer), entry.key_id))
    problems += [Problem(*f) for f in check_rows([_as_row(e) for e in entries], keys)]
    with engine.connect() as conn:
        for entry in entries:
            successor = conn.execute(
                sa.select(audit_log.c.prev_hash).where(audit_log.c.seq == entry.seq + 1)
            ).first()
            if successor is not None and successor.prev_hash != entry.entry_hash:
                problems.append(
                    Problem(entry.seq + 1, "prev_hash", entry.entry_hash, successor.prev_hash)
                )
    problems += _rederive(entries, context)[0]
    return sorted(set(problems), key=_order)


def verify_statement(
    engine: sa.Engine, statement_id: str, *, context: VerifyContext | None = None
) -> VerifyReport:
    """Verify the audit entries that state ``statement_id`` (and re-derive them when a
    re-deriver for ``statement`` is registered)."""
    entries = read_entries(engine, kind="statement", subject=statement_id)
    return _subject_report(engine, entries, f"statement {statement_id}", context)


DIGEST_KINDS = ("digest_rendered", "digest_delivered")


def digest_subject(path: Path, outbox: Path) -> str:
    """The subject of a digest file's entries: its path under the outbox, with ``/``."""
    try:
        return path.resolve().relative_to(outbox.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def verify_digest_file(
    engine: sa.Engine, path: Path, *, outbox: Path, context: VerifyContext | None = None
) -> VerifyReport:
    """Verify the audit entries of a rendered digest file and that the file is what was logged."""
    context = context or VerifyContext(engine=engine)
    context.digest_file = path
    entries = read_entries(engine, kind=DIGEST_KINDS, subject=digest_subject(path, outbox))
    return _subject_report(engine, entries, f"digest {path}", context)


def _subject_report(
    engine: sa.Engine, entries: list[AuditEntry], what: str, context: VerifyContext | None
) -> VerifyReport:
    report = VerifyReport(entries=len(entries))
    if not entries:
        report.problems.append(Problem(None, what, "at least one audit entry", "none"))
        return report
    report.head_seq, report.head_hash = entries[-1].seq, entries[-1].entry_hash
    report.keys = sorted({e.key_id for e in entries})
    context = context or VerifyContext(engine=engine)
    report.problems = verify_entries(engine, entries, context=context)
    report.rederived = _rederive_count(entries)
    report.notes = list(dict.fromkeys(context.notes))
    return report


def _rederive_count(entries: Sequence[AuditEntry]) -> int:
    kinds = set(_REDERIVERS) | set(_BATCH_REDERIVERS)
    return len({(e.kind, e.subject) for e in entries if e.kind in kinds})


def _digest_file_matches(entry: AuditEntry, context: VerifyContext) -> list[Problem]:
    """A digest entry's ``sha256`` is the SHA-256 of the file's bytes."""
    path = context.digest_file
    if path is None and context.home is not None:
        path = context.home / "outbox" / entry.subject
    expected = entry.data.get("sha256") if isinstance(entry.data, dict) else None
    if path is None or expected is None:
        return []
    if not path.exists():
        return [Problem(entry.seq, "digest file", str(path), "missing")]
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found == expected:
        return []
    rewrites, current, erasures = outbox_rewrites(context.engine), expected, []
    while current != found and current in rewrites and len(erasures) < len(rewrites):
        erasures.append(rewrites[current])
        current = rewrites[current].new_ref
    if current == found:
        why = ", ".join(f"GDPR erasure {e.erasure_id} (entry {e.seq})" for e in erasures)
        context.notes.append(
            f"entry {entry.seq} (digest {entry.subject}): the file was scrubbed by {why}; "
            f"its hash changed from {expected} to {found} exactly as the erasure recorded"
        )
        return []
    return [Problem(entry.seq, "content.sha256", expected, found, f"{path} changed")]


register_rederiver("digest_rendered", _digest_file_matches)
register_rederiver("digest_delivered", _digest_file_matches)
