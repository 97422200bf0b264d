"""Predicted risks of plans and incidents: ``sprint_at_risk``, ``epic_at_risk`` and
``incident_slow_to_restore``.

All reuse :mod:`.predict`'s machinery: daily (or hourly) snapshots of each subject while its
outcome was unknown, every feature read from what preceded the snapshot's time; refits every
``refit_weeks`` on outcomes settled before the refit Monday (:func:`fit_before`); calibrated
learners with a prior when history is short; versions hashed from the training window, rows
and settings (loaded from the model store when stored); each version announced with
:func:`model_fitted`; a calibration report on the latest out-of-time window.

Sprints, epics and incidents are few (an organisation ends a handful of sprints a month), so a
fitted model is also shrunk towards the base rate by
``prior_strength / (outcomes + prior_strength)`` (``params.shrinkage``): with 10 settled incidents
and the default strength of 20, two thirds of every probability is the prior.

- ``sprint_at_risk``: a sprint's scope (tickets planned into it, created before its end) is not
  all done by its end date; known at the end date.
- ``epic_at_risk``: the same of an epic (a Linear project) with a due date: its children created
  before the end of the due date (UTC) are not all done by then. Sprints and epics are both
  plans, read by the same snapshots and features (``plan_id`` is the sprint or the epic).
- ``incident_slow_to_restore``: an incident is not resolved within ``restore_hours`` of first
  seen; restored means a dated ``resolved`` event (Sentry's issue-details activity or its
  webhook). A listed Sentry issue that is resolved carries no time: its outcome is unknown and it
  is left out, and while the history holds fewer than ``min_dated`` dated resolutions the kind
  states nothing (every incident would look slow). Besides the incident's own activity, it
  reads the production deployments of the project's repository (``st_project_repository``:
  Sentry projects are often named otherwise): how soon after one the incident was first seen
  (a regression a deployment shipped is usually fixed or rolled back by the next), whether one
  came since, and how long ago the last did.

What a snapshot reads of the future, and why it is bounded: a sprint's members are the
tracker's sprint field as the graph holds it (a Jira issue carried into the next sprint keeps
both; an epic's children are its tickets' parent field), but only tickets created before the
snapshot count, and their status is their latest status event before it; a due date (Jira's
``duedate``, Linear's ``targetDate``) is a plan, not an outcome, read as the latest event says;
an incident's "resolved without a date" reads the status its events carried before the day.
Users affected is not a feature: Sentry's ``user_count`` is the current total, which would leak
the future.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from flowsync_pipelines.statements.calibration import CalibrationReport, calibration_report
from flowsync_pipelines.statements.models import model_fitted
from flowsync_pipelines.statements.predict import (
    CALIBRATIONS,
    DAY,
    LEARNERS,
    ROW_SCHEMA,
    Fitted,
    _codes,
    _count_before,
    _last_before,
    _seconds,
    fit,
    midnight,
    refit_monday,
    shrunk,
)

if TYPE_CHECKING:
    from flowsync_pipelines.statements.store import ModelStore

SPRINT_KIND = "sprint_at_risk"
EPIC_KIND = "epic_at_risk"
INCIDENT_KIND = "incident_slow_to_restore"
SPRINT_FEATURES = (
    "scope",
    "added_since_start",
    "elapsed_fraction",
    "days_left",
    "not_started",
    "load",  # work left per day left against the board's recent pace
    "stuck",  # tickets in progress whose status has not moved for STUCK_DAYS
    "log_chance_all_done",  # from how the board's tickets in each one's state fared
    "log_chance_least_likely",
    "oldest_started_days",  # since the earliest start of a ticket not done
)
STUCK_DAYS = 5
# A ticket's state, for its chance of being done in time: the days its plan has left and, once
# begun, how long ago and since its status last moved (bucket edges, days). Epics run months.
DAYS_LEFT_EDGES = np.array([1, 2, 4, 7, 10, 14, 28, 56])
IN_PROGRESS_EDGES = np.array([1, 3, 7, 14, 28])
UNMOVED_EDGES = np.array([2, 5])
TICKET_PRIOR = 5.0  # ticket-states' worth of all boards' rate a board's rate is shrunk towards
INCIDENT_FEATURES = (
    "age_hours",
    "level",
    "log_events",  # log(1 + events so far): a busy error and a sparse one, not their counts
    "deployed_since",
    "project_open",
    "project_slow_rate",
    "hours_since_deploy",  # the project's last production deployment (a fix ships with one)
    "log_hours_deploy_to_first_seen",  # first seen soon after a deployment: likely a regression
)
NO_DEPLOY_HOURS = 14 * 24.0  # hours counted when the project has no deployment that long
LEVELS = {"fatal": 3.0, "critical": 3.0, "error": 2.0, "warning": 1.0, "info": 0.0, "debug": 0.0}
PRIOR_OUTCOMES = 6  # outcomes' worth of one half in a prior's base rate (a Beta(3, 3) prior)
INCIDENT_SNAPSHOTS = 8  # training snapshots per incident, evenly over its threshold


@dataclass(frozen=True)
class RiskSettings:
    """Settings of a risk kind (all but ``report_days`` hash into the model version).

    Attributes:
        min_rows: fewer training snapshots (or < 8 of either class): the prior.
        min_probability: claims below this are not made.
        learner: ``logistic`` (few outcomes: a regression generalises) or ``gradient_boosting``.
        c: inverse L2 strength of the logistic regression.
        calibration: as :class:`~.predict.StallSettings`.
        positive_weight: training weight of a positive example.
        prior_strength: outcomes' worth of prior a fitted model is shrunk towards.
        report_days: length of the latest out-of-time window the calibration report scores.
        refit_weeks: the model is refitted every this many weeks, on a Monday (as
            :class:`~.predict.StallSettings`): a week settles a sprint or two, which barely
            moves a model, while weekly refits made a three-year import fit hundreds.
    """

    min_rows: int = 40
    min_probability: float = 0.5
    learner: str = "logistic"
    c: float = 1.0
    calibration: str = "sigmoid"
    positive_weight: float = 1.0
    prior_strength: float = 20.0
    report_days: int = 28
    refit_weeks: int = 4

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS or self.calibration not in CALIBRATIONS:
            msg = (
                f"{type(self).__name__}: learner {self.learner!r}, calibration {self.calibration!r}"
            )
            raise ValueError(msg)


@dataclass(frozen=True)
class SprintSettings(RiskSettings):
    """``sprint_at_risk`` settings (see :class:`RiskSettings`). An organisation settles ~50
    sprints a year, enough for the calibrated model to need little shrinking: at strength 20
    the shrunk probabilities were under-confident out of time, and once each ticket's chance
    was read, strength 5 still was below 0.2 (ECE 0.025 against 0.021 at 2). Its features
    overlap (tickets left enter the counts and the chances): a stronger penalty (``c`` 0.1)
    ranked better out of time."""

    prior_strength: float = 2.0
    c: float = 0.1


@dataclass(frozen=True)
class EpicSettings(RiskSettings):
    """``epic_at_risk`` settings (see :class:`RiskSettings`). A team that keeps planning
    deliverables settles one or two a month, and at strength 20 the shrunk probabilities were
    under-confident out of time, as sprints' were (and at 5, once each ticket's chance was
    read: ECE 0.032 against 0.026 at 2)."""

    prior_strength: float = 2.0


@dataclass(frozen=True)
class IncidentSettings(RiskSettings):
    """``incident_slow_to_restore`` settings; ``restore_hours``: restored later than this after
    first seen is slow; ``min_dated``: dated resolutions the history needs before any claim."""

    restore_hours: float = 24.0
    min_dated: int = 8


@dataclass(frozen=True)
class Snapshots:
    """Training rows: each snapshot's subject (a row of the subjects' frame), features, outcome
    and when that outcome settled (seconds)."""

    subject: np.ndarray
    x: np.ndarray
    y: np.ndarray
    settled: np.ndarray
    first: date | None

    def mask(self, start: date | None, end: date) -> np.ndarray:
        low = -np.inf if start is None else midnight(start).timestamp()
        return (self.settled >= low) & (self.settled < midnight(end).timestamp())

    def fit_before(
        self,
        kind: str,
        cutoff: date,
        settings: RiskSettings,
        features: tuple[str, ...],
        store: ModelStore | None = None,
    ) -> Fitted:
        """The model of outcomes settled before ``cutoff`` (loaded from ``store`` when stored
        there), shrunk by its outcomes, announced."""
        m = self.mask(None, cutoff)
        window = (self.first or cutoff, cutoff)
        fitted = fit(
            self.x[m], self.y[m], window, settings, features, statement_kind=kind, store=store
        )
        subjects, first = np.unique(self.subject[m], return_index=True)
        fitted = shrunk(fitted, len(subjects), settings.prior_strength)
        if fitted.model is None:
            # The prior is the base rate of the outcomes (not of the snapshots), shrunk towards
            # one half by PRIOR_OUTCOMES: one settled sprint that missed is no evidence that
            # all do.
            positives = float(self.y[m][first].sum())
            rate = (positives + PRIOR_OUTCOMES / 2) / (len(subjects) + PRIOR_OUTCOMES)
            fitted = replace(fitted, positive_rate=round(rate, 4))
        model_fitted(kind, fitted, window, settings, features)
        return fitted

    def report(self, kind: str, model: Fitted, start: date, end: date) -> CalibrationReport:
        m = self.mask(start, end)
        p = model.predict(self.x[m])
        return calibration_report(
            kind, p, self.y[m], (start, end), model.version, model.kind, subjects=self.subject[m]
        )


# A day's candidates: the features of the subjects a claim may be made of, and what
# ``emit`` needs to name them.
Candidates = tuple[np.ndarray, object]


def _refitted(
    snaps: Snapshots,
    kind: str,
    settings: RiskSettings,
    features: tuple[str, ...],
    start: date,
    end: date,
    candidates: Callable[[date], Candidates],
    emit: Callable[[date, Fitted, np.ndarray, object], list[dict]],
    store: ModelStore | None,
) -> tuple[pl.DataFrame, CalibrationReport]:
    """Rows of the as-of days ``[start, end)``: each day's ``candidates`` scored by the model
    fitted on outcomes settled before its refit Monday (every ``refit_weeks``), and
    ``emit``-ted; and the latest out-of-time report. One prediction per model over all its
    days: a probability does not depend on the other rows of its batch, and a call per day
    cost more than the predictions over a long import."""
    models: dict[date, Fitted] = {}
    pending: list[tuple[date, date, np.ndarray, object]] = []
    day = start
    while day < end:
        cutoff = refit_monday(day, settings.refit_weeks)
        if cutoff not in models:
            models[cutoff] = snaps.fit_before(kind, cutoff, settings, features, store)
        x, context = candidates(day)
        if len(x):
            pending.append((day, cutoff, x, context))
        day += DAY
    out: list[dict] = []
    for cutoff, model in models.items():
        batch = [p for p in pending if p[1] == cutoff]
        if not batch:
            continue
        probs = model.predict(np.concatenate([p[2] for p in batch]))
        bounds = np.cumsum([0, *(len(p[2]) for p in batch)])
        for (day, _, _, context), lo, hi in zip(batch, bounds[:-1], bounds[1:], strict=True):
            out.extend(emit(day, model, probs[lo:hi], context))
    report_start = refit_monday(end - timedelta(days=settings.report_days), settings.refit_weeks)
    model = models.get(report_start) or snaps.fit_before(
        kind, report_start, settings, features, store
    )
    return pl.DataFrame(out, schema=ROW_SCHEMA), snaps.report(kind, model, report_start, end)


def _params(model: Fitted, **extra: object) -> str:
    return json.dumps(
        {
            **extra,
            "model": model.kind,
            "training_rows": model.rows,
            "base_rate": round(model.positive_rate, 4),
            "shrinkage": model.shrinkage if model.model is not None else 1.0,
        }
    )


# --- sprint_at_risk --------------------------------------------------------------------------


def _sprint_state(
    sprints: pl.DataFrame, tickets: pl.DataFrame, snap: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per snapshot (``row``: a sprint's index, ``at``: its time) the scope then (tickets of the
    sprint created before ``at``), how many were added after its scope was set, how many were
    done by their latest status event before ``at``, and those events (evidence); and per
    snapshot and ticket that latest event (``category``, ``occurred_at``) and when the ticket
    first went in progress (``first_started_at``)."""
    members = tickets.select("plan_id", "ticket_id", "created_at", "url").unique(
        ["plan_id", "ticket_id"], keep="last", maintain_order=True
    )
    # One status event per ticket and instant (a tracker may log two at once, e.g. Linear's
    # "transitioned" and "completed"): the greatest event id, as the SQL's arg_max does, so
    # that the evidence never depends on row order.
    status = (
        tickets.select("ticket_id", "occurred_at", "category", "event_id")
        .sort("ticket_id", "occurred_at", "event_id")
        .unique(["ticket_id", "occurred_at"], keep="last", maintain_order=True)
        .sort("occurred_at", "ticket_id")
    )
    first_started = (
        status.filter(pl.col("category") == "indeterminate")
        .group_by("ticket_id")
        .agg(pl.col("occurred_at").min().alias("first_started_at"))
    )
    base = snap.join(
        sprints.select(pl.int_range(pl.len()).alias("row"), "entity_id", "scoped_at"),
        on="row",
    )
    scope = (
        base.join(members, left_on="entity_id", right_on="plan_id")
        .filter(pl.col("created_at") < pl.col("at"))
        .sort("at")
        .join_asof(
            status,
            left_on="at",
            right_on="occurred_at",
            by="ticket_id",
            strategy="backward",
            allow_exact_matches=False,  # an event at the snapshot's instant is not before it
            check_sortedness=False,  # sorted above; polars cannot check within "by" groups
        )
    )
    per = scope.group_by("snap").agg(
        pl.len().alias("scope"),
        (pl.col("created_at") > pl.col("scoped_at")).sum().alias("added"),
        (pl.col("category") == "done").sum().alias("done"),
        pl.col("category").is_in(["indeterminate", "done"]).sum().alias("started"),
        (
            (pl.col("category") == "indeterminate")
            & (pl.col("occurred_at") < pl.col("at") - pl.duration(days=STUCK_DAYS))
        )
        .sum()
        .alias("stuck"),
        pl.col("event_id").drop_nulls().sort().alias("events"),
        pl.col("url").drop_nulls().unique().sort().alias("urls"),
    )
    state = snap.join(per, on="snap", how="left").with_columns(
        pl.col("scope", "added", "done", "started", "stuck").fill_null(0)
    )
    per_ticket = scope.select("snap", "row", "at", "ticket_id", "category", "occurred_at").join(
        first_started, on="ticket_id", how="left"
    )
    return state, per_ticket


