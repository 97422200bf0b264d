"""``pr_will_stall``: will an open pull request still be open ``horizon_days`` after it opened?

A scikit-learn logistic regression, calibrated (Platt scaling, cross-validated), refitted weekly on
outcomes known before the Monday of the as-of day's week (never after the day): a pull
request's outcome is known when it ended (merged or closed) or when the horizon passed. Training
rows are daily snapshots of each such pull request while it was open and younger than the
horizon; every feature of a snapshot reads only what happened before the snapshot's time, so
no row sees its own future. With too little history the model shrinks to the observed base
rate and says so (``params.model = "prior"``). A fitted model's version is the hash of its
training window and parameters. The graph's links (a pull request's commits) are read as the
context graph holds them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from flowsync_pipelines.statements.models import model_fitted

FEATURES = (
    "age_days",
    "reviewed",
    "files_at_open",
    "draft",
    "author_open",
    "repo_open",
    "author_stall_rate",
    "repo_stall_rate",
    "weekend_ahead",
)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class StallSettings:
    horizon_days: int = 5
    min_rows: int = 60  # fewer training snapshots (or < 8 of either class): the prior
    min_probability: float = 0.5  # claims below this are not made
    c: float = 1.0  # inverse L2 strength of the logistic regression


def _known_at(prs: pl.DataFrame, horizon: timedelta) -> list[datetime]:
    out = []
    for opened, ended in prs.select("opened_at", "ended_at").iter_rows():
        deadline = opened + horizon
        out.append(min(ended, deadline) if ended is not None else deadline)
    return out


def _features(
    prs: list[dict],
    reviews: dict[str, list[datetime]],
    snaps: list[tuple[int, datetime]],
    horizon: timedelta,
) -> np.ndarray:
    """Features of (pull request index, snapshot time) pairs, from what preceded each time."""
    if not snaps:
        return np.zeros((0, len(FEATURES)))
    opened = np.array([p["opened_at"].timestamp() for p in prs])
    ended = np.array([p["ended_at"].timestamp() if p["ended_at"] else np.inf for p in prs])
    known = np.array([p["known_at"].timestamp() for p in prs])
    stalled = np.array([p["stalled"] for p in prs], dtype=float)
    authors = np.array([hash(p["author"]) for p in prs])
    repos = np.array([hash(p["repository"]) for p in prs])
    rows = []
    for i, t in snaps:
        p, ts = prs[i], t.timestamp()
        open_then = (opened < ts) & (ended >= ts)
        known_then = known < ts
        same_author, same_repo = authors == authors[i], repos == repos[i]

        def rate(group: np.ndarray) -> float:
            return float((stalled[group].sum() + 1) / (group.sum() + 7))  # shrunk to ~1/7

        rows.append(
            [
                (ts - opened[i]) / 86400,
                float(any(r < t for r in reviews.get(p["entity_id"], []))),
                float(p["files_at_open"]),
                float(p["draft"]),
                float((open_then & same_author).sum() - 1),
                float((open_then & same_repo).sum() - 1),
                rate(known_then & same_author),
                rate(known_then & same_repo),
                float(t.weekday() >= 3),
            ]
        )
    return np.asarray(rows, dtype=float)


def _prepared(prs: pl.DataFrame, as_of: datetime, horizon: timedelta) -> list[dict]:
    """Pull requests opened before ``as_of`` as seen then (ends after it are unknown)."""
    seen = prs.filter(pl.col("opened_at") < as_of).with_columns(
        pl.when(pl.col("ended_at") < as_of).then(pl.col("ended_at")).alias("ended_at")
    )
    known = _known_at(seen, horizon)
    out = []
    for row, k in zip(seen.iter_rows(named=True), known, strict=True):
        row["known_at"] = k
        ended = row["ended_at"]
        row["stalled"] = ended is None or ended > row["opened_at"] + horizon
        out.append(row)
    return out


def snapshots(
    prs: list[dict], horizon: timedelta
) -> tuple[list[tuple[int, datetime]], list[float]]:
    """Training snapshots: each pull request at noon of each day of its life while it was open
    and its outcome unknown (before it ended and before the horizon passed), with its label."""
    snaps, labels = [], []
    for i, p in enumerate(prs):
        k = 0
        while k < horizon.days:
            t = p["opened_at"] + k * DAY + DAY / 2
            if t >= p["known_at"]:
                break
            snaps.append((i, t))
            labels.append(float(p["stalled"]))
            k += 1
    return snaps, labels


@dataclass(frozen=True)
class Fitted:
    kind: str  # "calibrated_logistic" | "prior"
    version: str
    rows: int
    positive_rate: float
    model: object | None

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model is None:
            return np.full(len(x), self.positive_rate)
        return self.model.predict_proba(x)[:, 1]  # type: ignore[attr-defined]


def fit(x: np.ndarray, y: np.ndarray, window: tuple[date, date], settings: StallSettings) -> Fitted:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rate = float((y.sum() + 1) / (len(y) + 7)) if len(y) else 1 / 7
    key = json.dumps(
        {
            "window": [window[0].isoformat(), window[1].isoformat()],
            "rows": len(y),
            "features": FEATURES,
            "settings": settings.__dict__,
        },
        sort_keys=True,
    )
    version = hashlib.sha256(key.encode()).hexdigest()[:12]
    positives = int(y.sum())
    if len(y) < settings.min_rows or positives < 8 or len(y) - positives < 8:
        return Fitted("prior", version, len(y), rate, None)
    base = make_pipeline(StandardScaler(), LogisticRegression(C=settings.c, max_iter=1000))
    model = CalibratedClassifierCV(base, method="sigmoid", cv=3)
    model.fit(x, y)
    return Fitted("calibrated_logistic", version, len(y), rate, model)


def predict_stalls(
    prs: pl.DataFrame,
    reviews: pl.DataFrame,
    start: date,
    end: date,
    settings: StallSettings | None = None,
) -> pl.DataFrame:
    """``pr_will_stall`` rows for the as-of days ``[start, end)`` (the columns the kind SQL
    files return, plus ``model_version``)."""
    settings = settings or StallSettings()
    horizon = timedelta(days=settings.horizon_days)
    by_pr: dict[str, list[datetime]] = {}
    for pr_id, at in reviews.iter_rows():
        by_pr.setdefault(pr_id, []).append(at)
    # Seen from the window's end. A snapshot's features read only what preceded its time and
    # its label is known by its pull request's known_at, so for an as-of day the rows with
    # known_at before its end are exactly those a run on that day alone would build.
    window_end = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
    seen = _prepared(prs, window_end, horizon)
    snaps, labels = snapshots(seen, horizon)
    x_all = _features(seen, by_pr, snaps, horizon)
    y_all = np.asarray(labels)
    known = np.array([seen[i]["known_at"].timestamp() for i, _ in snaps])
    first = min((p["opened_at"] for p in seen), default=None)
    out = []
    models: dict[date, Fitted] = {}
    day = start
    while day < end:
        as_of = datetime.combine(day + DAY, datetime.min.time(), tzinfo=UTC)
        # Refitted weekly: on outcomes known before the Monday of the as-of day's week.
        cutoff = day - timedelta(days=day.weekday())
        if cutoff not in models:
            mask = known < datetime.combine(cutoff, datetime.min.time(), tzinfo=UTC).timestamp()
            window_start = first.date() if first is not None else cutoff
            models[cutoff] = fit(x_all[mask], y_all[mask], (window_start, cutoff), settings)
            model_fitted(
                "pr_will_stall", models[cutoff], (window_start, cutoff), settings, FEATURES
            )
        model = models[cutoff]
        candidates = [
            i
            for i, p in enumerate(seen)
            if p["opened_at"] < as_of
            and (p["ended_at"] is None or p["ended_at"] >= as_of)
            and as_of - p["opened_at"] < horizon
        ]
        if candidates:
            features = _features(seen, by_pr, [(i, as_of) for i in candidates], horizon)
            for i, prob in zip(candidates, model.predict(features), strict=True):
                if prob < settings.min_probability:
                    continue
                p = seen[i]
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
        day += DAY
    return pl.DataFrame(
        out,
        schema={
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
        },
    )
