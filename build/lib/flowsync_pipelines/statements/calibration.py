"""How well a predicted kind's probabilities held up out of time: a pure function of
predictions and outcomes (no Dagster), and the verdict the ``statement_calibration`` check gives.

The report is computed on the latest out-of-time window: outcomes that became known in it,
each scored by the model version that was current before the window began, so none of them
trained the model that scored it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np

BINS = 10
MAX_ECE = 0.05  # the acceptance bound of issue 12
# A window judges calibration when the ECE a perfectly calibrated model would show on it by
# chance alone (``ece_noise``) is at most this share of the bound, and each class has at least
# MIN_PER_CLASS outcomes.
NOISE_SHARE = 0.5
MIN_PER_CLASS = 30


@dataclass(frozen=True)
class CalibrationReport:
    """One predicted kind on one out-of-time window.

    Attributes:
        kind: the statement kind.
        window: the as-of days ``[start, end)`` whose outcomes became known.
        model_version: the version that scored them (fitted on outcomes known before ``start``).
        model: the fitted model's kind (e.g. ``gradient_boosting+isotonic``), or ``prior``
            (too little history to fit).
        rows: scored rows (a pull request's daily snapshots each count).
        outcomes: distinct subjects among the rows (the snapshots of one pull request share
            its outcome, so the window holds this many independent outcomes, not ``rows``).
        positive_rate: share of rows whose outcome was positive.
        auc: area under the ROC curve (``None`` with a single class).
        brier: mean squared error of the probabilities.
        ece: expected calibration error over :data:`BINS` equal-width bins.
        ece_noise: the ECE a perfectly calibrated model would show on this window by chance
            (per bin ``sqrt(2/pi) * sqrt(p(1-p) / independent outcomes in the bin)``).
        reliability: per bin ``lower, upper, rows, mean_confidence, share_true``.
        enough: whether the window is large enough to judge calibration.
    """

    kind: str
    window: tuple[date, date]
    model_version: str
    model: str
    rows: int
    outcomes: int
    positive_rate: float | None
    auc: float | None
    brier: float | None
    ece: float | None
    ece_noise: float | None
    reliability: list[dict] = field(default_factory=list)
    enough: bool = False

    def as_metadata(self) -> dict:
        out = asdict(self)
        out["window"] = [self.window[0].isoformat(), self.window[1].isoformat()]
        return out


def _auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Mann-Whitney AUC with ties counted half (rank based: O(n log n))."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    ranks = np.empty(len(p))
    # average ranks over ties
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def reliability_table(
    p: np.ndarray, y: np.ndarray, rows_per_outcome: float = 1.0
) -> tuple[list[dict], float | None, float | None]:
    """Rows, mean confidence and share true per tenth of probability; the ECE; and the ECE a
    calibrated model would show by chance on these bins."""
    bins = np.clip(np.floor(p * BINS).astype(int), 0, BINS - 1)
    table, gap, noise = [], 0.0, 0.0
    for b in range(BINS):
        mask = bins == b
        n = int(mask.sum())
        mean_p = float(p[mask].mean()) if n else None
        share = float(y[mask].mean()) if n else None
        if n:
            gap += n * abs(mean_p - share)  # type: ignore[operator]
            independent = max(n / rows_per_outcome, 1.0)
            noise += n * np.sqrt(2 / np.pi * mean_p * (1 - mean_p) / independent)  # type: ignore[operator]
        table.append(
            {
                "lower": b / BINS,
                "upper": (b + 1) / BINS,
                "rows": n,
                "mean_confidence": None if mean_p is None else round(mean_p, 4),
                "share_true": None if share is None else round(share, 4),
            }
        )
    if not len(p):
        return table, None, None
    return table, float(gap / len(p)), float(noise / len(p))


def calibration_report(
    kind: str,
    probabilities: np.ndarray,
    outcomes: np.ndarray,
    window: tuple[date, date],
    model_version: str,
    model: str,
    *,
    subjects: np.ndarray | None = None,
    max_ece: float = MAX_ECE,
    min_per_class: int = MIN_PER_CLASS,
) -> CalibrationReport:
    """Rows, positive rate, AUC, Brier, ECE and the reliability table of ``probabilities``
    against the 0/1 ``outcomes``; ``subjects`` names each row's subject when several rows
    share one outcome (a pull request's daily snapshots)."""
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    n_subjects = len(np.unique(subjects)) if subjects is not None else len(y)
    table, ece, noise = reliability_table(p, y, len(y) / n_subjects if n_subjects else 1.0)
    if subjects is not None:
        per_subject = np.unique(
            np.column_stack([np.unique(subjects, return_inverse=True)[1], y]), axis=0
        )
        positives = int(per_subject[:, 1].sum())
    else:
        positives = int(y.sum())
    return CalibrationReport(
        kind=kind,
        window=window,
        model_version=model_version,
        model=model,
        rows=len(y),
        outcomes=n_subjects,
        positive_rate=round(float(y.mean()), 4) if len(y) else None,
        auc=None if (auc := _auc(p, y)) is None else round(auc, 4),
        brier=round(float(((p - y) ** 2).mean()), 4) if len(y) else None,
        ece=None if ece is None else round(ece, 4),
        ece_noise=None if noise is None else round(noise, 4),
        reliability=table,
        enough=bool(noise is not None)
        and noise <= NOISE_SHARE * max_ece
        and min(positives, n_subjects - positives) >= min_per_class,
    )


@dataclass(frozen=True)
class Verdict:
    """What ``statement_calibration`` says: ``status`` is ``pass``, ``warn`` (a window too
    small to tell) or ``fail`` (a judged window with ECE above ``max_ece``)."""

    status: str
    description: str
    failing: tuple[str, ...] = ()
    too_small: tuple[str, ...] = ()


def _fails(r: CalibrationReport, max_ece: float) -> bool:
    if r.ece is None or r.ece <= max_ece:
        return False
    # A small window fails only when its ECE is beyond the bound by twice its chance level.
    return r.enough or r.ece - 2 * (r.ece_noise or 0.0) > max_ece


def verdict(reports: list[CalibrationReport], max_ece: float = MAX_ECE) -> Verdict:
    """Fails when a kind's window has ECE above ``max_ece`` (a window too small to judge only
    when its ECE is clearly beyond chance); warns when a kind's window is too small to tell
    (and none fails); passes otherwise."""
    failing = tuple(r.kind for r in reports if _fails(r, max_ece))
    small = tuple(r.kind for r in reports if not r.enough and r.kind not in failing)
    parts = [
        f"{r.kind}: ECE {r.ece if r.ece is not None else 'n/a'} (chance level {r.ece_noise}) "
        f"on {r.rows} rows of {r.outcomes} outcomes ({r.window[0]} to {r.window[1]}, "
        f"model {r.model_version})" + ("" if r.enough else ", too few to tell")
        for r in reports
    ]
    if failing:
        status = "fail"
        head = f"ECE above {max_ece} out of time for {', '.join(failing)}."
    elif small:
        status = "warn"
        head = f"Out-of-time window too small to judge calibration for {', '.join(small)}."
    else:
        status = "pass"
        head = f"Every predicted kind has ECE <= {max_ece} out of time."
    if not reports:
        head = "No predicted kind has an out-of-time window yet."
        status = "warn"
    return Verdict(status, " ".join([head, *parts]), failing, small)