@dataclass(frozen=True)
class _Settled:
    """Each plan's outcome: ``missed``, tickets ``done`` by its end, its end (seconds), whether
    that end is before the as-of time (``known``), and per plan (``row``) and ticket whether
    the ticket was done by the end (``ticket_done``); the ticket states of the training
    snapshots (``history``: :func:`_ticket_states`), which every ticket's chance is read from,
    so that a feature never depends on which days are featured with it."""

    missed: np.ndarray
    done: np.ndarray
    ends: np.ndarray
    known: np.ndarray
    ticket_done: pl.DataFrame
    history: pl.DataFrame | None = None  # the training snapshots' ticket states


def _sprint_snapshots(
    sprints: pl.DataFrame, tickets: pl.DataFrame, as_of: float
) -> tuple[Snapshots, _Settled]:
    """Training snapshots of every sprint started before ``as_of`` (at noon of each of its
    days before its end date) with its outcome; and the sprints' outcomes."""
    started = _seconds(sprints["started_at"].to_list())
    ends = _seconds(sprints["ends_at"].to_list())
    n = len(started)
    if n == 0:
        empty = np.zeros(0)
        no_tickets = pl.DataFrame(
            schema={"row": pl.Int64, "ticket_id": pl.String, "done": pl.Boolean}
        )
        return (
            Snapshots(empty.astype(int), np.zeros((0, len(SPRINT_FEATURES))), empty, empty, None),
            _Settled(empty, empty, empty, empty.astype(bool), no_tickets),
        )
    # Outcomes: the scope at the end date, each ticket's status by then.
    at_end = pl.DataFrame(
        {"snap": np.arange(n), "row": np.arange(n), "at_s": ends},
        schema={"snap": pl.Int64, "row": pl.Int64, "at_s": pl.Float64},
    )
    state, per_ticket = _sprint_state(sprints, tickets, _with_at(at_end))
    state = state.sort("snap")
    settled = _Settled(
        missed=(state["scope"] > state["done"]).to_numpy().astype(float),
        done=state["done"].to_numpy().astype(float),
        ends=ends,
        known=ends <= as_of,
        ticket_done=per_ticket.select("row", "ticket_id", done=pl.col("category") == "done"),
    )
    days = np.ceil((ends - started) / 86400).astype(int)
    row = np.repeat(np.arange(n), days)
    at = started[row] + (np.concatenate([np.arange(d) for d in days]) + 0.5) * 86400
    keep = (at < ends[row]) & (at < as_of)
    row, at = row[keep], at[keep]
    x, frame, history = _sprint_features(sprints, tickets, row, at, settled)
    nonempty = frame["scope"].to_numpy() > 0
    snaps = Snapshots(
        subject=row[nonempty],
        x=x[nonempty],
        y=settled.missed[row][nonempty],
        settled=np.where(settled.known, ends, np.inf)[row][nonempty],
        first=sprints["started_at"].min().date() if n else None,  # type: ignore[union-attr]
    )
    return snaps, replace(settled, history=history)


