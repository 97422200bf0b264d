"""Calibrated confidence for inferred identity links, fitted on labelled account pairs.

``labels/pairs.csv`` holds candidate pairs from simulated organisations (seeds other than the
demo's 7), each with the evidence features :func:`~flowsync_pipelines.identity.evidence.
pair_features` computes and ``label`` (1 = the two accounts are one person in the simulator's
ground truth). Each organisation is labelled twice: as the tools report it when polled
(``view = polled``) and as webhook deliveries show it (``view = logins_only``: GitHub and GitLab
accounts known by login alone, tracker accounts without addresses). ``tools/identity_labels.py
derive`` regenerates the file; pipeline code never reads ground truth.

The model is an L2 logistic regression on the features wrapped in ``CalibratedClassifierCV``
(isotonic on held-out folds), so a confidence of 0.9 means "9 in 10 such pairs are one person".
It is fitted at first use and cached per process until the labels file changes. Out-of-sample
quality is measured leaving one organisation out at a time: precision and recall of the pairs
kept at :data:`~flowsync_pipelines.identity.resolve.KEEP_THRESHOLD`, Brier score and expected
calibration error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier

from flowsync_pipelines.identity.evidence import COUNT_FEATURES, FEATURES, FLAG_FEATURES

LABELS_DIR = Path(__file__).resolve().parent / "labels"
LABELS_FILE = LABELS_DIR / "pairs.csv"
FOLDS = 5
ECE_BINS = 10
REPORT_THRESHOLD = 0.5
SEED = 0


def feature_matrix(pairs: pl.DataFrame) -> np.ndarray:
    """The model's inputs: evidence flags as they are, co-activity counts on a log scale."""
    return pairs.select(
        *(pl.col(c).cast(pl.Float64) for c in FLAG_FEATURES),
        *(
            pl.col(c).cast(pl.Float64).log1p() if c == "co_tickets" else pl.col(c).cast(pl.Float64)
            for c in COUNT_FEATURES
        ),
    ).to_numpy()


def _estimator(rows: int) -> CalibratedClassifierCV:
    # Shallow boosted trees: evidence interacts (a name form means more when it is exact and
    # taken from a login than when it is an affixed address); isotonic calibration on folds.
    return CalibratedClassifierCV(
        HistGradientBoostingClassifier(
            max_depth=3, learning_rate=0.15, max_iter=60, l2_regularization=1.0, random_state=SEED
        ),
        method="isotonic" if rows >= 1000 else "sigmoid",
        cv=FOLDS,
        # One model on every row, calibrated on out-of-fold predictions: one tree ensemble to
        # evaluate at run time instead of five.
        ensemble=False,
    )


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |confidence − observed rate| over equal-width bins, weighted by bin size."""
    edges = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = edges == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(p)) if len(p) else 0.0


@dataclass
class IdentityModel:
    """A fitted pair model; ``report`` (leave one organisation out) is computed when first read."""

    estimator: CalibratedClassifierCV
    labelled: pl.DataFrame
    _report: dict[str, Any] = field(default_factory=dict)

    def predict(self, pairs: pl.DataFrame) -> np.ndarray:
        """Calibrated probability that each pair's two accounts are one person."""
        if pairs.is_empty():
            return np.zeros(0)
        return self.estimator.predict_proba(feature_matrix(pairs))[:, 1]

    @property
    def report(self) -> dict[str, Any]:
        """Per held-out seed and overall: pairs, true pairs, precision and recall at
        :data:`REPORT_THRESHOLD`, Brier and ECE, each from a model fitted without that seed."""
        if not self._report:
            self._report.update(held_out_report(self.labelled))
        return self._report


def fit(labelled: pl.DataFrame) -> IdentityModel:
    """Fit on ``labelled`` (features + ``label``; ``seed`` names the organisation)."""
    missing = sorted(set(FEATURES) - set(labelled.columns))
    if missing:
        message = (
            f"identity labels lack feature column(s) {missing}; regenerate them with "
            "`python tools/identity_labels.py derive`."
        )
        raise ValueError(message)
    x, y = feature_matrix(labelled), labelled.get_column("label").to_numpy()
    return IdentityModel(estimator=_estimator(len(y)).fit(x, y), labelled=labelled)


def held_out_report(labelled: pl.DataFrame) -> dict[str, Any]:
    """Quality measured leaving one organisation (seed) out at a time."""
    x, y = feature_matrix(labelled), labelled.get_column("label").to_numpy()
    seeds = labelled.get_column("seed").to_numpy()
    if len(np.unique(seeds)) < 2:
        # One organisation: fall back to stratified folds within it.
        seeds = np.arange(len(y)) % FOLDS
    held_out = np.zeros(len(y))
    per_seed = {}
    for seed in np.unique(seeds):
        test = seeds == seed
        model = _estimator(int((~test).sum())).fit(x[~test], y[~test])
        held_out[test] = model.predict_proba(x[test])[:, 1]
        per_seed[int(seed)] = _quality(held_out[test], y[test])
    return {"overall": _quality(held_out, y), "by_held_out_seed": per_seed}


def _quality(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    kept = p >= REPORT_THRESHOLD
    correct = int((kept & (y == 1)).sum())
    return {
        "pairs": len(y),
        "true_pairs": int(y.sum()),
        "precision": round(float(correct / kept.sum()), 4) if kept.any() else 1.0,
        "recall": round(float(correct / y.sum()), 4) if y.any() else 1.0,
        "brier": round(float(np.mean((p - y) ** 2)), 4),
        "ece": round(expected_calibration_error(p, y), 4),
    }


def load_labels(path: Path = LABELS_FILE) -> pl.DataFrame:
    """The labelled pairs; an error that says how to regenerate them when the file is absent."""
    if not path.exists():
        message = (
            f"{path} is missing: the identity model is fitted on it. Regenerate it with "
            "`python tools/identity_labels.py derive`."
        )
        raise FileNotFoundError(message)
    return pl.read_csv(path)


@cache
def _fitted(path: str, mtime_ns: int) -> IdentityModel:
    return fit(load_labels(Path(path)))


def fitted_model(path: Path = LABELS_FILE) -> IdentityModel:
    """:func:`fit` on the shipped labels, cached per process until the file changes."""
    return _fitted(str(path), path.stat().st_mtime_ns if path.exists() else 0)
