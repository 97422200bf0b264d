"""Deriving, rendering and storing statements: plain functions on a DuckDB connection.

Each kind's rows come from ``sql/duckdb/statements_<kind>.sql`` (over the temporary inputs of
``statements_prepare.sql``) as ``as_of_date, team, subject_type, subject_id, object_type,
object_id, params, confidence, evidence, citations``; this module renders the sentence for the
band, names the model, gives each row its deterministic id and the day it was first stated, and
replaces one window of the ``statements`` table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from flowsync_pipelines.bands import HIGH, band
from flowsync_pipelines.graph.spec import MIN_CONFIDENCE
from flowsync_pipelines.statements.calibration import CalibrationReport
from flowsync_pipelines.statements.catalogue import BLOCKED_BY, HEDGES, KINDS, Kind
from flowsync_pipelines.statements.predict import StallSettings, predict_stalls
from flowsync_pipelines.statements.risk import (
    EpicSettings,
    IncidentSettings,
    SprintSettings,
    predict_epics,
    predict_incidents,
    predict_sprints,
)
from flowsync_pipelines.warehouse import SQL_DIR, query, run_sql

if TYPE_CHECKING:
    from flowsync_pipelines.statements.store import ModelStore

COLUMNS = (
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
    "audience",
    "evidence",
    "citations",
    "model",
    "model_version",
    "first_stated_on",
)

SCHEMA = {
    "statement_id": pl.String,
    "as_of_date": pl.Date,
    "team": pl.String,
    "kind": pl.String,
    "subject_type": pl.String,
    "subject_id": pl.String,
    "object_type": pl.String,
    "object_id": pl.String,
    "text": pl.String,
    "params": pl.String,
    "confidence": pl.Float64,
    "band": pl.String,
    "audience": pl.List(pl.String),
    "evidence": pl.List(pl.String),
    "citations": pl.List(pl.String),
    "model": pl.String,
    "model_version": pl.String,
    "first_stated_on": pl.Date,
}


@dataclass(frozen=True)
class StatementSettings:
    """Thresholds of the catalogue (each kind's model version hashes the ones it reads).

    Attributes:
        review_wait_hours: working hours (Monday-Friday, UTC) without a first review before a
            pull request is ``pr_waiting_for_review``.
        large_pr_files: distinct changed files above which a pull request is ``pr_large``.
        default_branches: branch names that count as a repository's default branch.
        blocked_days: days without linked activity before a ticket in progress is stalled.
        stale_days: days without any activity after which open work is abandoned or dormant,
            not news: a pull request still without a review, a ticket idle in progress or an
            incident not seen is no longer stated every day.
        min_link_confidence: links at least this confident carry facts (what a deployment
            shipped, a pull request's commits, a ticket's activity).
        unseen_link_prior: probability that no link the graph dropped (below its minimum
            confidence) is real; bounds "there is no link" claims.
    """

    review_wait_hours: float = 24.0
    large_pr_files: int = 10
    default_branches: tuple[str, ...] = ("main", "master")
    blocked_days: int = 3
    stale_days: int = 30
    min_link_confidence: float = HIGH
    unseen_link_prior: float = 0.95

    def sql_params(self) -> dict[str, Any]:
        return {**asdict(self), "default_branches": list(self.default_branches)}

    def model_version(self, kind: Kind) -> str:
        """Hash of the kind's SQL and the settings: a change to either is a new version."""
        sql = (SQL_DIR / f"statements_{kind.name}.sql").read_bytes()
        settings = json.dumps(self.sql_params(), sort_keys=True).encode()
        return hashlib.sha256(kind.name.encode() + b"\0" + sql + b"\0" + settings).hexdigest()[:12]


def statement_id(kind: str, subject_id: str, object_id: str | None, as_of: date) -> str:
    """Deterministic id of a claim: the same kind, subject, object and day give the same id."""
    key = "\x1f".join((kind, subject_id, object_id or "", as_of.isoformat()))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def render(kind: Kind, band_name: str, subject: str, obj: str | None, params: dict) -> str:
    """The sentence for a claim at its band: High states it, Medium says "likely", Low
    "possibly". Facts are always High.

    >>> from flowsync_pipelines.statements.catalogue import KINDS_BY_NAME
    >>> render(KINDS_BY_NAME["ticket_shipped"], "medium", "PAY-1", "acme/api/deployments/7", {})
    'PAY-1 likely shipped to production in acme/api/deployments/7.'
    """
    values = {**params, "subject": subject, "object": obj or ""}
    if kind.name == "deployment_shipped":
        values["pull_requests"] = _plural(len(params.get("pull_requests") or []), "pull request")
        values["tickets"] = _plural(len(params.get("tickets") or []), "ticket")
    if kind.name == "ticket_blocked" and params.get("reason") == "blocked_by":
        return BLOCKED_BY.format(**values)
    if band_name == "high" or kind.category == "fact":
        return kind.stated.format(**values)
    return kind.hedged.format(hedge=HEDGES[band_name], **values)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def derive(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    settings: StatementSettings | None = None,
    *,
    stall: StallSettings | None = None,
    sprint: SprintSettings | None = None,
    epic: EpicSettings | None = None,
    incident: IncidentSettings | None = None,
    models: ModelStore | None = None,
) -> pl.DataFrame:
    """Every statement for the as-of days ``[start, end)``, in the ``statements`` columns."""
    return derive_with_calibration(
        con,
        start,
        end,
        settings,
        stall=stall,
        sprint=sprint,
        epic=epic,
        incident=incident,
        models=models,
    )[0]


def prepare(
    con: duckdb.DuckDBPyConnection, start: date, end: date, settings: StatementSettings
) -> dict:
    """The temporary tables every kind's SQL reads for the as-of days ``[start, end)``; returns
    the SQL parameters."""
    params = {"window_start": start, "window_end": end, **settings.sql_params()}
    run_sql(con, "statements_schema")
    run_sql(con, "statements_prepare", **params)
    run_sql(con, "statements_pr_activity", **params)
    links = query(con, "jira_issue_links")
    con.register("_jira_links", links.to_arrow())
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE st_jira_link AS SELECT * FROM _jira_links")
    finally:
        con.unregister("_jira_links")
    return params


# What each risk kind reads: its subjects, then their events (SQL file, extra parameters).
RISK_INPUTS = {
    "sprint_at_risk": (
        ("statements_sprint_risk_sprints", {}),
        ("statements_plan_risk_tickets", {"link_type": "ticket_sprint"}),
    ),
    "epic_at_risk": (
        ("statements_epic_risk_epics", {}),
        ("statements_plan_risk_tickets", {"link_type": "ticket_epic"}),
    ),
    "incident_slow_to_restore": (
        ("statements_incident_restore_inputs", {}),
        ("statements_incident_restore_events", {}),
    ),
}


def risk_inputs(
    con: duckdb.DuckDBPyConnection, kind: str, params: dict
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A risk kind's subjects and their events, after :func:`prepare`."""
    (subjects, extra), (events, more) = RISK_INPUTS[kind]
    return query(con, subjects, **params, **extra), query(con, events, **params, **more)


def derive_with_calibration(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    settings: StatementSettings | None = None,
    *,
    stall: StallSettings | None = None,
    sprint: SprintSettings | None = None,
    epic: EpicSettings | None = None,
    incident: IncidentSettings | None = None,
    models: ModelStore | None = None,
) -> tuple[pl.DataFrame, list[CalibrationReport]]:
    """:func:`derive`, and per predicted kind the calibration report of its latest
    out-of-time window before ``end`` (what ``statement_calibration`` judges). A model whose
    version is in ``models`` is loaded from it, any other is fitted (and stored there); without
    a store every model is fitted."""
    settings = settings or StatementSettings()
    params = prepare(con, start, end, settings)
    frames, reports = [], []
    for kind in KINDS:
        if kind.name == "pr_will_stall":
            rows, report = predict_stalls(
                query(con, "statements_pr_stall_inputs", **params),
                query(con, "statements_pr_stall_reviews", **params),
                start,
                end,
                stall,
                store=models,
            )
            reports.append(report)
            version = ""  # each row carries its fitted model's version
        elif kind.name == "sprint_at_risk":
            rows, report = predict_sprints(
                *risk_inputs(con, kind.name, params), start, end, sprint, store=models
            )
            reports.append(report)
            version = ""
        elif kind.name == "epic_at_risk":
            rows, report = predict_epics(
                *risk_inputs(con, kind.name, params), start, end, epic, store=models
            )
            reports.append(report)
            version = ""
        elif kind.name == "incident_slow_to_restore":
            rows, report = predict_incidents(
                *risk_inputs(con, kind.name, params), start, end, incident, store=models
            )
            reports.append(report)
            version = ""
        else:
            rows = query(con, f"statements_{kind.name}", **params)
            version = settings.model_version(kind)
        if rows.is_empty():
            continue
        frames.append(_finish(rows, kind, version))
    frame = pl.concat(frames) if frames else pl.DataFrame(schema={**SCHEMA})
    prior = query(con, "statements_first_stated", window_start=start)
    statements = (
        _first_stated(frame, prior)
        .select(COLUMNS)
        .sort("as_of_date", "kind", "subject_id", "object_id", nulls_last=True)
    )
    return statements, reports


def _finish(rows: pl.DataFrame, kind: Kind, version: str) -> pl.DataFrame:
    """``rows`` of one kind as statements: clamped confidence, band, id, sentence.

    Column by column (years of history hold hundreds of thousands of rows); only the sentence,
    the id and the canonical params are made per row, by plain comprehensions.
    """
    clamped = [round(min(max(float(c), 0.0), 1.0), 4) for c in rows.get_column("confidence")]
    rows = rows.with_columns(pl.Series("confidence", clamped, dtype=pl.Float64))
    # Almost surely not so: not worth saying, even as "possibly".
    rows = rows.filter(pl.col("confidence") >= MIN_CONFIDENCE)
    params = [json.loads(p) if isinstance(p, str) else p for p in rows.get_column("params")]
    bands = [band(c) for c in rows.get_column("confidence")]
    subjects = rows.get_column("subject_id").to_list()
    objects = rows.get_column("object_id").to_list()
    days = rows.get_column("as_of_date").to_list()
    columns = {
        "statement_id": [
            statement_id(kind.name, s, o, d)
            for s, o, d in zip(subjects, objects, days, strict=True)
        ],
        "text": [
            render(kind, b, s, o, p)
            for b, s, o, p in zip(bands, subjects, objects, params, strict=True)
        ],
        "params": [json.dumps(p, sort_keys=True, separators=(",", ":")) for p in params],
        "band": bands,
    }
    return rows.select(
        *(pl.Series(name, values, dtype=SCHEMA[name]) for name, values in columns.items()),
        pl.lit(list(kind.audience), dtype=SCHEMA["audience"]).alias("audience"),
        _distinct("evidence"),
        _distinct("citations"),
        pl.col("as_of_date", "team", "subject_type", "subject_id", "object_type", "object_id"),
        pl.col("confidence"),
        pl.lit(kind.name).alias("kind"),
        pl.lit(kind.model).alias("model"),
        (pl.lit(version) if version else pl.col("model_version")).alias("model_version"),
        pl.col("as_of_date").alias("first_stated_on"),
    ).select(pl.col(name).cast(dtype) for name, dtype in SCHEMA.items())


def _distinct(column: str) -> pl.Expr:
    """The list ``column``'s non-empty values once each, in their order (a null list: empty)."""
    kept = pl.element().filter(pl.element().is_not_null() & (pl.element() != ""))
    values = pl.col(column).cast(pl.List(pl.String)).fill_null([])
    return values.list.eval(kept.unique(maintain_order=True)).alias(column)


def _first_stated(frame: pl.DataFrame, prior: pl.DataFrame) -> pl.DataFrame:
    key = ["kind", "subject_id", "object_key"]
    keyed = frame.with_columns(pl.col("object_id").fill_null("").alias("object_key"))
    first = keyed.group_by(key).agg(pl.col("as_of_date").min().alias("window_first"))
    prior = prior.with_columns(pl.col("prior_first").cast(pl.Date))
    return (
        keyed.join(first, on=key, how="left")
        .join(prior, on=key, how="left")
        .with_columns(
            pl.coalesce("prior_first", "window_first").alias("first_stated_on"),
        )
        .drop("object_key", "window_first", "prior_first")
    )


def write(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, start: date, end: date) -> None:
    """Replace the window ``[start, end)`` of ``statements`` with ``frame``, in one transaction
    (a re-run with the same inputs changes nothing)."""
    run_sql(con, "statements_schema")
    con.register("_statements_window", frame.select(COLUMNS).to_arrow())
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            run_sql(con, "statements_write", window_start=start, window_end=end)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("_statements_window")


def evidence_problems(con: duckdb.DuckDBPyConnection, start: date, end: date) -> pl.DataFrame:
    """Statements of the window without an event in ``signals`` or a URL (empty when sound)."""
    return query(con, "statements_evidence_check", window_start=start, window_end=end)


def read(con: duckdb.DuckDBPyConnection, start: date, end: date) -> pl.DataFrame:
    """The stored statements of the window, in a stable order (for digests and tests); none
    when the table does not exist yet."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'statements'"
    ).fetchone()
    if not exists or not exists[0]:
        return pl.DataFrame(schema=SCHEMA)
    return query(con, "statements_read", window_start=start, window_end=end)
