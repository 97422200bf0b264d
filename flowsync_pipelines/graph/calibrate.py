"""Calibrated confidence for inferred links, fitted on labelled outcomes with scikit-learn.

Each link type has a labelled set in ``labels/<link_type>.csv``: the candidate features the
linker computes, plus ``label`` (1 = a real link). The sets were derived once, by
``tools/link_labels.py derive``, from simulated organisations with seeds other than the demo's
(see ``labels/README.md``); pipeline code never reads any ground truth.

Two kinds of model:

* ``logistic`` — standardised features, L2 logistic regression, wrapped in
  ``CalibratedClassifierCV`` (Platt scaling on held-out folds) so that a confidence of 0.9 means
  "9 in 10 such links are real". Used when both outcomes have at least :data:`MIN_PER_CLASS` rows.
* ``rate`` — for link types whose labelled candidates are (nearly) all one outcome, such as the
  tracker's own parent field: the confidence of a method is its smoothed empirical precision,
  ``(links + 1) / (candidates + 2)``.

Quality is measured out of fold (5-fold cross-validation on the labelled set): Brier score and
expected calibration error (ECE, 10 equal-width bins), reported as asset metadata and checked by
the ``link_calibration`` asset check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from flowsync_pipelines.graph.spec import HIGH, MEDIUM, LinkType

LABELS_DIR = Path(__file__).resolve().parent / "labels"
MIN_PER_CLASS = 8
FOLDS = 5
ECE_BINS = 10
SEED = 0


@dataclass(frozen=True)
class Calibration:
    """Out-of-fold quality of a link model on its labelled set."""

    rows: int
    positives: int
    brier: float
    ece: float
    # (bin lower bound, rows, mean confidence, observed link rate) per non-empty bin
    reliability: tuple[tuple[float, int, float, float], ...] = field(default=())

    def as_metadata(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "positives": self.positives,
            "brier": round(self.brier, 4),
            "ece": round(self.ece, 4),
        }


@dataclass
class LinkModel:
    """A fitted confidence model for one link type."""

    link: LinkType
    kind: str  # logistic | rate
    calibration: Calibration
    estimator: Any = None
    rates: dict[str, float] = field(default_factory=dict)

    def predict(self, candidates: pl.DataFrame) -> np.ndarray:
        """Confidence in [0, 1] for each candidate row (rounded to 4 decimals, deterministic)."""
        if candidates.is_empty():
            return np.zeros(0)
        if self.kind == "rate":
            default = self.rates.get("*", 0.5)
            methods = candidates.get_column("method").to_list()
            out = np.array([self.rates.get(m, default) for m in methods], dtype=float)
        else:
            out = self.estimator.predict_proba(_matrix(candidates, self.link))[:, 1]
        return np.round(out, 4)

    def describe(self) -> dict[str, Any]:
        """Model card for metadata: kind, calibration and, for logistic models, weights."""
        card: dict[str, Any] = {"kind": self.kind, **self.calibration.as_metadata()}
        if self.kind == "rate":
            card["rates"] = {k: round(v, 4) for k, v in sorted(self.rates.items())}
        else:
            weights = np.mean(
                [c.estimator[-1].coef_[0] for c in self.estimator.calibrated_classifiers_], axis=0
            )
            card["weights"] = {
                f: round(float(w), 3) for f, w in zip(self.link.features, weights, strict=True)
            }
        return card


def _matrix(frame: pl.DataFrame, link: LinkType) -> np.ndarray:
    return frame.select(
        [pl.col(f).cast(pl.Float64).fill_null(0.0).fill_nan(0.0) for f in link.features]
    ).to_numpy()


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |mean confidence - observed rate| over equal-width confidence bins."""
    if len(p) == 0:
        return 0.0
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(p))


def _reliability(p: np.ndarray, y: np.ndarray) -> tuple[tuple[float, int, float, float], ...]:
    idx = np.minimum((p * ECE_BINS).astype(int), ECE_BINS - 1)
    rows = []
    for b in range(ECE_BINS):
        mask = idx == b
        if mask.any():
            rows.append(
                (b / ECE_BINS, int(mask.sum()), float(p[mask].mean()), float(y[mask].mean()))
            )
    return tuple(rows)


def _calibration(p: np.ndarray, y: np.ndarray) -> Calibration:
    return Calibration(
        rows=len(y),
        positives=int(y.sum()),
        brier=float(np.mean((p - y) ** 2)) if len(y) else 0.0,
        ece=expected_calibration_error(p, y),
        reliability=_reliability(p, y),
    )


def _logistic() -> CalibratedClassifierCV:
    base = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return CalibratedClassifierCV(base, method="sigmoid", cv=3)


