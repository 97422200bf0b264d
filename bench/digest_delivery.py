"""Render and queue digests for 1,000 teams × 4 roles through the real role digest code.

    .venv/bin/python bench/digest_delivery.py [--teams 1000] [--days 7] [--home DIR]

Target (issue 13): render and queue in < 60 s on 2 cores.

The warehouse is generated, not invented: a short demo (``--days`` simulated days, or the demo
already run in ``--home``) fills the role views, statements and engineering-manager tables, and a
copy of that DuckDB file repeats every team-scoped row for ``--teams`` teams (the demo's teams,
each cloned under new keys, with its members). Then, timed, :func:`delivery.compose.compose`
renders one subscription per team and role — engineer (the team's member with most to act on),
engineering manager, product manager, executive — for Slack (Block Kit within limits), email
(plain + HTML), Teams (Adaptive Card ≤ 28 KB), Markdown and HTML, exactly as the
``digest_delivery`` job does, and the rows are enqueued in a SQLite metadata store. A second
enqueue of the same rows measures the idempotent path (nothing changes). Delivery itself is
network-bound and not timed here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb

from flowsync_pipelines.delivery.compose import compose
from flowsync_pipelines.delivery.outbox import Outbox
from flowsync_pipelines.delivery.roles import member_accounts, recipient_accounts
from flowsync_pipelines.demo import ensure_secrets, run_demo
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.settings import (
    WEEKDAYS,
    DigestSubscription,
    Paths,
    TeamConfig,
    load_config,
)

ROLES = ("engineer", "engineering_manager", "product_manager", "executive")
CHANNELS = ["slack", "email", "teams", "markdown", "html"]


def clone_teams(con: duckdb.DuckDBPyConnection, copies: int) -> None:
    """Every table with a ``team`` column, its rows repeated under ``<team>-<copy>`` keys."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'team' "
            "AND table_schema = 'main' AND table_name IN (SELECT table_name FROM "
            "information_schema.tables WHERE table_type = 'BASE TABLE')"
        ).fetchall()
    ]
    for table in tables:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * REPLACE "
            f"(team || '-' || lpad(CAST(c AS VARCHAR), 3, '0') AS team) "
            f"FROM {table}, range({copies}) AS r(c) WHERE team IS NOT NULL"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7, help="simulated days without --home")
    parser.add_argument("--home", type=Path, help="a FlowSync home the demo already ran in")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flowsync-digest-bench-"))
    try:
        home = args.home
        if home is None:
            home = work / "home"
            print(f"generating the warehouse: a {args.days}-day demo in {home}")
            run_demo(home, days=args.days, instance=dg.DagsterInstance.ephemeral(), progress=print)
        ensure_secrets(home)
        key = os.environ["FLOWSYNC_PSEUDONYM_KEY"]
        config = load_config(home / "flowsync.yaml")
        copies = -(-args.teams // len(config.teams))
        db = work / "bench.duckdb"
        shutil.copyfile(Paths(home=home).duckdb, db)
        con = duckdb.connect(str(db))
        clone_teams(con, copies)
        last = con.execute("SELECT max(as_of_date) FROM exec_team_weekly").fetchone()[0]
        busiest = dict(
            con.execute(
                "SELECT team, list(person ORDER BY n DESC, person) FROM (SELECT team, person, "
                "count(*) AS n FROM engineer_items WHERE as_of_date = $d GROUP BY ALL) GROUP BY "
                "team",
                {"d": last},
            ).fetchall()
        )
        teams: dict[str, TeamConfig] = {}
        subs: list[DigestSubscription] = []
        for n in range(args.teams):
            base = config.teams[n % len(config.teams)]
            team = base.model_copy(
                update={
                    "key": f"{base.key}-{n // len(config.teams):03d}",
                    "name": f"{base.name} {n}",
                }
            )
            teams[team.key] = team
            ranked = busiest.get(team.key, [])
            engineer = min(
                (m for m in team.members if m.email),
                key=lambda m: min(
                    (ranked.index(p) for p in member_accounts(m, key) if p in ranked),
                    default=len(ranked),
                ),
            )
            for role in ROLES:
                subs.append(
                    DigestSubscription(
                        id=f"{team.key}/{role}",
                        role=role,
                        teams=[team.key],
                        recipient=engineer.email if role == "engineer" else None,
                        channels=CHANNELS,
                        timezone=team.timezone,
                        weekdays=list(WEEKDAYS),
                        slack_channel=f"#{team.key}",
                        email_to=[f"lead@{team.key}.example"],
                        teams_webhook_env="TEAMS_URL",
                    )
                )
        local_day = last + timedelta(days=1)
        vault = MetadataStore(f"sqlite:///{Paths(home=home).metadata}")
        store = MetadataStore(f"sqlite:///{work / 'metadata.sqlite'}")
        outbox = Outbox(store)
        started = time.perf_counter()
        composed = compose(
            con,
            [(s, local_day) for s in subs],
            teams,
            resolve=vault.resolve,
            html_base_url="https://flowsync.example/digests",
            accounts=lambda s: recipient_accounts(s, teams, key),
        )
        rendered = time.perf_counter()
        inserted, _ = outbox.enqueue(composed.rows)
        queued = time.perf_counter()
        again, _ = outbox.enqueue(composed.rows)
        requeued = time.perf_counter()
        con.close()
        vault.dispose()
        store.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rendered_subs = {r["subscription_id"] for r in composed.rows}
    quiet = sum(
        1
        for r in composed.rows
        if r["channel"] == "markdown" and "Nothing needs you" in r["payload"]["text"]
    )
    print(f"subscriptions      : {len(subs):,} ({args.teams:,} teams × {len(ROLES)} roles)")
    print(
        f"rendered           : {len(rendered_subs):,} "
        f"(skipped {len(composed.skipped)}; quiet {quiet})"
    )
    print(f"outbox rows        : {inserted:,} queued ({len(CHANNELS)} channels each)")
    print(f"data day           : {last}")
    print(f"render             : {rendered - started:6.1f} s")
    print(f"enqueue            : {queued - rendered:6.1f} s")
    print(f"render + queue     : {queued - started:6.1f} s  (target < 60 s)")
    print(f"enqueue again      : {requeued - queued:6.1f} s  ({again} rows changed)")
    for reason in composed.skipped[:5]:
        print(f"  skipped: {reason}")


if __name__ == "__main__":
    main()
