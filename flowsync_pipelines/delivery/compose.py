"""Render due subscriptions into outbox rows: warehouse → role digest → model → channel payloads.

Only the engineering-manager digest exists on this branch; other roles are reported as not
renderable (never sent with content their role may not see).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

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

RENDERED_ROLES = frozenset({"engineering_manager"})


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
    subscription: DigestSubscription, day: date, digests: list[Digest], *, html_url: str
) -> DigestModel:
    """One model for a subscription's teams (their sections, titled by team when several)."""
    models = [from_digest(d, key=f"{subscription.id}/{day}", html_url=html_url) for d in digests]
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
    )


def compose(
    con: duckdb.DuckDBPyConnection,
    due: Iterable[tuple[DigestSubscription, date]],
    teams: dict[str, TeamConfig],
    *,
    resolve: Callable[[list[str]], dict[str, str]],
    html_base_url: str,
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

        for subscription, day in wanted:
            digests = []
            for key in subscription.teams:
                row = counts.filter((pl.col("team") == key) & (pl.col("as_of_date") == as_of))
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
                            items.filter((pl.col("team") == key) & (pl.col("as_of_date") == as_of)),
                            name_of=name_of,
                        ),
                        sections=em_sections(
                            claims.filter(
                                (pl.col("team") == key) & (pl.col("as_of_date") == as_of)
                            ),
                            min_band=subscription.min_band,
                        ),
                    )
                )
            if not digests:
                result.skipped.append(f"{subscription.id}: no data for {as_of} yet")
                continue
            # Overflowing channels link the HTML digest, which exists when it is a channel.
            url = ""
            if "html" in subscription.channels:
                url = f"{html_base_url.rstrip('/')}/{file_name(subscription.id, day, 'html')}"
            model = merge(subscription, day, digests, html_url=url)
            result.rows.extend(outbox_rows(subscription, day, model))
    return result
