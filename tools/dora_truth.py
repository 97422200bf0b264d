"""Ground truth for DORA: what the simulator's world really did, per team, in the terms the
`dora` role view uses. Read by tests and ``bench/role_views.py`` only; the pipeline never sees it.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any


def team_of_repo(world: Any) -> dict[str, str]:
    return {r: t.key for t in world.organisation.teams for r in t.repos}


def prod_deploys(world: Any) -> list:
    """Successful production deployments that succeeded inside the simulated period."""
    return [
        d
        for d in world.timeline.deployments
        if d.environment == "production" and d.succeeded_at and d.succeeded_at < world.end
    ]


def change_hours(world: Any) -> dict[str, tuple[str, float]]:
    """Per pull request id (``repo#n``, ``repo!n`` on GitLab): its team and lead time in hours,
    its first commit to the first successful production deployment that shipped it."""
    team_of = team_of_repo(world)
    pulls = {p.key: p for p in world.timeline.pulls}
    first_deploy: dict[str, datetime] = {}
    for dep in sorted(prod_deploys(world), key=lambda d: d.succeeded_at):
        for key in dep.pr_keys:
            first_deploy.setdefault(key, dep.succeeded_at)
    out = {}
    for key, deployed in first_deploy.items():
        pr = pulls[key]
        commits = [c.committed_at for push in pr.pushes for c in push.commits]
        hours = (deployed - min([*commits, pr.created_at])).total_seconds() / 3600
        out[f"{pr.repo}{'!' if pr.host == 'gitlab' else '#'}{pr.number}"] = (
            team_of[pr.repo],
            hours,
        )
    return out


def restored_hours(world: Any) -> dict[str, list[float]]:
    """Per team, for each incident a deployment caused and someone resolved in the period:
    first seen to resolved, in hours."""
    team_of = team_of_repo(world)
    deps = {d.key: d for d in world.timeline.deployments}
    out: dict[str, list[float]] = {}
    for s in world.timeline.sentry_issues:
        if s.cause_deployment and s.resolved_at and s.resolved_at < world.end:
            team = team_of[deps[s.cause_deployment].repo]
            out.setdefault(team, []).append((s.resolved_at - s.first_seen).total_seconds() / 3600)
    return out


def fixes(world: Any) -> dict[str, set[str]]:
    """Per team, the deployments that fixed a caused, resolved incident: the simulator's rule is
    the next production deployment of the same repository created more than an hour after the
    incident was first seen."""
    team_of = team_of_repo(world)
    deps = {d.key: d for d in world.timeline.deployments}
    prod = sorted(prod_deploys(world), key=lambda d: d.created_at)
    out: dict[str, set[str]] = {}
    for s in world.timeline.sentry_issues:
        if not (s.cause_deployment and s.resolved_at and s.resolved_at < world.end):
            continue
        repo = deps[s.cause_deployment].repo
        fix = next(
            d for d in prod if d.repo == repo and d.created_at > s.first_seen + timedelta(hours=1)
        )
        out.setdefault(team_of[repo], set()).add(fix.key)
    return out


def _quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between order statistics, as DuckDB's ``quantile_cont``."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def per_team(world: Any) -> dict[str, dict[str, Any]]:
    """The whole period's DORA figures per team, from the world's ground truth."""
    team_of = team_of_repo(world)
    caused = {s.cause_deployment for s in world.timeline.sentry_issues if s.cause_deployment}
    changes = change_hours(world)
    restored = restored_hours(world)
    fixed = fixes(world)
    out = {}
    for team in sorted(set(team_of.values())):
        deploys = [d for d in prod_deploys(world) if team_of[d.repo] == team]
        lead = [h for t, h in changes.values() if t == team]
        failed = sum(d.key in caused for d in deploys)
        out[team] = {
            "deployments": len(deploys),
            "changes": len(lead),
            "lead_time_p50_hours": _quantile(lead, 0.5),
            "lead_time_p90_hours": _quantile(lead, 0.9),
            "change_failures": failed,
            "change_failure_rate": failed / len(deploys) if deploys else None,
            "incidents_restored": len(restored.get(team, [])),
            "recovery_time_p50_hours": _quantile(restored.get(team, []), 0.5),
            "rework_deployments": len(fixed.get(team, ())),
        }
    return out
