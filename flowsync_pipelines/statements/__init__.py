"""Statements: the claims FlowSync makes, each with a confidence band, evidence and citations.

Dagster-free: :func:`derive` reads signals and the context graph in DuckDB for a window of as-of
days, :func:`write` replaces that window of the ``statements`` table.
"""

from flowsync_pipelines.statements.catalogue import KINDS, KINDS_BY_NAME, Kind
from flowsync_pipelines.statements.core import (
    COLUMNS,
    StatementSettings,
    derive,
    evidence_problems,
    read,
    render,
    statement_id,
    write,
)

__all__ = [
    "COLUMNS",
    "KINDS",
    "KINDS_BY_NAME",
    "Kind",
    "StatementSettings",
    "derive",
    "evidence_problems",
    "read",
    "render",
    "statement_id",
    "write",
]
