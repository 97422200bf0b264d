"""``flowsync sql``: run one query on the warehouse, read-only, and print the rows.

Aligned text for people, CSV or JSON for programs. The warehouse is opened read-only, so a query
cannot change it (DuckDB refuses writes on a read-only connection).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb

from flowsync_pipelines.warehouse import connect

Format = Literal["text", "csv", "json"]


def run_query(path: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of ``sql`` on the warehouse at ``path``, opened read-only."""
    if not path.exists():
        msg = (
            f"No warehouse at {path}. Run `flowsync demo` (or materialise the pipeline) first, "
            "or point FLOWSYNC_HOME at the home that holds flowsync.duckdb."
        )
        raise FileNotFoundError(msg)
    with connect(path, read_only=True) as con:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: Format = "text") -> str:
    """``rows`` as aligned text (numbers right-aligned), CSV (RFC 4180) or a JSON array."""
    if fmt == "json":
        return json.dumps([dict(zip(columns, map(_jsonable, r), strict=True)) for r in rows])
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in r] for r in rows])
        return out.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in r] for r in rows]
    numeric = [
        all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in rows) and bool(rows)
        for i in range(len(columns))
    ]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    footer = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    return "\n".join([line(columns), rule, *(line(r) for r in cells), footer])


__all__ = ["Format", "duckdb", "render", "run_query"]
