"""Render due subscriptions into outbox rows: warehouse → role digest → model → channel payloads.

Every role renders: the engineering manager's digest from its counts and statements (with its
cycle-time trends), the engineer's, product manager's and executive's from the role views
(:mod:`.roles`). An engineer digest needs a member as recipient; others are reported skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from flowsync_pipelines.delivery import roles
from flowsync_pipelines.delivery.formats import render
from flowsync_pipelines.delivery.model import (
    DigestModel,
    Section,
    digest_id,
    file_name,
    from_digest,
)
from flowsync_pipelines.delivery.schedule import data_day
from flowsync_pipelines.digest import Digest, em_sections, em_statements
from flowsync_pipelines.settings import DigestSubscription, TeamConfig
from flowsync_pipelines.statements import read as read_statements
from flowsync_pipelines.warehouse import query

RENDERED_ROLES = frozenset({"engineering_manager", "engineer", "product_manager", "executive"})


@dataclass
class Composed:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why a due subscription made no row


def outbox_rows(subscription: DigestSubscription, day: date, model: DigestModel) -> list[dict]:
    """One row per channel of the subscription, its payload rendered for that channel."""
    return [
        {
            "digest_id": digest_id(subscription.id, day, channel),
            "subscription_id": subscription.id,
            "day": day,
            "channel": channel,
            "payload": render(channel, model),
        }
        for channel in subscription.channels
    ]


def merge(
    subscription: DigestSubscription,
    day: date,
    digests: list[Digest],
    *,
    html_url: str,
    trends: dict[str, list] | None = None,
) -> DigestModel:
    """One model for a subscription's teams (their sections, titled by team when several)."""
    trends = trends or {}
    models = [
        from_digest(
            d, key=f"{subscription.id}/{day}", html_url=html_url, trends=trends.get(d.team_key, [])
        )
        for d in digests
    ]
    if len(models) == 1:
        return models[0]
    sections = [
        Section(title=f"{d.team_name} · {s.title}", items=s.items, more=s.more)
        for d, m in zip(digests, models, strict=True)
        for s in m.sections
    ]
    role = subscription.role.replace("_", " ")
    return DigestModel(
        digest_key=f"{subscription.id}/{day}",
        title=f"{', '.join(d.team_name for d in digests)} — {role} digest, {digests[0].as_of}",
        as_of=digests[0].as_of,
        sections=sections,
        html_url=html_url,
        trends=[t for m in models for t in m.trends][:6],
    )


def compose(
    con: duckdb.DuckDBPyConnection,
    due: Iterable[tuple[DigestSubscription, date]],
    teams: dict[str, TeamConfig],
    *,
    resolve: Callable[[list[str]], dict[str, str]],
    html_base_url: str,
    accounts: Callable[[DigestSubscription], set[str]] | None = None,
) -> Composed:
    """Outbox rows for each due ``(subscription, local day)``, from the warehouse's data of the
    last complete day before that local morning (:func:`schedule.data_day`)."""
    result = Composed()
    by_data_day: dict[date, list[tuple[DigestSubscription, date]]] = defaultdict(list)
    for subscription, day in due:
        if subscription.role not in RENDERED_ROLES:
            result.skipped.append(
                f"{subscription.id}: no {subscription.role} digest is rendered yet"
            )
            continue
        if subscription.role == "engineer" and not (accounts and accounts(subscription)):
            result.skipped.append(
                f"{subscription.id}: an engineer digest needs a team member as recipient"
            )
            continue
        by_data_day[data_day(subscription, day)].append((subscription, day))
    for as_of, wanted in sorted(by_data_day.items()):
        start = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
        params = {"window_start": start, "window_end": start + timedelta(days=1)}
        counts = query(con, "em_digest_counts", **params)
        items = query(con, "em_digest_items", **params)
        claims = read_statements(con, as_of, as_of + timedelta(days=1))
        names = resolve(items.get_column("actor").drop_nulls().unique().to_list())

        def name_of(actor: str | None, names: dict[str, str] = names) -> str:
            return names.get(actor, "someone outside the team") if actor else "unassigned"

        views = _RoleViews(con, as_of)
        # split by team once: each subscription then looks its teams up instead of filtering
        day_counts = by_team(counts.filter(pl.col("as_of_date") == as_of))
        day_items = by_team(items.filter(pl.col("as_of_date") == as_of))
        day_claims = by_team(claims.filter(pl.col("as_of_date") == as_of))
        for subscription, day in wanted:
            url = ""
            if "html" in subscription.channels:
                url = f"{html_base_url.rstrip('/')}/{file_name(subscription.id, day, 'html')}"
            if subscription.role != "engineering_manager":
                model = _role_model(subscription, day, as_of, views, teams, url, accounts)
                if model is None:
                    result.skipped.append(f"{subscription.id}: no data for {as_of} yet")
                else:
                    result.rows.extend(outbox_rows(subscription, day, model))
                continue
            digests = []
            for key in subscription.teams:
                row = day_counts.get(key, counts.clear())
                if row.is_empty():
                    continue
                team = teams[key]
                digests.append(
                    Digest(
                        team_key=key,
                        team_name=team.name,
                        role=subscription.role,
                        as_of=as_of,
                        statements=em_statements(
                            row.row(0, named=True),
                            day_items.get(key, items.clear()),
                            name_of=name_of,
                        ),
                        sections=em_sections(
                            day_claims.get(key, claims.clear()),
                            min_band=subscription.min_band,
                        ),
                    )
                )
            if not digests:
                result.skipped.append(f"{subscription.id}: no data for {as_of} yet")
                continue
            # Overflowing channels link the HTML digest, which exists when it is a channel.
            trends = {
                k: roles.trends_of(views.of_team("trends", k), role=subscription.role)
                for k in subscription.teams
            }
            model = roles.with_top_three(
                merge(subscription, day, digests, html_url=url, trends=trends)
            )
            result.rows.extend(outbox_rows(subscription, day, model))
    return result


