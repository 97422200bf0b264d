"""``flowsync verify``: re-derive logged statements from the landing records behind their evidence.

Registered for the audit log's ``statement`` entries (imported by ``flowsync verify``). For the
entries to check, in one pass:

1. **Landing.** Every cited landing record is re-read by the ``landing_ref`` the entry logged,
   its payload hashed (SHA-256 of the bytes landing holds) and compared with the logged hash:
   a difference is ``landing[<ref>].payload_sha256: expected <logged>, found <now>``. A record a
   GDPR erasure rewrote is found under its new ref (the ``gdpr_erasure`` entry maps the SHA-256
   of the old ref to the new one); its hash change is explained by that erasure, in a note.
2. **Re-normalised.** Those records go through the pipeline's normalisers again (with
   ``FLOWSYNC_PSEUDONYM_KEY``); every cited event must come out of them.
3. **Recomputed.** A scratch in-memory DuckDB gets a copy of the warehouse's tables in which
   the cited events are replaced by the re-normalised ones, and the statement derivation runs
   for the logged days (one derivation for a run of consecutive days). Every logged field
   (:data:`~flowsync_pipelines.statements.audit.LOGGED_FIELDS`) must equal the recomputed one;
   for a predicted kind that includes the model version (a hash of its training window, data
   and settings), and that version must have its own ``model_trained`` entry. A model stored
   under that version (``statement_models``, its blob's SHA-256 checked) is loaded as the
   pipeline loaded it; any other is refitted, which gives the same model.

What this proves, and what not: the evidence a statement cites is byte-for-byte what landing
held when it was stated, still normalises to the cited events, and with them the derivation
still says exactly the logged statement. Context a statement does not cite — the graph's
links, events whose absence matters (no review yet), the history a model trains on — is read
as the warehouse holds it; verify does not rebuild the warehouse from landing.

After an erasure, a statement citing a rewritten record is recomputed on the scrubbed data; a
field that then differs (an erased author no longer counts towards a model's features) is
reported in a note naming the erasure, not as a failure.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flowsync_pipelines.audit.chain import canonical_json
from flowsync_pipelines.audit.log import AuditEntry, read_entries
from flowsync_pipelines.audit.verify import (
    Problem,
    Rewrite,
    VerifyContext,
    landing_rewrites,
    register_batch_rederiver,
)
from flowsync_pipelines.citations import routes
from flowsync_pipelines.env import CONFIG_ENV, HOME_ENV, PSEUDONYM_KEY_ENV
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.settings import Paths, load_config
from flowsync_pipelines.statements.audit import LOGGED_FIELDS, statement_content
from flowsync_pipelines.statements.core import derive
from flowsync_pipelines.statements.store import ModelStore

# Not needed to derive statements: not copied into the scratch database.
_NOT_COPIED = frozenset({"statements", "quarantine"})
_MODEL_PREFIX = "sklearn:"  # statements made by a fitted model (catalogue.Kind.model)
_REQUIRED = frozenset({"statement_id", "as_of_date", "landing"})


@dataclass
class _Cited:
    """One cited landing record: as logged, where it is now, and which erasures moved it."""

    logged_ref: str
    current_ref: str
    erasures: list[Rewrite] = field(default_factory=list)


def _resolve(ref: str, rewrites: dict[str, Rewrite]) -> _Cited:
    cited = _Cited(ref, ref)
    seen = {ref}
    while (step := rewrites.get(hashlib.sha256(cited.current_ref.encode()).hexdigest())) and (
        step.new_ref not in seen
    ):
        cited.erasures.append(step)
        cited.current_ref = step.new_ref
        seen.add(step.new_ref)
    return cited


def _read_landing(paths: Paths, refs: set[str]) -> pl.DataFrame:
    """The landing rows with these refs (one per ref), with a fresh SHA-256 of each payload."""
    rows = (
        LandingStore(paths.landing)
        .scan()
        .filter(pl.col("landing_ref").is_in(sorted(refs)))
        .collect()
        .unique("landing_ref", keep="first", maintain_order=True)
    )
    hashes = [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in rows.get_column("payload")]
    return rows.with_columns(pl.Series("hashed", hashes, dtype=pl.String))


def _clip(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day_runs(days: set[date]) -> list[tuple[date, date]]:
    """Consecutive days as ``[start, end)`` windows."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


def _scratch(warehouse: Path, events: pl.DataFrame) -> duckdb.DuckDBPyConnection:
    """An in-memory copy of the warehouse's tables, cited events replaced by ``events``."""
    con = duckdb.connect()  # the scratch database, in memory
    con.execute("SET TimeZone = 'UTC'")
    # ATTACH takes no parameters: the path is quoted as a SQL string literal.
    literal = "'" + str(warehouse).replace("'", "''") + "'"
    con.execute(f"ATTACH {literal} AS warehouse (READ_ONLY)")
    tables = [
        t
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = 'warehouse' AND schema_name = 'main' AND NOT temporary"
        ).fetchall()
        if t not in _NOT_COPIED
    ]
    for table in tables:
        name = '"' + table.replace('"', '""') + '"'
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM warehouse.main.{name}")
    con.execute("DETACH warehouse")
    con.register("_cited_events", events.to_arrow())
    try:
        con.execute("DELETE FROM signals WHERE event_id IN (SELECT event_id FROM _cited_events)")
        con.execute("INSERT INTO signals BY NAME SELECT * FROM _cited_events")
    finally:
        con.unregister("_cited_events")
    return con


