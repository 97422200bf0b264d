"""Calibrated confidence for inferred links, fitted on labelled outcomes with scikit-learn.

Each link type has a labelled set in ``labels/<link_type>.parquet``: the candidate features the
linker computes, ``label`` (1 = a real link) and ``world``, the simulated organisation the row
comes from. The organisations differ in their conventions (where ticket keys appear, how titles
are written, whether members are configured, how incidents follow deployments; see
``simulator/conventions.py``), so that no habit of one world can carry a model. A second set,
``labels/held_out/<link_type>.parquet``, comes from organisations whose conventions were never
sampled for training; it is only ever scored, never fitted (see ``labels/README.md``).

Two kinds of model:

* ``boosted`` — gradient-boosted trees (``HistGradientBoostingClassifier``) whose response is
  constrained to be monotone in each evidence feature (``LinkType.monotone``): a ticket key in
  the title can only raise a link's confidence, whatever else the world does; weak evidence
  (time proximity, word overlap) adds to it and cannot override it. Calibrated (isotonic, or
  Platt on small sets) on out-of-fold scores whose folds leave whole worlds out, so that a
  confidence of 0.9 means "9 in 10 such links are real *in an organisation the model has not
  seen*". Used when both outcomes have at least :data:`MIN_PER_CLASS` rows.
* ``rate`` — for link types whose labelled candidates are (nearly) all one outcome, such as the
  tracker's own parent field: the confidence of a method is its smoothed empirical precision,
  ``(links + 1) / (candidates + 2)``.

Quality is measured twice: out of fold with whole worlds left out (on the training set), and on
the held-out conventions. Both are asset metadata; the ``link_calibration`` check reads the
held-out one.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold

from flowsync_pipelines.bands import BAND_ORDER, LOWER_BOUNDS
from flowsync_pipelines.graph.spec import LinkType

LABELS_DIR = Path(__file__).resolve().parent / "labels"
HELD_OUT_DIR = LABELS_DIR / "held_out"
MIN_PER_CLASS = 8
FOLDS = 4
ECE_BINS = 10
SEED = 0
# Isotonic calibration needs enough rows per fold to be smooth; Platt scaling below that.
ISOTONIC_MIN_ROWS = 2000
# Bump when the fitting code changes in a way that changes fitted models (cache key).
FIT_VERSION = 3


@dataclass(frozen=True)
class Calibration:
    """Quality of a link model's confidence on a labelled set it was not fitted on."""

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
    kind: str  # boosted | rate
    calibration: Calibration  # out of fold, whole worlds left out
    estimator: Any = None
    rates: dict[str, float] = field(default_factory=dict)
    held_out: Calibration | None = None  # on conventions never trained on

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
        """Model card for metadata: kind, out-of-fold and held-out calibration."""
        card: dict[str, Any] = {"kind": self.kind, **self.calibration.as_metadata()}
        if self.held_out is not None:
            card["held_out"] = self.held_out.as_metadata()
        if self.kind == "rate":
            card["rates"] = {k: round(v, 4) for k, v in sorted(self.rates.items())}
        else:
            card["monotone"] = {f: s for f, s in self.link.monotone.items() if s}
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


def calibration_of(p: np.ndarray, y: np.ndarray) -> Calibration:
    """Brier score, ECE and the reliability table of confidences ``p`` for outcomes ``y``."""
    return Calibration(
        rows=len(y),
        positives=int(y.sum()),
        brier=float(np.mean((p - y) ** 2)) if len(y) else 0.0,
        ece=expected_calibration_error(p, y),
        reliability=_reliability(p, y),
    )