def by_team(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """A frame's rows split by their ``team`` (one pass, however many teams)."""
    return {k[0]: part for k, part in frame.partition_by("team", as_dict=True).items()}


class _RoleViews:
    """The role-view rows of one data day, read once for every subscription of that day and
    split by team once."""

    def __init__(self, con: duckdb.DuckDBPyConnection, as_of: date) -> None:
        self.con, self.as_of = con, as_of
        self._cache: dict[str, pl.DataFrame] = {}
        self._teams: dict[str, dict[str, pl.DataFrame]] = {}

    def _get(self, name: str, **params: Any) -> pl.DataFrame:
        if name not in self._cache:
            self._cache[name] = query(self.con, name, day=self.as_of, **params)
        return self._cache[name]

    def of_team(self, view: str, team: str) -> pl.DataFrame:
        """One team's rows of ``view`` (a property below: trends, engineer, pm, …)."""
        frame: pl.DataFrame = getattr(self, view)
        if view not in self._teams:
            self._teams[view] = by_team(frame)
        return self._teams[view].get(team, frame.clear())

    @property
    def trends(self) -> pl.DataFrame:
        return self._get("role_digest_trends")

    @property
    def engineer(self) -> pl.DataFrame:
        return self._get("role_digest_engineer")

    @property
    def pm(self) -> pl.DataFrame:
        return self._get("role_digest_pm")

    @property
    def progress(self) -> pl.DataFrame:
        return self._get("role_digest_progress", since=self.as_of - timedelta(days=7))

    @property
    def investment(self) -> pl.DataFrame:
        return self._get("role_digest_investment")


def _role_model(
    subscription: DigestSubscription,
    day: date,
    as_of: date,
    views: _RoleViews,
    teams: dict[str, TeamConfig],
    html_url: str,
    accounts: Callable[[DigestSubscription], set[str]] | None,
) -> DigestModel | None:
    """The engineer's, product manager's or executive's digest; None when the day has no data."""
    previous = roles.previous_data_day(subscription, day)
    entries: list[roles.Entry] = []
    trends = []
    have_data = False
    for key in subscription.teams:
        name = teams[key].name
        weekly = views.of_team("trends", key)
        have_data = have_data or weekly.filter(pl.col("as_of_date") == as_of).height > 0
        if subscription.role == "engineer":
            mine = accounts(subscription) if accounts else set()
            rows = views.of_team("engineer", key).filter(pl.col("person").is_in(sorted(mine)))
            entries += roles.engineer_entries(
                rows, previous=previous, min_band=subscription.min_band
            )
        elif subscription.role == "product_manager":
            entries += roles.pm_entries(
                views.of_team("pm", key),
                views.of_team("progress", key),
                day=as_of,
                previous=previous,
                min_band=subscription.min_band,
            )
        else:
            entries += roles.exec_entries(weekly, views.of_team("investment", key), team_name=name)
            trends += [
                t.__class__(
                    title=f"{name} · {t.title}" if len(subscription.teams) > 1 else t.title,
                    values=t.values,
                    unit=t.unit,
                    note=t.note,
                )
                for t in roles.trends_of(weekly, role="executive")
            ]
    if not have_data:
        return None
    role = subscription.role.replace("_", " ")
    names = ", ".join(teams[k].name for k in subscription.teams)
    return roles.model_for(
        key=f"{subscription.id}/{day}",
        title=f"{names} — {role} digest, {as_of.isoformat()}",
        as_of=as_of,
        entries=entries,
        trends=trends,
        html_url=html_url,
    )
