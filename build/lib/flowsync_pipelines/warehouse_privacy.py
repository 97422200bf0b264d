"""The DuckDB warehouse's privacy: every VARCHAR, JSON and VARCHAR[] column of every table.

``forget`` cuts the person out in one transaction: a column equal to an erased pseudonym becomes
NULL (``signals.actor`` with ``actor_kind = 'erased'``; a NOT NULL column loses the row), a JSON
value equal to it becomes null, identifiers and pseudonyms inside text become ``[erased]``, and
``landing_ref`` follows the records landing rewrote. When that changed anything, the stored
statement models (the model store, ``statement_models``) go too: they were fitted on data that
held the person. Table and column names come from the catalogue, so the SQL is built here; every
value is a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flowsync_pipelines import warehouse
from flowsync_pipelines.privacy.findings import OUTSIDE, RAW
from flowsync_pipelines.privacy.identifiers import (
    IdentifierSet,
    matches_in_value,
    prefilter,
    scrub_payload,
    scrub_text,
)
from flowsync_pipelines.privacy.interface import Erasure, Export, Exported, GdprError, Scan
from flowsync_pipelines.statements.store import forget_models

# Columns that hold raw tool payloads by contract (the scan's raw zone).
RAW_ZONE_COLUMNS = frozenset({("quarantine", "payload")})

Count = Callable[[str, duckdb.DuckDBPyConnection], None]


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


def _null_pseudonyms(
    con: duckdb.DuckDBPyConnection,
    columns: Sequence[_Column],
    pseudonyms: list[str],
    count: Count,
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
    count: Count,
) -> None:
    """Replace identifiers inside the values of one text column (value by value)."""
    values = _distinct_texts(con, column)
    if not values:
        return
    candidates = pl.Series(values, dtype=pl.String).filter(
        prefilter(pl.Series(values, dtype=pl.String), identifiers)
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


class WarehousePrivacy:
    """The warehouse's side of :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`."""

    raw_zone = False

    def scan(self, scan: Scan) -> None:
        path = scan.stores.duckdb
        if not path.exists():
            return
        scan.scanned.append("duckdb")
        scan.say("scanning the DuckDB warehouse …")
        identifiers = scan.identifiers
        with _open_warehouse(path, read_only=True) as con:
            for column in _text_columns(con):
                values = _distinct_texts(con, column)
                if not values:
                    continue
                series = pl.Series(values, dtype=pl.String)
                candidates = series.filter(prefilter(series, identifiers)).to_list()
                zone = RAW if (column.table, column.name) in RAW_ZONE_COLUMNS else OUTSIDE
                keys = _primary_key(con, column.table)
                for value in candidates:
                    matches = matches_in_value(value, identifiers, is_json=column.dtype == "JSON")
                    if not matches:
                        continue
                    sample = _warehouse_sample(con, column, keys, value)
                    for matched, kind in matches:
                        scan.found.add("duckdb", column.ref, zone, matched, kind, sample)

    def forget(self, erasure: Erasure) -> dict[str, int]:
        """Cut the person out of DuckDB in one transaction; rows changed per ``duckdb:<table>``."""
        path = erasure.stores.duckdb
        if not path.exists():
            return {}
        erasure.say("scrubbing the DuckDB warehouse …")
        identifiers, pseudonyms = erasure.with_pseudonyms, erasure.pseudonyms
        refs = erasure.rewritten_refs
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
                    _follow_landing_refs(con, columns, refs, count)
                # Models fitted on data that held the person go too; the next run refits.
                if counts and (dropped := forget_models(con)):
                    counts["statement_models"] = dropped
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return {f"duckdb:{table}": n for table, n in counts.items()}

    def export(self, export: Export) -> Exported:
        """Signals the person authored or that reference them; role-view items about them."""
        pseudonyms = export.pseudonyms
        signals: list[dict[str, Any]] = []
        statements: list[dict[str, Any]] = []
        if export.stores.duckdb.exists() and pseudonyms:
            export.say("reading signals and role views …")
            with _open_warehouse(export.stores.duckdb, read_only=True) as con:
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
        return Exported(
            sections={"signals": signals, "statements": statements},
            counts={"signals": len(signals), "statements": len(statements)},
        )


def _follow_landing_refs(
    con: duckdb.DuckDBPyConnection,
    columns: Sequence[_Column],
    refs: dict[str, str],
    count: Count,
) -> None:
    """Derived rows cite the landing records ``forget`` rewrote by their new ``landing_ref``."""
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
