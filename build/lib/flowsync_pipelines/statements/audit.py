"""What the signed audit log records about statements (Dagster-free).

One ``statement`` entry per statement emitted, its subject the ``statement_id`` and its content
the statement row (:data:`LOGGED_FIELDS`) plus ``landing``: for every evidence event, the landing
record its signal was normalised from (``landing_ref``) and the SHA-256 of that record's payload
as landing held it when the statement was made. ``flowsync verify`` re-reads those records,
checks the hashes and re-derives the statement from them
(:mod:`flowsync_pipelines.statements.verify`).

``first_stated_on`` is not logged: it depends on which windows ran before, not on the evidence.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flowsync_pipelines.statements.models import FittedModel
from flowsync_pipelines.warehouse import query

LOGGED_FIELDS = (
    "statement_id",
    "as_of_date",
    "team",
    "kind",
    "subject_type",
    "subject_id",
    "object_type",
    "object_id",
    "text",
    "params",
    "confidence",
    "band",
    "evidence",
    "citations",
    "model",
    "model_version",
)

Item = tuple[str, str, dict[str, Any]]  # (audit kind, subject, content)


def landing_files(landing_root: Path) -> list[str]:
    """Every Parquet file of the landing zone."""
    return [str(p) for p in sorted(Path(landing_root).glob("source=*/kind=*/*.parquet"))]


def landing_evidence(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, landing_root: Path
) -> pl.DataFrame:
    """``(statement_id, event_id, landing_ref, payload_sha256)`` for every event the statements
    of ``frame`` cite (``landing_ref`` null: the event is not in ``signals``; ``payload_sha256``
    null: landing holds no such record)."""
    evidence = (
        frame.select("statement_id", pl.col("evidence").alias("event_id"))
        .explode("event_id")
        .drop_nulls()
        .unique()
    )
    files = landing_files(landing_root)
    if evidence.is_empty() or not files:
        return evidence.with_columns(
            pl.lit(None, pl.String).alias("landing_ref"),
            pl.lit(None, pl.String).alias("payload_sha256"),
        )
    con.register("_st_evidence", evidence.to_arrow())
    try:
        return query(con, "statements_landing_evidence", landing_files=files)
    finally:
        con.unregister("_st_evidence")


def statement_content(row: dict[str, Any]) -> dict[str, Any]:
    """The logged fields of one statement row (``params`` parsed: it is JSON text in the table)."""
    content = {name: row[name] for name in LOGGED_FIELDS}
    day = content["as_of_date"]
    content["as_of_date"] = day.isoformat() if isinstance(day, date) else day
    if isinstance(content["params"], str):
        content["params"] = json.loads(content["params"])
    content["evidence"] = list(content["evidence"] or [])
    content["citations"] = list(content["citations"] or [])
    return content


def statement_items(frame: pl.DataFrame, evidence: pl.DataFrame) -> list[Item]:
    """One ``statement`` audit item per row of ``frame``, with its landing evidence."""
    landing: dict[str, list[dict[str, Any]]] = {}
    for sid, event_id, ref, sha in evidence.sort("statement_id", "event_id").iter_rows():
        landing.setdefault(sid, []).append(
            {"event_id": event_id, "landing_ref": ref, "payload_sha256": sha}
        )
    return [
        (
            "statement",
            row["statement_id"],
            {**statement_content(row), "landing": landing.get(row["statement_id"], [])},
        )
        for row in frame.select(LOGGED_FIELDS).iter_rows(named=True)
    ]


def model_items(models: list[FittedModel]) -> list[Item]:
    """One ``model_trained`` audit item per fitted model version."""
    return [("model_trained", m.subject, m.audit_content()) for m in models]