def _with_at(snap: pl.DataFrame) -> pl.DataFrame:
    return snap.with_columns(
        pl.from_epoch((pl.col("at_s") * 1_000_000).cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("at")
    )


def _sprint_features(
    sprints: pl.DataFrame,
    tickets: pl.DataFrame,
    row: np.ndarray,
    at: np.ndarray,
    settled: _Settled,
) -> tuple[np.ndarray, pl.DataFrame, pl.DataFrame]:
    """Features of (sprint, time) pairs from what preceded each time, the state frame and the
    pairs' ticket states (the history, when ``settled`` has none yet)."""
    snap = _with_at(pl.DataFrame({"snap": np.arange(len(row)), "row": row, "at_s": at}))
    state, per_ticket = _sprint_state(sprints, tickets, snap)
    state = state.sort("snap")
    ends = settled.ends
    board = np.asarray(_codes(sprints["board"].to_list()))
    plan_settled = np.where(settled.known, ends, np.inf)
    states = _ticket_states(per_ticket, board, plan_settled, ends, settled.ticket_done)
    if not len(row):
        return np.zeros((0, len(SPRINT_FEATURES))), state, states
    started = _seconds(sprints["started_at"].to_list())
    scope = state["scope"].to_numpy().astype(float)
    done = state["done"].to_numpy().astype(float)
    days_left = (ends[row] - at) / 86400
    length = (ends[row] - started[row]) / 86400
    pace = _board_pace(board, plan_settled, settled.done, (ends - started) / 86400, board[row], at)
    # Without a settled plan of its own board, a plan's pace is its scope over its length.
    pace = np.where(np.isnan(pace), np.maximum(scope, 1) / np.maximum(length, 1), pace)
    x = np.column_stack(
        [
            scope,
            state["added"].to_numpy().astype(float),
            (at - started[row]) / (ends[row] - started[row]),
            days_left,
            scope - state["started"].to_numpy().astype(float),
            # Capped: with hours left, any work left is "too much" and the ratio explodes.
            np.minimum((scope - done) / np.maximum(days_left, 0.5) / np.maximum(pace, 0.05), 20),
            state["stuck"].to_numpy().astype(float),
            _ticket_chances(
                states, states if settled.history is None else settled.history, len(row)
            ),
        ]
    )
    return x, state, states


def _ticket_states(
    per_ticket: pl.DataFrame,
    board: np.ndarray,
    plan_settled: np.ndarray,
    ends: np.ndarray,
    ticket_done: pl.DataFrame,
) -> pl.DataFrame:
    """Per snapshot and ticket: its time (``at_s``), whether the ticket is open, days since it
    first started (``age``, 0 unless begun), its state (``state``: not started, or begun so
    long ago, unmoved for so long, in progress or put back since) with its plan's days left,
    that state on its board (``on_board``), and when its plan settled (``settled``, inf: not
    known) and was done by it (``done_by``, inf: not done)."""

    def days_since(column: str) -> pl.Expr:
        return (pl.col("at") - pl.col(column)).dt.total_seconds(fractional=True) / 86400

    open_ = pl.col("category").fill_null("new") != "done"
    # Begun: started before and not done, in progress or put back to the backlog since.
    begun = open_ & (pl.col("first_started_at") < pl.col("at")).fill_null(False)
    t = per_ticket.join(ticket_done, on=["row", "ticket_id"], how="left").select(
        "snap",
        "row",
        at_s=pl.col("at").dt.epoch("us") / 1e6,
        open=open_,
        begun=begun,
        put_back=begun & (pl.col("category") != "indeterminate"),
        age=pl.when(begun).then(days_since("first_started_at")).otherwise(0.0),
        unmoved=days_since("occurred_at").fill_null(0.0),
        done=pl.col("done").fill_null(False),
    )
    row, at = t["row"].to_numpy(), t["at_s"].to_numpy()
    state = np.where(
        t["begun"].to_numpy(),
        1
        + np.searchsorted(IN_PROGRESS_EDGES, t["age"].to_numpy())
        + 10 * np.searchsorted(UNMOVED_EDGES, t["unmoved"].to_numpy())
        + 40 * t["put_back"].to_numpy(),
        0,
    )
    state = np.searchsorted(DAYS_LEFT_EDGES, (ends[row] - at) / 86400) * 100 + state
    settled = plan_settled[row]
    return t.select("snap", "at_s", "open", "age").with_columns(
        state=state,
        on_board=board[row] * 10_000 + state,
        settled=settled,
        done_by=np.where(t["done"].to_numpy(), settled, np.inf),
    )


def _ticket_chances(states: pl.DataFrame, history: pl.DataFrame, n_snaps: int) -> np.ndarray:
    """Per snapshot: the log chance that every open ticket is done by the plan's end, the log
    chance of the least likely one, and the days since the earliest start of an open ticket.

    A ticket's chance is how often ``history``'s tickets in the same state on the same board
    were done by their plan's end, over plans settled before the snapshot, shrunk towards all
    boards' rate (``TICKET_PRIOR``). A plan misses when any one ticket is late, so the chances
    multiply; counting tickets left cannot tell one ticket in review from one not begun."""
    at = states["at_s"].to_numpy()

    def rate_before(group: str) -> tuple[np.ndarray, np.ndarray]:
        g, q = history[group].to_numpy(), states[group].to_numpy()
        done = _count_before(g, history["done_by"].to_numpy(), q, at)
        return done, _count_before(g, history["settled"].to_numpy(), q, at)

    done_all, seen_all = rate_before("state")
    done_mine, seen_mine = rate_before("on_board")
    everyone = (done_all + 1) / (seen_all + 2)
    chance = (done_mine + TICKET_PRIOR * everyone) / (seen_mine + TICKET_PRIOR)
    # A state that never finished in time is unlikely to, not impossible.
    log_chance = np.where(states["open"].to_numpy(), np.log(np.clip(chance, 0.01, 1.0)), 0.0)
    per = (
        pl.DataFrame({"snap": states["snap"], "log": log_chance, "age": states["age"]})
        .group_by("snap")
        .agg(
            pl.col("log").sum().alias("all"),
            pl.col("log").min().alias("least"),
            pl.col("age").max(),
        )
    )
    out = pl.DataFrame({"snap": np.arange(n_snaps)}).join(per, on="snap", how="left").fill_null(0.0)
    return out.sort("snap").select("all", "least", "age").to_numpy()


def _board_pace(
    board: np.ndarray,
    settled: np.ndarray,
    done_end: np.ndarray,
    length_days: np.ndarray,
    query_board: np.ndarray,
    at: np.ndarray,
) -> np.ndarray:
    """Per query, tickets a day the board finished in its last two plans settled before
    ``at`` (NaN without one): the team's recent throughput, known then."""
    out = np.full(len(at), np.nan)
    rate = done_end / np.maximum(length_days, 1)
    for b in np.unique(query_board):
        mine = np.flatnonzero((board == b) & np.isfinite(settled))
        order = mine[np.argsort(settled[mine], kind="stable")]
        if not len(order):
            continue
        csum = np.concatenate([[0.0], np.cumsum(rate[order])])
        q = np.flatnonzero(query_board == b)
        k = np.searchsorted(settled[order], at[q], side="left")  # plans settled before at
        lo = np.maximum(k - 2, 0)
        has = k > 0
        out[q[has]] = (csum[k[has]] - csum[lo[has]]) / (k[has] - lo[has])
    return out


def plan_snapshots(plans: pl.DataFrame, tickets: pl.DataFrame, end: date) -> Snapshots:
    """The training snapshots a plan kind (``sprint_at_risk``, ``epic_at_risk``) learns from
    when run up to ``end`` (exclusive): what :func:`predict_sprints` and :func:`predict_epics`
    fit and report on, for benches that score them out of time."""
    return _sprint_snapshots(plans, tickets, midnight(end).timestamp())[0]


def predict_sprints(
    sprints: pl.DataFrame,
    tickets: pl.DataFrame,
    start: date,
    end: date,
    settings: SprintSettings | None = None,
    *,
    store: ModelStore | None = None,
) -> tuple[pl.DataFrame, CalibrationReport]:
    """``sprint_at_risk`` rows for the as-of days ``[start, end)`` and the calibration report
    of the latest out-of-time window before ``end``."""
    return _predict_plans(
        SPRINT_KIND, "sprint", sprints, tickets, start, end, settings or SprintSettings(), store
    )


def predict_epics(
    epics: pl.DataFrame,
    tickets: pl.DataFrame,
    start: date,
    end: date,
    settings: EpicSettings | None = None,
    *,
    store: ModelStore | None = None,
) -> tuple[pl.DataFrame, CalibrationReport]:
    """``epic_at_risk`` rows for the as-of days ``[start, end)`` and the calibration report of
    the latest out-of-time window before ``end``: an epic (a Linear project) with a due date is
    a plan like a sprint, its children the scope, the end of its due date the end."""
    return _predict_plans(
        EPIC_KIND, "epic", epics, tickets, start, end, settings or EpicSettings(), store
    )


def _predict_plans(
    kind: str,
    subject_type: str,
    plans: pl.DataFrame,
    tickets: pl.DataFrame,
    start: date,
    end: date,
    settings: RiskSettings,
    store: ModelStore | None,
) -> tuple[pl.DataFrame, CalibrationReport]:
    """Rows of a plan kind (one row of ``plans`` per sprint or epic, ``tickets`` its scope's
    status events) and its calibration report."""
    as_of_end = midnight(end).timestamp()
    snaps, settled = _sprint_snapshots(plans, tickets, as_of_end)
    started, ends = _seconds(plans["started_at"].to_list()), settled.ends
    info = plans.select("entity_id", "team", "start_event", "url", "ends_on").to_dicts()
    # Every as-of day's active sprints, featured in one pass (a pass per day re-joined every
    # ticket for each day: quadratic over a year's import). A feature counts only outcomes
    # settled strictly before its snapshot, so one ``known`` serves every day.
    n_days = (end - start).days
    as_ofs = np.array([midnight(start + (k + 1) * DAY).timestamp() for k in range(n_days)])
    active_by_day = [np.flatnonzero((started < a) & (ends > a)) for a in as_ofs]
    bounds = np.concatenate([[0], np.cumsum([len(a) for a in active_by_day])]).astype(int)
    pairs = np.concatenate([np.zeros(0, dtype=int), *active_by_day])
    x_all, state_all, _ = _sprint_features(
        plans, tickets, pairs, np.repeat(as_ofs, np.diff(bounds)), settled
    )

    def candidates(day: date) -> Candidates:
        k = (day - start).days
        lo, hi = bounds[k], bounds[k + 1]
        return x_all[lo:hi], (pairs[lo:hi], state_all.slice(lo, hi - lo))

    def emit(day: date, model: Fitted, probs: np.ndarray, context: object) -> list[dict]:
        active, state = context  # type: ignore[misc]
        out = []
        for i, prob, s in zip(active, probs, state.iter_rows(named=True), strict=True):
            # Nothing left to do, nothing to name: a plan whose scope is all done is not
            # claimed at risk (scope added later is the next day's news).
            if prob < settings.min_probability or s["done"] >= s["scope"]:
                continue
            plan = info[i]
            out.append(
                {
                    "as_of_date": day,
                    "team": plan["team"],
                    "subject_type": subject_type,
                    "subject_id": plan["entity_id"],
                    "object_type": None,
                    "object_id": None,
                    "params": _params(
                        model,
                        ends_on=plan["ends_on"].isoformat(),
                        scope=s["scope"],
                        not_done=s["scope"] - s["done"],
                    ),
                    "confidence": float(prob),
                    "evidence": [plan["start_event"], *s["events"]],
                    "citations": [c for c in [plan["url"], *s["urls"]] if c],
                    "model_version": model.version,
                }
            )
        return out

    return _refitted(snaps, kind, settings, SPRINT_FEATURES, start, end, candidates, emit, store)


# --- incident_slow_to_restore ----------------------------------------------------------------


@dataclass(frozen=True)
class _Incidents:
    first_seen: np.ndarray
    resolved: np.ndarray  # inf while not resolved (or resolved without a date)
    dated: np.ndarray  # whether the outcome can be known (not resolved without a date)
    project: np.ndarray
    level: np.ndarray
    slow: np.ndarray
    settled: np.ndarray  # first seen + threshold; inf when undated
    event_key: np.ndarray  # each incident event's incident (codes shared with the incidents)
    event_at: np.ndarray
    deploy_project: np.ndarray
    deploy_at: np.ndarray


def _incidents(
    incidents: pl.DataFrame, events: pl.DataFrame, as_of: float, threshold_s: float
) -> _Incidents:
    first = _seconds(incidents["first_seen_at"].to_list())
    resolved = _seconds(incidents["resolved_at"].to_list())
    resolved = np.where(resolved < as_of, resolved, np.inf)
    dated = ~incidents["undated"].to_numpy().astype(bool)
    slow = (resolved > first + threshold_s).astype(float)
    settled = np.where(dated & (first + threshold_s <= as_of), first + threshold_s, np.inf)
    ids = incidents["entity_id"].to_list()
    inc_events = events.filter(pl.col("kind") == "event")
    deploys = events.filter(pl.col("kind") == "deployment")
    # Incident i's events carry code i; projects share codes with the deployments' projects.
    codes = (
        inc_events["key"]
        .replace_strict(ids, list(range(len(ids))), default=-1, return_dtype=pl.Int64)
        .to_numpy()
    )
    pcodes = np.asarray(_codes([*incidents["project"].to_list(), *deploys["key"].to_list()]))
    return _Incidents(
        first_seen=first,
        resolved=resolved,
        dated=dated,
        project=pcodes[: len(ids)],
        level=np.array([LEVELS.get(v, 1.0) for v in incidents["level"].to_list()]),
        slow=slow,
        settled=settled,
        event_key=codes,
        event_at=_seconds(inc_events["occurred_at"].to_list()),
        deploy_project=pcodes[len(ids) :],
        deploy_at=_seconds(deploys["occurred_at"].to_list()),
    )


def _incident_features(inc: _Incidents, index: np.ndarray, at: np.ndarray) -> np.ndarray:
    if not len(index):
        return np.zeros((0, len(INCIDENT_FEATURES)))
    project = inc.project[index]
    events = _count_before(inc.event_key, inc.event_at, index, at)
    deployed = _count_before(inc.deploy_project, inc.deploy_at, project, at) - _count_before(
        inc.deploy_project, inc.deploy_at, project, inc.first_seen[index]
    )
    opened = _count_before(inc.project, inc.first_seen, project, at)
    closed = _count_before(inc.project, inc.resolved, project, at)
    slow_at = np.where(inc.slow > 0, inc.settled, np.inf)
    known = _count_before(inc.project, inc.settled, project, at)
    slow = _count_before(inc.project, slow_at, project, at)
    first = inc.first_seen[index]
    last_deploy = _last_before(inc.deploy_project, inc.deploy_at, project, at)
    deploy_before = _last_before(inc.deploy_project, inc.deploy_at, project, first)
    return np.column_stack(
        [
            (at - first) / 3600,
            inc.level[index],
            np.log1p(events),
            (deployed > 0).astype(float),
            opened - closed - 1,  # other incidents of the project open then
            (slow + 1) / (known + 2),  # the project's past slow restores, shrunk to one half
            np.minimum((at - last_deploy) / 3600, NO_DEPLOY_HOURS),
            np.log1p(np.minimum((first - deploy_before) / 3600, NO_DEPLOY_HOURS)),
        ]
    )


def _incident_snapshots(incidents: pl.DataFrame, inc: _Incidents, threshold: float) -> Snapshots:
    """``INCIDENT_SNAPSHOTS`` evenly over each dated incident's threshold while it is open."""
    n = len(inc.first_seen)
    k = INCIDENT_SNAPSHOTS
    index = np.repeat(np.arange(n), k)
    at = inc.first_seen[index] + (np.tile(np.arange(k), n) + 0.5) * threshold / k
    keep = (at < inc.resolved[index]) & np.isfinite(inc.settled[index])
    index, at = index[keep], at[keep]
    first = incidents["first_seen_at"].min()
    return Snapshots(
        subject=index,
        x=_incident_features(inc, index, at),
        y=inc.slow[index],
        settled=inc.settled[index],
        first=first.date() if first is not None else None,  # type: ignore[union-attr]
    )


def incident_snapshots(
    incidents: pl.DataFrame, events: pl.DataFrame, end: date, settings: IncidentSettings
) -> Snapshots:
    """The training snapshots ``incident_slow_to_restore`` learns from when run up to ``end``
    (exclusive), as :func:`predict_incidents` builds them."""
    threshold = settings.restore_hours * 3600
    inc = _incidents(incidents, events, midnight(end).timestamp(), threshold)
    return _incident_snapshots(incidents, inc, threshold)


def predict_incidents(
    incidents: pl.DataFrame,
    events: pl.DataFrame,
    start: date,
    end: date,
    settings: IncidentSettings | None = None,
    *,
    store: ModelStore | None = None,
) -> tuple[pl.DataFrame, CalibrationReport]:
    """``incident_slow_to_restore`` rows for the as-of days ``[start, end)`` and the
    calibration report of the latest out-of-time window before ``end``."""
    settings = settings or IncidentSettings()
    threshold = settings.restore_hours * 3600
    inc = _incidents(incidents, events, midnight(end).timestamp(), threshold)
    snaps = _incident_snapshots(incidents, inc, threshold)
    info = incidents.select("entity_id", "team", "first_event", "url", "first_seen_at").to_dicts()
    dated_resolutions = np.where(np.isfinite(inc.resolved), inc.resolved, np.inf)

    none = np.zeros((0, len(INCIDENT_FEATURES)))

    def candidates(day: date) -> Candidates:
        as_of = midnight(day + DAY).timestamp()
        # No claim until the day's model learned from enough dated restorations to tell slow
        # from fast.
        cutoff = midnight(refit_monday(day, settings.refit_weeks)).timestamp()
        if (dated_resolutions < cutoff).sum() < settings.min_dated:
            return none, None
        open_ = np.flatnonzero(
            (inc.first_seen < as_of)
            & (inc.resolved >= as_of)
            & inc.dated
            & (as_of - inc.first_seen < threshold)
        )
        if not len(open_):
            return none, None
        return _incident_features(inc, open_, np.full(len(open_), as_of)), open_

    def emit(day: date, model: Fitted, probs: np.ndarray, open_: object) -> list[dict]:
        out = []
        for i, prob in zip(open_, probs, strict=True):
            if prob < settings.min_probability:
                continue
            row = info[i]
            out.append(
                {
                    "as_of_date": day,
                    "team": row["team"],
                    "subject_type": "incident",
                    "subject_id": row["entity_id"],
                    "object_type": None,
                    "object_id": None,
                    "params": _params(
                        model,
                        restore_hours=settings.restore_hours,
                        first_seen_at=row["first_seen_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                    ),
                    "confidence": float(prob),
                    "evidence": [row["first_event"]],
                    "citations": [row["url"]],
                    "model_version": model.version,
                }
            )
        return out

    return _refitted(
        snaps, INCIDENT_KIND, settings, INCIDENT_FEATURES, start, end, candidates, emit, store
    )
