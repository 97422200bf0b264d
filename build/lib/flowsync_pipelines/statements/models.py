"""Fitted models, announced as they are fitted: what the audit log's ``model_trained`` entries say.

The statements core stays free of Dagster and of the audit log: a predictor calls
:func:`model_fitted` each time it uses a model version, fitted or loaded from the model store
(the audit log skips an entry equal to the latest of its subject, so a loaded version that was
already announced appends nothing), and whoever runs the derivation (the
``statements`` asset) collects the announcements with :func:`recording_models`. Nothing listens
outside such a block, so a derivation run elsewhere (a test, ``flowsync verify``) records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date
from typing import Any, Protocol


class _Fitted(Protocol):
    kind: str
    version: str
    rows: int
    positive_rate: float


@dataclass(frozen=True)
class FittedModel:
    """One fitted model version: enough to say what it was trained on, never the weights."""

    statement_kind: str
    version: str
    model: str  # e.g. "calibrated_logistic", or "prior" when history was too short
    training_window: tuple[date, date]
    rows: int
    positive_rate: float
    features: tuple[str, ...]
    settings: dict[str, Any]

    @property
    def subject(self) -> str:
        """The audit subject: one per kind and version (a refit of a version is no news)."""
        return f"{self.statement_kind}:{self.version}"

    def audit_content(self) -> dict[str, Any]:
        return {
            "statement_kind": self.statement_kind,
            "version": self.version,
            "model": self.model,
            "training_window": [d.isoformat() for d in self.training_window],
            "rows": self.rows,
            "positive_rate": round(self.positive_rate, 6),
            "features": list(self.features),
            "settings": self.settings,
        }


_recorders: ContextVar[tuple[list[FittedModel], ...]] = ContextVar("fitted_models", default=())


def model_fitted(
    statement_kind: str,
    fitted: _Fitted,
    window: tuple[date, date],
    settings: object,
    features: Sequence[str],
) -> None:
    """Announce a fitted model version to every :func:`recording_models` block around the call."""
    recorders = _recorders.get()
    if not recorders:
        return
    model = FittedModel(
        statement_kind=statement_kind,
        version=fitted.version,
        model=fitted.kind,
        training_window=window,
        rows=int(fitted.rows),
        positive_rate=float(fitted.positive_rate),
        features=tuple(features),
        settings=asdict(settings) if is_dataclass(settings) else dict(vars(settings)),  # type: ignore[arg-type]
    )
    for recorder in recorders:
        recorder.append(model)


@contextmanager
def recording_models() -> Iterator[list[FittedModel]]:
    """Collect the models fitted inside the block (each version once, in fitting order)."""
    found: list[FittedModel] = []
    token = _recorders.set((*_recorders.get(), found))
    try:
        yield found
    finally:
        _recorders.reset(token)
        unique = {m.subject: m for m in found}
        found[:] = list(unique.values())