def _splits(y: np.ndarray, worlds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that leave whole worlds out when there are enough of them (else stratified)."""
    distinct = np.unique(worlds)
    if len(distinct) >= 3:
        folds = GroupKFold(n_splits=min(FOLDS, len(distinct)))
        return list(folds.split(np.zeros(len(y)), y, worlds))
    stratified = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    return list(stratified.split(np.zeros(len(y)), y))


def _trees(link: LinkType) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_depth=3,
        max_iter=100,
        learning_rate=0.1,
        l2_regularization=1.0,
        min_samples_leaf=40,
        early_stopping=False,
        monotonic_cst=[link.monotone.get(f, 0) for f in link.features],
        random_state=SEED,
    )


# An inferred link is never certain: confidences stay inside this range.
CONFIDENCE_RANGE = (0.005, 0.99)


class _Calibrator:
    """Raw tree scores → probabilities: isotonic on plenty of rows, Platt scaling below that."""

    def __init__(self, raw: np.ndarray, y: np.ndarray) -> None:
        if len(y) >= ISOTONIC_MIN_ROWS:
            self.isotonic: IsotonicRegression | None = IsotonicRegression(
                y_min=0.0, y_max=1.0, out_of_bounds="clip"
            ).fit(raw, y)
        else:
            self.isotonic = None
            self.platt = LogisticRegression(C=1.0).fit(_logit(raw), y)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        p = (
            self.isotonic.predict(raw)
            if self.isotonic is not None
            else self.platt.predict_proba(_logit(raw))[:, 1]
        )
        return np.clip(p, *CONFIDENCE_RANGE)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).reshape(-1, 1)


@dataclass
class CrossFitted:
    """Trees fitted on every labelled row, calibrated on their out-of-fold scores.

    The out-of-fold scores come from trees that never saw the world a row is from, so the
    calibration maps a score to how often such a link is real in an unseen organisation.
    """

    trees: HistGradientBoostingClassifier
    calibrator: _Calibrator

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.calibrator(self.trees.predict_proba(x)[:, 1])
        return np.column_stack([1 - p, p])


def fit(link: LinkType, labelled: pl.DataFrame) -> LinkModel:
    """Fit and measure the confidence model of ``link`` on its labelled candidates.

    Args:
        link: the link type (its ``features`` are read from ``labelled``).
        labelled: candidate rows with the feature columns, ``method``, ``label`` (0/1) and,
            optionally, ``world`` (rows of one world are kept together in every fold).

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
        world = next((c for c in ("world", "seed") if c in labelled.columns), None)
        # "<world>/webhooks" rows are the same organisation seen another way: one group.
        worlds = (
            labelled.get_column(world).cast(pl.String).str.split("/").list.first().to_numpy()
            if world
            else np.zeros(len(y), dtype=str)
        )
        splits = _splits(y, worlds)
        raw = np.zeros(len(y))
        for train, test in splits:
            raw[test] = _trees(link).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
        # Measured out of fold twice over: each fold's confidence comes from a calibrator
        # fitted on the other folds' scores.
        oof = np.zeros(len(y))
        for train, test in splits:
            oof[test] = _Calibrator(raw[train], y[train])(raw[test])
        estimator = CrossFitted(_trees(link).fit(x, y), _Calibrator(raw, y))
        return LinkModel(link, "boosted", calibration_of(np.round(oof, 4), y), estimator)
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
    return LinkModel(link, "rate", calibration_of(np.round(loo, 4), y), rates=rates)


def score_held_out(model: LinkModel, labelled: pl.DataFrame) -> Calibration:
    """Calibration of ``model`` on labelled candidates from conventions it was not fitted on."""
    y = labelled.get_column("label").cast(pl.Int64).to_numpy()
    return calibration_of(model.predict(labelled), y)


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
    """The labelled candidates of ``link`` (``<directory>/<name>.parquet``)."""
    path = directory / f"{link.name}.parquet"
    if not path.exists():
        raise FileNotFoundError(
            f"no labelled set for link type {link.name!r} at {path}; "
            "derive the sets with `python tools/link_labels.py derive`"
        )
    return pl.read_parquet(path).with_columns(
        pl.col("label").cast(pl.Int64), pl.col("method").cast(pl.String)
    )


def fit_all(
    links: tuple[LinkType, ...],
    directory: Path = LABELS_DIR,
    held_out: Path | None = HELD_OUT_DIR,
) -> dict[str, LinkModel]:
    """A fitted model per link type from the shipped labelled sets, scored on the held-out
    conventions where a held-out set exists."""
    models = {}
    for link in links:
        model = fit(link, load_labels(link, directory))
        if held_out is not None and (held_out / f"{link.name}.parquet").exists():
            model.held_out = score_held_out(model, load_labels(link, held_out))
        models[link.name] = model
    return models


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
    for i, name in enumerate(BAND_ORDER):
        low = LOWER_BOUNDS[name]
        high = LOWER_BOUNDS[BAND_ORDER[i - 1]] if i else 1.01  # the band above starts here
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


_FITTED: dict[str, dict[str, LinkModel]] = {}


def _labels_digest(links: tuple[LinkType, ...], directory: Path) -> str:
    """What the fitted models depend on: the labelled sets, the link specs, scikit-learn."""
    digest = hashlib.sha256(f"{sklearn.__version__}|{FIT_VERSION}".encode())
    for link in links:
        digest.update(repr((link.name, link.features, sorted(link.monotone.items()))).encode())
    for path in sorted(directory.rglob("*.parquet")):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# Fitted models are kept per user: every process and every FlowSync home with the same labels
# reuses one fit.
MODEL_CACHE = Path.home() / ".cache" / "flowsync" / "link-models"


def fitted_models(
    links: tuple[LinkType, ...],
    directory: Path = LABELS_DIR,
    *,
    cache_dir: Path | None = MODEL_CACHE,
) -> dict[str, LinkModel]:
    """:func:`fit_all`, fitted once per set of labels: kept per process and, with
    ``cache_dir``, on disk (``link-models-<digest>.pkl``) so that a run does not refit models
    whose labels, specs and scikit-learn version have not changed."""
    key = _labels_digest(links, directory)
    if key in _FITTED:
        return _FITTED[key]
    cached = cache_dir / f"link-models-{key[:16]}.pkl" if cache_dir is not None else None
    models = None
    if cached is not None and cached.exists():
        try:
            models = pickle.loads(cached.read_bytes())
        except Exception:  # written by other code: fit again (and replace it)
            models = None
    if models is None:
        held_out = directory / "held_out"
        models = fit_all(links, directory, held_out if held_out.is_dir() else None)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(pickle.dumps(models))
            partial.replace(cached)
    _FITTED.clear()
    _FITTED[key] = models
    return models
