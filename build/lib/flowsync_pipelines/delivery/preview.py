"""What the demo would send: one digest per role, rendered for every channel into files.

The demo runs no Slack, SMTP or Teams server, so instead of sending it writes each channel's
payload beside the HTML digest and says, per channel, where it would go and how big it is. The
outbox folder and its Markdown digests stay as the pipeline wrote them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from flowsync_pipelines.delivery.compose import compose
from flowsync_pipelines.delivery.formats import encoded_size
from flowsync_pipelines.delivery.model import file_name
from flowsync_pipelines.delivery.roles import member_accounts as recipient_accounts_of
from flowsync_pipelines.delivery.roles import recipient_accounts
from flowsync_pipelines.digest import write_if_changed
from flowsync_pipelines.env import PREVIEW_TEAMS_WEBHOOK_ENV_FORMAT
from flowsync_pipelines.settings import DigestSubscription, FlowSyncConfig
from flowsync_pipelines.warehouse import query

CHANNELS = ["html", "markdown", "slack", "email", "teams"]


@dataclass(frozen=True)
class Preview:
    subscription_id: str
    role: str
    as_of: date
    html: Path
    channels: dict[str, str] = field(default_factory=dict)  # channel -> what would be sent


def preview_subscriptions(
    config: FlowSyncConfig, engineer: str | None = None
) -> list[DigestSubscription]:
    """One subscription per role on the first team (the engineer: ``engineer``, else its first
    member with an email), every channel, every day of the week."""
    team = config.teams[0]
    common = {
        "teams": [team.key],
        "channels": CHANNELS,
        "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "timezone": team.timezone,
        "slack_channel": f"#{team.key}-digests",
        "email_to": [f"{team.key}-leads@example.com"],
        "teams_webhook_env": PREVIEW_TEAMS_WEBHOOK_ENV_FORMAT.format(team=team.key.upper()),
    }
    subs = [
        DigestSubscription(id=f"preview/{team.key}/{role}", role=role, **common)
        for role in ("engineering_manager", "product_manager", "executive")
    ]
    member = next((m for m in team.members if m.email and m.email == engineer), None)
    member = member or next((m for m in team.members if m.email), None)
    if member is not None:
        subs.insert(
            0,
            DigestSubscription(
                id=f"preview/{team.key}/engineer",
                role="engineer",
                recipient=member.email,
                **common,
            ),
        )
    return subs


def write_previews(
    con: duckdb.DuckDBPyConnection,
    config: FlowSyncConfig,
    last_day: date,
    folder: Path,
    *,
    pseudonym_key: str,
    resolve,
) -> list[Preview]:
    """Render :func:`preview_subscriptions` for the morning after ``last_day`` into ``folder``."""
    teams = {t.key: t for t in config.teams}
    local_day = last_day + timedelta(days=1)
    # the engineer with most to act on that day shows what an engineer's digest holds
    rows = query(con, "role_digest_engineer", day=last_day)
    team = config.teams[0]
    busiest = max(
        (m for m in team.members if m.email),
        key=lambda m: _weight(rows, recipient_accounts_of(m, pseudonym_key)),
        default=None,
    )
    subs = preview_subscriptions(config, busiest.email if busiest else None)
    composed = compose(
        con,
        [(s, local_day) for s in subs],
        teams,
        resolve=resolve,
        html_base_url=folder.resolve().as_uri(),
        accounts=lambda s: recipient_accounts(s, teams, pseudonym_key),
    )
    by_sub: dict[str, dict[str, dict]] = {}
    for row in composed.rows:
        by_sub.setdefault(row["subscription_id"], {})[row["channel"]] = row["payload"]
    previews = []
    for sub in subs:
        payloads = by_sub.get(sub.id)
        if not payloads:
            continue
        # where compose's overflow links point
        base = (folder / file_name(sub.id, local_day, "html")).with_suffix("")
        files = {
            "html": (base.with_suffix(".html"), payloads["html"]["text"]),
            "markdown": (base.with_suffix(".md"), payloads["markdown"]["text"]),
            "slack": (base.with_suffix(".slack.json"), _json(payloads["slack"])),
            "teams": (base.with_suffix(".teams.json"), _json(payloads["teams"])),
            "email": (base.with_suffix(".email.txt"), payloads["email"]["text"]),
        }
        for path, text in files.values():
            write_if_changed(path, text)
        slack = payloads["slack"]
        channels = {
            "slack": f"{sub.slack_channel}: {len(slack['blocks'])} Block Kit blocks "
            f"({files['slack'][0]})",
            "email": f"{', '.join(sub.email_to)}: “{payloads['email']['subject']}”, plain text "
            f"({files['email'][0]}) and the HTML digest",
            "teams": f"the workflow in ${sub.teams_webhook_env}: Adaptive Card 1.5, "
            f"{encoded_size(payloads['teams']) / 1024:.1f} KB ({files['teams'][0]})",
            "markdown": str(files["markdown"][0]),
        }
        previews.append(
            Preview(
                subscription_id=sub.id,
                role=sub.role,
                as_of=last_day,
                html=files["html"][0],
                channels=channels,
            )
        )
    return previews


def _json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, indent=1) + "\n"


def _weight(rows: pl.DataFrame, accounts: set[str]) -> tuple[int, int]:
    """(items other than tickets, all items) of one person's rows."""
    mine = rows.filter(pl.col("person").is_in(sorted(accounts)))
    return mine.filter(pl.col("item_kind") != "ticket").height, mine.height
