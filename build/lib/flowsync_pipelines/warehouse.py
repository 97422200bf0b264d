"""The DuckDB warehouse: connections with the schema applied, and queries run from ``sql/``.

Every query lives in ``sql/duckdb/<name>.sql`` and takes ``$named`` parameters; values are never
formatted into SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flowsync_pipelines.packaged import shipped

SQL_DIR = shipped("sql/duckdb")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


@cache
def _statements(name: str) -> tuple[str, ...]:
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return tuple(s.strip() for s in body.split(";") if s.strip())


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> None:
    """Run every statement of ``sql/duckdb/<name>.sql`` with the parameters each one uses."""
    for statement in _statements(name):
        used = {k: params[k] for k in _PARAM.findall(statement)}
        con.execute(statement, used or None)


def query(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pl.DataFrame:
    """Run the single ``SELECT`` in ``sql/duckdb/<name>.sql`` and return a Polars frame."""
    (statement,) = _statements(name)
    used = {k: params[k] for k in _PARAM.findall(statement)}
    return con.execute(statement, used or None).pl()


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (creating its tables) in UTC; closed when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            run_sql(con, "schema")
        yield con
    finally:
        con.close()


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Append ``frame``'s rows to ``table`` (columns matched by name)."""
    if frame.is_empty():
        return
    con.register("_incoming", frame.to_arrow())
    try:
        columns = ", ".join(frame.columns)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _incoming")
    finally:
        con.unregister("_incoming")


def replace_rows(
    con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, *, key: str
) -> None:
    """Upsert ``frame`` into ``table`` by ``key`` (delete the keys present, then insert)."""
    if frame.is_empty():
        return
    con.register("_keys", frame.select(key).to_arrow())
    try:
        con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM _keys)")
    finally:
        con.unregister("_keys")
    insert_rows(con, table, frame)