def fit(link: LinkType, labelled: pl.DataFrame) -> LinkModel:
    """Fit and measure the confidence model of ``link`` on its labelled candidates.

    Args:
        link: the link type (its ``features`` are read from ``labelled``).
        labelled: candidate rows with the feature columns, ``method`` and ``label`` (0/1).

    Returns:
        a :class:`LinkModel` with out-of-fold calibration measured on ``labelled``.
    """
    missing = [c for c in (*link.features, "method", "label") if c not in labelled.columns]
    if missing:
        raise ValueError(
            f"labelled set for link type {link.name!r} lacks columns {missing}; "
            f"re-derive it with `python tools/link_labels.py derive`"
        )
    y = labelled.get_column("label").cast(pl.Int64).to_numpy()
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if min(positives, negatives) >= MIN_PER_CLASS:
        x = _matrix(labelled, link)
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
        oof = cross_val_predict(_logistic(), x, y, cv=folds, method="predict_proba")[:, 1]
        estimator = _logistic().fit(x, y)
        return LinkModel(link, "logistic", _calibration(np.round(oof, 4), y), estimator=estimator)
    rates = _method_rates(labelled)
    # Out of fold for a rate: each row's method rate without that row.
    by_method = labelled.group_by("method").agg(
        pl.col("label").sum().alias("pos"), pl.len().alias("n")
    )
    loo = (
        labelled.join(by_method, on="method")
        .select(((pl.col("pos") - pl.col("label") + 1) / (pl.col("n") - 1 + 2)).alias("p"))
        .get_column("p")
        .to_numpy()
    )
    return LinkModel(link, "rate", _calibration(np.round(loo, 4), y), rates=rates)


def _method_rates(labelled: pl.DataFrame) -> dict[str, float]:
    rates = {
        m: (pos + 1) / (n + 2)
        for m, pos, n in labelled.group_by("method")
        .agg(pl.col("label").sum(), pl.len())
        .iter_rows()
    }
    pos, n = int(labelled.get_column("label").sum()), labelled.height
    rates["*"] = (pos + 1) / (n + 2)
    return rates


def load_labels(link: LinkType, directory: Path = LABELS_DIR) -> pl.DataFrame:
    """The labelled candidates of ``link`` (``labels/<name>.csv``)."""
    path = directory / f"{link.name}.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"no labelled set for link type {link.name!r} at {path}; "
            "derive the sets with `python tools/link_labels.py derive`"
        )
    return pl.read_csv(path, schema_overrides={"label": pl.Int64, "method": pl.String})


def fit_all(links: tuple[LinkType, ...], directory: Path = LABELS_DIR) -> dict[str, LinkModel]:
    """A fitted model per link type, from the shipped labelled sets."""
    return {link.name: fit(link, load_labels(link, directory)) for link in links}


def band_report(predicted: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Precision and recall per confidence band of predicted links against known true links.

    Args:
        predicted: ``src``, ``dst``, ``confidence`` (the linker's edges of one link type).
        truth: ``src``, ``dst`` of the real links among the entities the linker could see.

    Returns:
        one row per band (high, medium, low): predicted links, true ones among them, precision,
        and the recall of everything at or above the band's lower bound.
    """
    truth = truth.select("src", "dst").unique().with_columns(pl.lit(True).alias("real"))
    joined = predicted.select("src", "dst", "confidence").join(truth, on=["src", "dst"], how="left")
    joined = joined.with_columns(pl.col("real").fill_null(False))
    rows = []
    total = truth.height
    for name, low in (("high", HIGH), ("medium", MEDIUM), ("low", 0.0)):
        high = {"high": 1.01, "medium": HIGH, "low": MEDIUM}[name]
        in_band = joined.filter((pl.col("confidence") >= low) & (pl.col("confidence") < high))
        at_least = joined.filter(pl.col("confidence") >= low)
        tp = int(in_band.get_column("real").sum())
        rows.append(
            {
                "band": name,
                "predicted": in_band.height,
                "true": tp,
                "precision": round(tp / in_band.height, 4) if in_band.height else None,
                "recall_at_or_above": round(int(at_least.get_column("real").sum()) / total, 4)
                if total
                else None,
                "truth_links": total,
            }
        )
    return pl.DataFrame(rows)


# The link_calibration check: expected calibration error within this bound, or within the
# sampling noise of a small labelled set (1 / sqrt(rows)), whichever is larger.
ECE_BOUND = 0.05


def ece_bound(rows: int) -> float:
    return max(ECE_BOUND, 1.0 / np.sqrt(max(rows, 1)))


_FITTED: dict[tuple[str, tuple[tuple[str, float], ...]], dict[str, LinkModel]] = {}


def fitted_models(
    links: tuple[LinkType, ...], directory: Path = LABELS_DIR
) -> dict[str, LinkModel]:
    """:func:`fit_all`, cached per process until a labels file changes."""
    stamp = tuple(sorted((p.name, p.stat().st_mtime) for p in directory.glob("*.csv")))
    key = (str(directory), stamp)
    if key not in _FITTED:
        _FITTED.clear()
        _FITTED[key] = fit_all(links, directory)
    return _FITTED[key]