def rederive_statements(entries: Sequence[AuditEntry], context: VerifyContext) -> list[Problem]:
    """Problems found re-deriving these ``statement`` entries (see the module docstring)."""
    logged: list[tuple[AuditEntry, dict[str, Any]]] = []
    for entry in entries:
        data = entry.data
        if isinstance(data, dict) and data.keys() >= _REQUIRED:
            logged.append((entry, data))
        else:
            context.notes.append(
                f"entry {entry.seq}: not a pipeline statement record (no landing evidence); "
                "its chain and signature are verified, its content is not re-derived"
            )
    if not logged:
        return []
    if context.home is None:
        return [Problem(None, HOME_ENV, "a FlowSync home (landing, warehouse)", "none")]
    paths = Paths(home=context.home)
    key = context.extra.get("pseudonym_key") or os.environ.get(PSEUDONYM_KEY_ENV)
    if not key:
        return [
            Problem(None, PSEUDONYM_KEY_ENV, "set (re-normalising landing needs it)", "not set")
        ]
    if not paths.duckdb.exists():
        return [Problem(None, "warehouse", str(paths.duckdb), "missing")]

    # 1. Landing: re-read and hash every cited record, following erasures' rewrites.
    rewrites = landing_rewrites(context.engine)
    cited = {
        item["landing_ref"]: _resolve(item["landing_ref"], rewrites)
        for _, data in logged
        for item in data["landing"]
        if item.get("landing_ref")
    }
    records = _read_landing(paths, {c.current_ref for c in cited.values()})
    found = dict(zip(records.get_column("landing_ref"), records.get_column("hashed"), strict=True))
    problems: list[Problem] = []
    erased_by: dict[int, set[str]] = {}  # entry seq -> erasures that rewrote what it cites
    for entry, data in logged:
        for item in data["landing"]:
            ref, expected = item.get("landing_ref"), item.get("payload_sha256")
            if not ref or not expected:
                problems.append(
                    Problem(
                        entry.seq, f"landing[{item.get('event_id')}]",
                        "a landing record for the cited event", "none when it was stated",
                    )
                )  # fmt: skip
                continue
            where = cited[ref]
            now = found.get(where.current_ref)
            if now is None:
                problems.append(
                    Problem(entry.seq, f"landing[{where.current_ref}]", "present", "missing")
                )
            elif where.erasures:
                # The rewritten record must still be the one the erasure wrote.
                if now[:16] != where.current_ref.rsplit("@", 1)[-1]:
                    problems.append(
                        Problem(
                            entry.seq, f"landing[{where.current_ref}].payload_sha256",
                            where.current_ref.rsplit("@", 1)[-1] + "… (as the erasure wrote it)",
                            now,
                        )
                    )  # fmt: skip
                erased_by.setdefault(entry.seq, set()).update(
                    f"GDPR erasure {e.erasure_id} (entry {e.seq})" for e in where.erasures
                )
            elif now != expected:
                problems.append(Problem(entry.seq, f"landing[{ref}].payload_sha256", expected, now))

    # 2. Re-normalised: every cited event must come out of its records again.
    # Landing is by source name: the home's configuration says each name's type and web URL.
    config = load_config(Path(os.environ.get(CONFIG_ENV) or paths.home / "flowsync.yaml"))
    events = normalise(records.drop("hashed"), pseudonym_key=key, sources=routes(config)).signals
    wanted = {e for _, data in logged for e in data.get("evidence") or []}
    events = events.filter(pl.col("event_id").is_in(sorted(wanted)))
    produced = set(events.get_column("event_id"))
    for entry, data in logged:
        for item in data["landing"]:
            event, ref = item.get("event_id"), item.get("landing_ref")
            if ref and event not in produced and ref in cited:
                problems.append(
                    Problem(
                        entry.seq, f"evidence[{event}]",
                        f"an event re-normalised from {cited[ref].current_ref}", "none",
                    )
                )  # fmt: skip

    # A predicted statement names a model version the log says was trained.
    trained = {e.subject for e in read_entries(context.engine, kind="model_trained")}
    for entry, data in logged:
        if data.get("model", "").startswith(_MODEL_PREFIX):
            subject = f"{data.get('kind')}:{data.get('model_version')}"
            if subject not in trained:
                problems.append(
                    Problem(entry.seq, "model_version", f"a model_trained entry {subject}", "none")
                )

    # 3. Recomputed on a scratch copy of the warehouse holding the re-normalised events.
    days = {date.fromisoformat(data["as_of_date"]) for _, data in logged}
    con = _scratch(paths.duckdb, events)
    try:
        store = ModelStore(con)  # the scratch copy's: fits made here are not kept
        derived = pl.concat(
            [derive(con, start, end, models=store) for start, end in _day_runs(days)]
        )
    finally:
        con.close()
    context.notes.extend(f"model {why}" for why in store.refitted)
    recomputed = {row["statement_id"]: row for row in derived.iter_rows(named=True)}
    for entry, data in logged:
        row = recomputed.get(data["statement_id"])
        now_content = statement_content(row) if row is not None else None
        differences = (
            [("statement", "re-derived from its evidence", f"not derived on {data['as_of_date']}")]
            if now_content is None
            else [
                (name, _clip(data.get(name)), _clip(now_content[name]))
                for name in LOGGED_FIELDS
                if canonical_json(data.get(name)) != canonical_json(now_content[name])
            ]
        )
        erasures = erased_by.get(entry.seq)
        if erasures:
            why = ", ".join(sorted(erasures))
            changed = "; ".join(f"{f}: {e} -> {n}" for f, e, n in differences)
            context.notes.append(
                f"entry {entry.seq} (statement {entry.subject}): cited landing records were "
                f"rewritten by {why}, so their payload hashes changed; re-derived on the "
                "scrubbed data "
                + (f"with differences it explains: {changed}" if changed else "unchanged")
            )
            continue
        problems += [Problem(entry.seq, f, e, n) for f, e, n in differences]
    return problems


register_batch_rederiver("statement", rederive_statements)
