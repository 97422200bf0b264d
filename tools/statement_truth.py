"""Ground truth for statements: the simulator's record of what really happened, in the entity
ids statements use, and per kind and band the precision of what FlowSync stated.

Read by tests and ``bench/statements_runtime.py`` only; the pipeline never sees the truth.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

# Kinds whose claims the simulator's truth can confirm or refute, pair by pair.
SCORED_KINDS = (
    "ticket_shipped",
    "incident_caused_by_deployment",
    "work_without_ticket",
    "pr_merged_without_review",
    "pr_will_stall",
    "sprint_at_risk",
    "epic_at_risk",
    "incident_slow_to_restore",
)


STALL_DAYS = 5  # pr_will_stall's default horizon
RESTORE_HOURS = 24.0  # incident_slow_to_restore's default threshold


def _pr_id(p: dict[str, Any]) -> str:
    return f"{p['repo']}{'!' if p['host'] == 'gitlab' else '#'}{p['number']}"


def truth_pairs(world: Any) -> dict[str, set[tuple[str, str]]]:
    """Per scored kind, the true ``(subject_id, object_id or "")`` pairs over the whole period."""
    truth = world.ground_truth()
    pulls = {(p["repo"], p["number"]): p for p in truth["pull_requests"]}
    shipped: set[tuple[str, str]] = set()
    for dep in truth["deployments"]:
        if dep["environment"] != "production" or dep["status"] != "success":
            continue
        dep_id = f"{dep['repo']}/deployments/{dep['deployment_id']}"
        for number in dep["pull_requests"]:
            key = pulls[(dep["repo"], number)]["ticket_key"]
            if key:
                shipped.add((key, dep_id))
    caused = {
        (
            f"sentry:{c['project']}/{c['sentry_issue_id']}",
            f"{c['cause_deployment']['repo']}/deployments/{c['cause_deployment']['deployment_id']}",
        )
        for c in truth["incident_causes"]
        if c["cause_deployment"]
    }
    without_ticket = {
        (_pr_id(p), "")
        for p in truth["pull_requests"]
        if p["merged_at"] and not p["ticket_key"] and not p["is_bot_author"]
    }
    unreviewed = {
        (_pr_id(p), "")
        for p in truth["pull_requests"]
        if p["merged_at"]
        and (p["first_review_at"] is None or p["first_review_at"] > p["merged_at"])
    }
    end = _time(truth["end"])
    stalled = set()
    for p in truth["pull_requests"]:
        opened = datetime.fromisoformat(p["created_at"].replace("Z", "+00:00"))
        ended = p["merged_at"] or p["closed_at"]
        ended_at = datetime.fromisoformat(ended.replace("Z", "+00:00")) if ended else None
        if (ended_at or end) > opened + timedelta(days=STALL_DAYS):
            stalled.add((_pr_id(p), ""))
    slow = set()
    for c in truth["incident_causes"]:
        first = _time(c["first_seen"])
        restored = _time(c["resolved_at"]) if c["resolved_at"] else None
        if (restored or end) > first + timedelta(hours=RESTORE_HOURS):
            slow.add((f"sentry:{c['project']}/{c['sentry_issue_id']}", ""))
    return {
        "pr_will_stall": stalled,
        "sprint_at_risk": {(s["subject_id"], "") for s in truth["sprints"] if s["missed"]},
        "epic_at_risk": {(e["subject_id"], "") for e in truth["epics"] if e["missed"]},
        "incident_slow_to_restore": slow,
        "ticket_shipped": shipped,
        "incident_caused_by_deployment": caused,
        "work_without_ticket": without_ticket,
        "pr_merged_without_review": unreviewed,
    }


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def unknown_outcomes(world: Any) -> dict[str, set[str]]:
    """Per predicted kind, the subjects whose outcome the period does not settle (a sprint or
    epic due after its end, an incident first seen less than the threshold before it): their
    claims can be neither right nor wrong, so scoring leaves them out."""
    truth = world.ground_truth()
    end = _time(truth["end"])
    return {
        "sprint_at_risk": {s["subject_id"] for s in truth["sprints"] if s["missed"] is None},
        "epic_at_risk": {e["subject_id"] for e in truth["epics"] if e["missed"] is None},
        "incident_slow_to_restore": {
            f"sentry:{c['project']}/{c['sentry_issue_id']}"
            for c in truth["incident_causes"]
            if not c["resolved_at"]
            and _time(c["first_seen"]) + timedelta(hours=RESTORE_HOURS) > end
        },
    }


def _settled(statements: pl.DataFrame, world: Any) -> pl.DataFrame:
    """``statements`` without the claims whose outcome the period leaves unknown."""
    unknown = unknown_outcomes(world)
    keep = pl.lit(True)
    for kind, subjects in unknown.items():
        keep = keep & ~((pl.col("kind") == kind) & pl.col("subject_id").is_in(list(subjects)))
    return statements.filter(keep)


def scored(statements: pl.DataFrame, world: Any) -> pl.DataFrame:
    """Distinct (kind, subject, object) claims of the scored kinds, with their band (the
    highest it reached) and ``real`` from the truth."""
    pairs = truth_pairs(world)
    claims = (
        _settled(statements, world)
        .filter(pl.col("kind").is_in(SCORED_KINDS))
        .with_columns(pl.col("object_id").fill_null(""))
        .group_by("kind", "subject_id", "object_id")
        .agg(pl.col("confidence").max())
    )
    real = [
        (kind, subject, obj) in {(k, *p) for k in pairs for p in pairs[k] if k == kind}
        for kind, subject, obj in claims.select("kind", "subject_id", "object_id").iter_rows()
    ]
    from flowsync_pipelines.bands import HIGH, MEDIUM

    return claims.with_columns(
        pl.Series("real", real, dtype=pl.Boolean),
        pl.when(pl.col("confidence") >= HIGH)
        .then(pl.lit("high"))
        .when(pl.col("confidence") >= MEDIUM)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
        .alias("band"),
    )


def precision_table(statements: pl.DataFrame, world: Any) -> pl.DataFrame:
    """Per kind and band: claims, mean confidence, precision; and the kind's recall."""
    pairs = truth_pairs(world)
    claims = scored(statements, world)
    table = (
        claims.group_by("kind", "band")
        .agg(
            pl.len().alias("claims"),
            pl.col("confidence").mean().round(3).alias("mean_confidence"),
            pl.col("real").mean().round(3).alias("precision"),
        )
        .sort("kind", "band")
    )
    recall = pl.DataFrame(
        {
            "kind": list(pairs),
            "true_pairs": [len(pairs[k]) for k in pairs],
            "found": [claims.filter((pl.col("kind") == k) & pl.col("real")).height for k in pairs],
        }
    )
    return table.join(recall, on="kind", how="left")


def reliability(statements: pl.DataFrame, world: Any, kind: str) -> tuple[pl.DataFrame, float]:
    """Statement rows of ``kind`` (each day counts) in 10 bins of confidence: rows, distinct
    subjects (independent outcomes), mean confidence, share true; and the expected calibration
    error over those rows. Rows of subjects whose outcome is unknown are left out."""
    truth = {s for s, _ in truth_pairs(world)[kind]}
    rows = (
        _settled(statements, world)
        .filter(pl.col("kind") == kind)
        .with_columns(
            pl.col("subject_id").is_in(list(truth)).alias("real"),
            (pl.col("confidence") * 10).floor().clip(0, 9).truediv(10).alias("bin"),
        )
    )
    table = (
        rows.group_by("bin")
        .agg(
            pl.len().alias("rows"),
            pl.col("subject_id").n_unique().alias("subjects"),
            pl.col("confidence").mean().round(3).alias("mean_confidence"),
            pl.col("real").mean().round(3).alias("share_true"),
        )
        .sort("bin")
    )
    if rows.is_empty():
        return table, 0.0
    ece = float(
        (table["rows"] * (table["mean_confidence"] - table["share_true"]).abs()).sum() / rows.height
    )
    return table, ece
