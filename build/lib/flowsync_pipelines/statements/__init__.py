"""Statements: the claims FlowSync makes, each with a confidence band, evidence and citations.

Dagster-free: :func:`derive` reads signals and the context graph in DuckDB for a window of as-of
days, :func:`write` replaces that window of the ``statements`` table.
"""

from flowsync_pipelines.statements.calibration import (
    MAX_ECE,
    CalibrationReport,
    Verdict,
    calibration_report,
    verdict,
)
from flowsync_pipelines.statements.catalogue import KINDS, KINDS_BY_NAME, Kind
from flowsync_pipelines.statements.core import (
    COLUMNS,
    StatementSettings,
    derive,
    derive_with_calibration,
    evidence_problems,
    read,
    render,
    statement_id,
    write,
)
from flowsync_pipelines.statements.predict import StallSettings
from flowsync_pipelines.statements.risk import EpicSettings, IncidentSettings, SprintSettings
from flowsync_pipelines.statements.store import ModelStore, forget_models

__all__ = [
    "COLUMNS",
    "KINDS",
    "KINDS_BY_NAME",
    "MAX_ECE",
    "CalibrationReport",
    "EpicSettings",
    "IncidentSettings",
    "Kind",
    "ModelStore",
    "SprintSettings",
    "StallSettings",
    "StatementSettings",
    "Verdict",
    "calibration_report",
    "derive",
    "derive_with_calibration",
    "evidence_problems",
    "forget_models",
    "read",
    "render",
    "statement_id",
    "verdict",
    "write",
]
