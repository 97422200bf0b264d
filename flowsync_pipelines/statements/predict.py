"""``pr_will_stall``: will an open pull request still be open ``horizon_days`` after it opened?

Shallow gradient-boosted trees (scikit-learn), calibrated (cross-validated: isotonic with enough
history, Platt below), refitted every four weeks on a Monday on outcomes settled before it (never
after the as-of day): a pull request's outcome is settled when its horizon passed.
Training rows are daily snapshots of each such pull request while it was open and younger than
the horizon; every feature of a snapshot reads only what happened before the snapshot's time,
so no row sees its own future. With too little history the model shrinks to the observed base
rate and says so (``params.model = "prior"``). A fitted model's version is the hash of its
training window, its training rows and its parameters; a version already in the model store
(:mod:`.store`) is loaded, not fitted again. The graph's links (a pull request's commits) are
read as the context graph holds them.

The latest out-of-time window (outcomes settled from the latest refit Monday at least
``report_days`` before the end, scored by the model fitted on that Monday from outcomes settled
before it) gives the kind's
calibration report (:mod:`.calibration`). Features are vectorised over snapshots: per-author
and per-repository counts are binary searches in event times sorted by group.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from flowsync_pipelines.statements.calibration import CalibrationReport, calibration_report
from flowsync_pipelines.statements.models import model_fitted

if TYPE_CHECKING:
    from flowsync_pipelines.statements.store import ModelStore

KIND = "pr_will_stall"
FEATURES = (
    "age_days",
    "reviewed",
    "files_at_open",
    "draft",
    "author_open",
    "repo_open",
    "repo_awaiting_review",
    "author_stall_rate",
    "repo_stall_rate",
    "weekend_ahead",
)
DAY = timedelta(days=1)
CALIBRATIONS = ("auto", "sigmoid", "isotonic", "none")
LEARNERS = ("gradient_boosting", "logistic")
ISOTONIC_FROM = 1000  # training rows from which "auto" calibrates isotonically (else Platt)


@dataclass(frozen=True)
class StallSettings:
    """Settings of ``pr_will_stall`` (all of them hash into the model version).

    Attributes:
        horizon_days: a pull request not merged or closed this many days after opening stalled.
        min_rows: fewer training snapshots (or < 8 of either class): the prior.
        min_probability: claims below this are not made.
        learner: ``gradient_boosting`` (shallow histogram gradient-boosted trees: the stall
            risk is not additive in age, reviews and load) or ``logistic`` (regression).
        c: inverse L2 strength of the logistic regression.
        calibration: ``auto`` (isotonic from :data:`ISOTONIC_FROM` training rows, Platt
            below, where isotonic overfits), ``sigmoid`` (Platt), ``isotonic`` or ``none``
            (the learner's raw probabilities).
        stall_weight: training weight of a stalled example (1: none). Weighting the rarer
            class up, as is often done, shifts every probability towards it; only calibration
            undoes that.
        report_days: the calibration report scores the model of the latest refit Monday at
            least this many days before the run's end, on the outcomes settled since.
        refit_weeks: the model is refitted every this many weeks, on a Monday (counted from
            1970-01-05, so every run agrees which Mondays). A week adds a few per cent to
            thousands of outcomes and barely moves the model, while each fit costs a second:
            weekly refits made a three-year import spend minutes fitting.
        training_days: a refit learns from the outcomes settled in this many days before its
            Monday: how an organisation reviews drifts over years, and fitting on all of a
            long history costs time for little.
    """

    horizon_days: int = 5
    min_rows: int = 60
    min_probability: float = 0.5
    c: float = 1.0
    learner: str = "gradient_boosting"
    calibration: str = "auto"
    stall_weight: float = 1.0
    report_days: int = 28
    refit_weeks: int = 4
    training_days: int = 365

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            msg = f"StallSettings.learner is {self.learner!r}; use one of {LEARNERS}"
            raise ValueError(msg)
        if self.calibration not in CALIBRATIONS:
            msg = f"StallSettings.calibration is {self.calibration!r}; use one of {CALIBRATIONS}"
            raise ValueError(msg)
        if not self.stall_weight > 0:
            msg = f"StallSettings.stall_weight is {self.stall_weight!r}; it must be above 0"
            raise ValueError(msg)

    @property
    def positive_weight(self) -> float:
        return self.stall_weight


class FitSettings(Protocol):
    """What :func:`fit` reads of a predicted kind's settings (every field hashes into the
    version)."""

    min_rows: int
    c: float
    learner: str
    calibration: str

    @property
    def positive_weight(self) -> float: ...


def _seconds(values: list[datetime | None], missing: float = np.inf) -> np.ndarray:
    return np.array([v.timestamp() if v is not None else missing for v in values], dtype=float)


def _codes(values: list[str | None]) -> np.ndarray:
    """Dense integer codes of a column (equal values, equal codes)."""
    return pl.Series(values, dtype=pl.String).fill_null("").cast(pl.Categorical).to_physical()


def _count_before(
    groups: np.ndarray, times: np.ndarray, q_groups: np.ndarray, q_times: np.ndarray
) -> np.ndarray:
    """For each query, how many events of its group happened strictly before its time
    (two binary searches on events sorted by group then time)."""
    finite = np.isfinite(times)
    g, t = groups[finite], times[finite]
    order = np.lexsort((t, g))
    g, t = g[order], t[order]
    lo = np.searchsorted(g, q_groups, side="left")
    hi = np.searchsorted(g, q_groups, side="right")
    out = np.empty(len(q_groups), dtype=float)
    for group in np.unique(q_groups):  # one vectorised search per group, not per row
        rows = q_groups == group
        a, b = lo[rows][0], hi[rows][0]
        out[rows] = np.searchsorted(t[a:b], q_times[rows], side="left")
    return out


def _last_before(
    groups: np.ndarray, times: np.ndarray, q_groups: np.ndarray, q_times: np.ndarray
) -> np.ndarray:
    """For each query, the time of the latest event of its group strictly before its time
    (-inf when there is none)."""
    finite = np.isfinite(times)
    g, t = groups[finite], times[finite]
    if not len(t):
        return np.full(len(q_groups), -np.inf)
    order = np.lexsort((t, g))
    g, t = g[order], t[order]
    count = _count_before(g, t, q_groups, q_times).astype(int)
    at = np.searchsorted(g, q_groups, side="left") + count - 1
    return np.where(count > 0, t[np.clip(at, 0, len(t) - 1)], -np.inf)


@dataclass(frozen=True)
class Seen:
    """Pull requests as seen from a moment: opened before it, ends after it unknown."""

    frame: pl.DataFrame  # the rows, with known_at and stalled
    opened: np.ndarray
    ended: np.ndarray  # inf while open
    known: np.ndarray
    stalled: np.ndarray
    author: np.ndarray
    repo: np.ndarray
    first_review: np.ndarray  # inf when never reviewed


def _seen(prs: pl.DataFrame, reviews: pl.DataFrame, as_of: datetime, horizon: timedelta) -> Seen:
    frame = (
        prs.filter(pl.col("opened_at") < as_of)
        .with_columns(
            pl.when(pl.col("ended_at") < as_of).then(pl.col("ended_at")).alias("ended_at")
        )
        .with_columns(
            pl.min_horizontal(pl.col("ended_at"), pl.col("opened_at") + horizon).alias("known_at"),
            (
                pl.col("ended_at").is_null() | (pl.col("ended_at") > pl.col("opened_at") + horizon)
            ).alias("stalled"),
        )
    )
    first = (
        reviews.filter(pl.col("occurred_at") < as_of)
        .group_by("pr_id")
        .agg(pl.col("occurred_at").min().alias("first_review"))
    )
    frame = frame.join(first, left_on="entity_id", right_on="pr_id", how="left")
    return Seen(
        frame=frame,
        opened=_seconds(frame["opened_at"].to_list()),
        ended=_seconds(frame["ended_at"].to_list()),
        known=_seconds(frame["known_at"].to_list()),
        stalled=frame["stalled"].to_numpy().astype(float),
        author=np.asarray(_codes(frame["author"].to_list())),
        repo=np.asarray(_codes(frame["repository"].to_list())),
        first_review=_seconds(frame["first_review"].to_list()),
    )


def _features(seen: Seen, index: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Features of (pull request index, snapshot time in seconds) pairs, from what preceded
    each time; vectorised over the pairs."""
    if len(index) == 0:
        return np.zeros((0, len(FEATURES)))
    f = seen.frame
    files = f["files_at_open"].to_numpy().astype(float)[index]
    draft = f["draft"].to_numpy().astype(float)[index]

    def open_then(groups: np.ndarray) -> np.ndarray:
        # open at t: opened before t and not ended before t (itself included, hence - 1)
        q = groups[index]
        opened = _count_before(groups, seen.opened, q, at)
        ended = _count_before(groups, seen.ended, q, at)
        return opened - ended - 1

    def awaiting_review(groups: np.ndarray) -> np.ndarray:
        # open and not reviewed yet at t (a proxy for the reviewers' queue: review requests
        # are not among the signals); itself excluded
        q = groups[index]
        opened = _count_before(groups, seen.opened, q, at)
        done = _count_before(groups, np.minimum(seen.ended, seen.first_review), q, at)
        return opened - done - (seen.first_review[index] >= at)

    def rate(groups: np.ndarray) -> np.ndarray:
        q = groups[index]
        known = _count_before(groups, seen.known, q, at)
        stalled_known = np.where(seen.stalled > 0, seen.known, np.inf)
        stalled = _count_before(groups, stalled_known, q, at)
        return (stalled + 1) / (known + 7)  # shrunk to ~1/7

    weekday = (np.floor(at / 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    return np.column_stack(
        [
            (at - seen.opened[index]) / 86400,
            (seen.first_review[index] < at).astype(float),
            files,
            draft,
            open_then(seen.author),
            open_then(seen.repo),
            awaiting_review(seen.repo),
            rate(seen.author),
            rate(seen.repo),
            (weekday >= 3).astype(float),
        ]
    )


def snapshots(seen: Seen, horizon: timedelta) -> tuple[np.ndarray, np.ndarray]:
    """Training snapshots: each pull request at noon of each day of its life while it was open
    and its outcome unknown (before it ended and before the horizon passed), as (index, time)."""
    days = horizon.days
    n = len(seen.opened)
    index = np.repeat(np.arange(n), days)
    at = seen.opened[index] + (np.tile(np.arange(days), n) + 0.5) * 86400
    keep = at < seen.known[index]
    return index[keep], at[keep]


@dataclass(frozen=True)
class Fitted:
    kind: str  # "<learner>+<calibration>", the bare learner when uncalibrated, or "prior"
    version: str
    rows: int
    positive_rate: float
    model: object | None
    # Weight of the base rate in every probability (0: the model alone): with little history a
    # predictor shrinks its model towards the prior (see :func:`shrunk`).
    shrinkage: float = 0.0

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model is None or not len(x):  # scikit-learn refuses an empty batch
            return np.full(len(x), self.positive_rate)
        with threadpool_limits(1):  # see fit
            p = self.model.predict_proba(x)[:, 1]  # type: ignore[attr-defined]
        return (1 - self.shrinkage) * p + self.shrinkage * self.positive_rate


def shrunk(model: Fitted, outcomes: int, strength: float) -> Fitted:
    """``model`` shrunk towards its base rate by ``strength / (outcomes + strength)``: a model
    fitted on few independent outcomes (sprints, incidents) is trusted in proportion."""
    if model.model is None or strength <= 0:
        return model
    return replace(model, shrinkage=round(strength / (outcomes + strength), 4))


def model_version(
    x: np.ndarray,
    y: np.ndarray,
    window: tuple[date, date],
    settings: FitSettings,
    features: tuple[str, ...],
) -> str:
    """Hash of the training window, the training data (features and labels, byte for byte) and
    the settings: the same version is the same model, whichever run fits it."""
    data = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    data.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    key = json.dumps(
        {
            "window": [window[0].isoformat(), window[1].isoformat()],
            "rows": len(y),
            "data": data.hexdigest(),
            "features": features,
            # what the report scores is no part of the model
            "settings": _fit_settings(settings),
        },
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _fit_settings(settings: FitSettings) -> dict:
    return {
        k: v
        for k, v in asdict(settings).items()  # type: ignore[call-overload]
        if k != "report_days"
    }


def fit(
    x: np.ndarray,
    y: np.ndarray,
    window: tuple[date, date],
    settings: FitSettings,
    features: tuple[str, ...] = FEATURES,
    *,
    statement_kind: str = KIND,
    store: ModelStore | None = None,
) -> Fitted:
    """The model of ``statement_kind`` for these training rows: loaded from ``store`` when its
    version is stored there, else fitted (and stored)."""
    version = model_version(x, y, window, settings, features)
    if store is not None and (stored := store.load(statement_kind, version)) is not None:
        return stored
    fitted = _fit(x, y, version, settings)
    if store is not None:
        store.save(statement_kind, fitted, window, _fit_settings(settings), features)
    return fitted


def _fit(x: np.ndarray, y: np.ndarray, version: str, settings: FitSettings) -> Fitted:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rate = float((y.sum() + 1) / (len(y) + 7)) if len(y) else 1 / 7
    positives = int(y.sum())
    if len(y) < settings.min_rows or positives < 8 or len(y) - positives < 8:
        return Fitted("prior", version, len(y), rate, None)
    weights = {0.0: 1.0, 1.0: settings.positive_weight}
    if settings.learner == "logistic":
        base = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=settings.c, max_iter=1000, class_weight=weights),
        )
    else:
        base = HistGradientBoostingClassifier(
            max_depth=3,
            max_iter=150,
            learning_rate=0.05,
            early_stopping=False,  # no random validation split: the same data, the same model
            class_weight=weights,
            random_state=0,
        )
    if settings.calibration == "none":
        with threadpool_limits(1):
            return Fitted(settings.learner, version, len(y), rate, base.fit(x, y))
    method = settings.calibration
    if method == "auto":
        method = "isotonic" if len(y) >= ISOTONIC_FROM else "sigmoid"
    model = CalibratedClassifierCV(base, method=method, cv=3)
    # One thread: these fits are small, and OpenMP threads spinning on a shared machine made
    # them 5-20 times slower than one thread.
    with threadpool_limits(1):
        model.fit(x, y)
    return Fitted(f"{settings.learner}+{method}", version, len(y), rate, model)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


FIRST_MONDAY = date(1970, 1, 5)


def refit_monday(day: date, every_weeks: int) -> date:
    """The Monday whose model serves ``day`` when models are refitted every ``every_weeks``."""
    this = monday(day)
    return this - timedelta(weeks=((this - FIRST_MONDAY).days // 7) % every_weeks)


@dataclass(frozen=True)
class History:
    """Every training snapshot as seen from a moment, with features, labels and when each
    label was settled: its pull request's horizon passed. A fast merge is known earlier, but
    training on outcomes merely known would favour the recent pull requests that merged fast
    over their siblings still open (right-censoring), and bias every probability low."""

    seen: Seen
    index: np.ndarray  # each snapshot's pull request (a row of seen)
    x: np.ndarray
    y: np.ndarray
    settled: np.ndarray
    first: date | None

    def fit_before(
        self, cutoff: date, settings: StallSettings, store: ModelStore | None = None
    ) -> Fitted:
        """The model of outcomes known before midnight starting ``cutoff`` (loaded from
        ``store`` when its version is stored there)."""
        window = self.window(cutoff, settings)
        mask = (self.settled < midnight(cutoff).timestamp()) & (
            self.settled >= midnight(window[0]).timestamp()
        )
        return fit(self.x[mask], self.y[mask], window, settings, store=store)

    def window(self, cutoff: date, settings: StallSettings) -> tuple[date, date]:
        """The days whose settled outcomes the refit of ``cutoff`` learns from: the last
        ``training_days`` before it, from the first snapshot on."""
        since = cutoff - timedelta(days=settings.training_days)
        return (max(self.first, since) if self.first is not None else cutoff, cutoff)

    def report(self, model: Fitted, start: date, end: date) -> CalibrationReport:
        """Calibration of ``model`` on the snapshots whose outcomes settled in ``[start, end)``
        (the caller makes sure the model was fitted before ``start``)."""
        mask = (self.settled >= midnight(start).timestamp()) & (
            self.settled < midnight(end).timestamp()
        )
        return calibration_report(
            KIND,
            model.predict(self.x[mask]),
            self.y[mask],
            (start, end),
            model.version,
            model.kind,
            subjects=self.index[mask],
        )


def history(
    prs: pl.DataFrame, reviews: pl.DataFrame, end: date, settings: StallSettings
) -> History:
    """Snapshots as seen from the start of ``end``. A snapshot's features read only what
    preceded its time and its label is known by its pull request's known_at, so for an as-of
    day the rows known before it are exactly those a run on that day alone would build."""
    horizon = timedelta(days=settings.horizon_days)
    seen = _seen(prs, reviews, midnight(end), horizon)
    index, at = snapshots(seen, horizon)
    first = seen.frame["opened_at"].min()
    return History(
        seen=seen,
        index=index,
        x=_features(seen, index, at),
        y=seen.stalled[index],
        settled=seen.opened[index] + horizon.total_seconds(),
        first=first.date() if first is not None else None,  # type: ignore[union-attr]
    )


ROW_SCHEMA = {
    "as_of_date": pl.Date,
    "team": pl.String,
    "subject_type": pl.String,
    "subject_id": pl.String,
    "object_type": pl.String,
    "object_id": pl.String,
    "params": pl.String,
    "confidence": pl.Float64,
    "evidence": pl.List(pl.String),
    "citations": pl.List(pl.String),
    "model_version": pl.String,
}


def predict_stalls(
    prs: pl.DataFrame,
    reviews: pl.DataFrame,
    start: date,
    end: date,
    settings: StallSettings | None = None,
    *,
    store: ModelStore | None = None,
) -> tuple[pl.DataFrame, CalibrationReport]:
    """``pr_will_stall`` rows for the as-of days ``[start, end)`` (the columns the kind SQL
    files return, plus ``model_version``), and the calibration report of the latest
    out-of-time window before ``end``; models are loaded from ``store`` when stored there."""
    settings = settings or StallSettings()
    horizon_s = settings.horizon_days * 86400
    hist = history(prs, reviews, end, settings)
    seen = hist.seen
    rows = seen.frame.select("team", "entity_id", "opened_event", "url").to_dicts()
    models: dict[date, Fitted] = {}
    # (day, refit Monday, candidate pull requests, as-of time) of each day with candidates
    pending: list[tuple[date, date, np.ndarray, float]] = []
    day = start
    while day < end:
        as_of = midnight(day + DAY).timestamp()
        # Refitted every few weeks: on outcomes known before the refit Monday.
        cutoff = refit_monday(day, settings.refit_weeks)
        if cutoff not in models:
            models[cutoff] = hist.fit_before(cutoff, settings, store)
            model_fitted(KIND, models[cutoff], hist.window(cutoff, settings), settings, FEATURES)
        candidates = np.flatnonzero(
            (seen.opened < as_of) & (seen.ended >= as_of) & (as_of - seen.opened < horizon_s)
        )
        if len(candidates):
            pending.append((day, cutoff, candidates, as_of))
        day += DAY
    # One prediction per model over all its days (a row's probability does not depend on the
    # others in its batch; per-day calls cost more than the predictions on long windows).
    probabilities: list[np.ndarray] = [np.empty(0)] * len(pending)
    for cutoff, model in models.items():
        batch = [k for k, (_, c, _, _) in enumerate(pending) if c == cutoff]
        if not batch:
            continue
        features = np.concatenate(
            [
                _features(seen, pending[k][2], np.full(len(pending[k][2]), pending[k][3]))
                for k in batch
            ]
        )
        probs = model.predict(features)
        bounds = np.cumsum([0, *(len(pending[k][2]) for k in batch)])
        for k, lo, hi in zip(batch, bounds[:-1], bounds[1:], strict=True):
            probabilities[k] = probs[lo:hi]
    out = []
    for (day, cutoff, candidates, _), probs in zip(pending, probabilities, strict=True):
        model = models[cutoff]
        for i, prob in zip(candidates, probs, strict=True):
            if prob < settings.min_probability:
                continue
            p = rows[i]
            out.append(
                {
                    "as_of_date": day,
                    "team": p["team"],
                    "subject_type": "pull_request",
                    "subject_id": p["entity_id"],
                    "object_type": None,
                    "object_id": None,
                    "params": json.dumps(
                        {
                            "horizon_days": settings.horizon_days,
                            "model": model.kind,
                            "training_rows": model.rows,
                            "base_rate": round(model.positive_rate, 4),
                        }
                    ),
                    "confidence": float(prob),
                    "evidence": [p["opened_event"]],
                    "citations": [p["url"]],
                    "model_version": model.version,
                }
            )
    report_start = refit_monday(end - timedelta(days=settings.report_days), settings.refit_weeks)
    model = models.get(report_start) or hist.fit_before(report_start, settings, store)
    return pl.DataFrame(out, schema=ROW_SCHEMA), hist.report(model, report_start, end)
