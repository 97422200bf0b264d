"""Render and queue digests for 1,000 teams × 4 roles, every channel, into the outbox.

    .venv/bin/python bench/digest_delivery.py [--teams 1000] [--statements 20]

Target (issue 13): render and queue in < 60 s on 2 cores. Each subscription's digest (a realistic
engineering-manager digest: ``--statements`` risks in two groups plus six numbers) is rendered for
Slack (Block Kit within limits), email (plain + HTML), Teams (Adaptive Card ≤ 28 KB), Markdown and
HTML, then enqueued in a SQLite metadata store in a temporary directory. A second enqueue of the
same rows measures the idempotent path (nothing changes). Delivery itself is network-bound and not
timed here.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from flowsync_pipelines.delivery.compose import outbox_rows
from flowsync_pipelines.delivery.model import from_digest
from flowsync_pipelines.delivery.outbox import Outbox
from flowsync_pipelines.digest import Citation, Digest, Group, Section, Statement
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.settings import DigestSubscription

ROLES = ("engineer", "engineering_manager", "product_manager", "executive")
CHANNELS = ["slack", "email", "teams", "markdown", "html"]
DAY = date(2026, 3, 30)


def digest(team: str, role: str, n: int) -> Digest:
    def line(i: int, kind: str, confidence: float) -> Statement:
        return Statement(
            kind=kind,
            text=f"acme/{team}#{i} has waited {i % 9 + 1} days for a first review",
            confidence=confidence,
            citations=[
                Citation(label=f"{team}#{i}", url=f"https://github.com/acme/{team}/pull/{i}")
            ],
        )

    groups = [
        Group(
            "Pull requests waiting for a first review", [line(i, "w", 0.92) for i in range(n // 2)]
        ),
        Group(
            "Pull requests at risk of stalling", [line(i, "s", 0.66) for i in range(n // 2, n)], 2
        ),
    ]
    return Digest(
        team_key=team,
        team_name=f"Team {team}",
        role=role,
        as_of=DAY - timedelta(days=1),
        statements=[line(1000 + i, "n", 1.0) for i in range(6)],
        sections=[Section("Risks", groups)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--statements", type=int, default=20)
    args = parser.parse_args()
    subs = [
        DigestSubscription(
            id=f"t{t:04d}/{role}",
            teams=[f"t{t:04d}"],
            role=role,
            channels=CHANNELS,
            slack_channel=f"#t{t:04d}",
            email_to=[f"lead@t{t:04d}.example"],
            teams_webhook_env="TEAMS_URL",
        )
        for t in range(args.teams)
        for role in ROLES
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = MetadataStore(f"sqlite:///{Path(tmp) / 'metadata.sqlite'}")
        outbox = Outbox(store)
        started = time.perf_counter()
        rows = []
        for sub in subs:
            model = from_digest(
                digest(sub.teams[0], sub.role, args.statements),
                key=f"{sub.id}/{DAY}",
                html_url=f"https://flowsync.example/digests/{sub.id}.html",
            )
            rows += outbox_rows(sub, DAY, model)
        rendered = time.perf_counter()
        inserted, _ = outbox.enqueue(rows)
        queued = time.perf_counter()
        again, _ = outbox.enqueue(rows)
        requeued = time.perf_counter()
        store.dispose()
    print(f"subscriptions      : {len(subs):,} ({args.teams:,} teams × {len(ROLES)} roles)")
    print(f"outbox rows        : {inserted:,} queued ({len(CHANNELS)} channels each)")
    print(f"render             : {rendered - started:6.1f} s")
    print(f"enqueue            : {queued - rendered:6.1f} s")
    print(f"render + queue     : {queued - started:6.1f} s  (target < 60 s)")
    print(f"enqueue again      : {requeued - queued:6.1f} s  ({again} rows changed)")


if __name__ == "__main__":
    main()
