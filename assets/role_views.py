"""Role views in DuckDB, SQL in ``sql/duckdb/``: what each role needs, per team and day."""

import time
from collections.abc import Container

import dagster as dg
import polars as pl
import polars.selectors as cs

from flowsync_pipelines import role_views as rv
from flowsync_pipelines.gdpr import erased_identifiers
from flowsync_pipelines.partitions import complete_days_end
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import FlowSyncConfig
from flowsync_pipelines.sources.registry import member_handle_fields
from flowsync_pipelines.warehouse import insert_rows, run_sql
from resources.stores import (
    MetadataResource,
    OrganisationResource,
    PrivacyResource,
    WarehouseResource,
)

# The member field holding each source's handle: its pseudonyms are keyed by that source.
MEMBER_HANDLES = {field: field for field in member_handle_fields()}


def team_tables(
    config: FlowSyncConfig, key: str, *, erased: Container[str] = frozenset()
) -> tuple[pl.DataFrame, pl.DataFrame, list[dict]]:
    """Team membership and ticket scopes as pseudonyms, plus vault rows naming the members.

    Members whose email or a handle was erased (``flowsync gdpr forget``) are skipped, so a
    stale ``flowsync.yaml`` entry cannot bring an erased person back into the vault.
    """
    members, scopes, vault = [], [], []
    for team in config.teams:
        for member in team.members:
            handles = [member.email, *(getattr(member, f) for f in MEMBER_HANDLES.values())]
            if any(h and h in erased for h in handles):
                continue
            for source, field in MEMBER_HANDLES.items():
                handle = getattr(member, field)
                if not handle:
                    continue
                actor = pseudonym(key, source, handle)
                members.append({"team": team.key, "source": source, "actor": actor})
                vault.append(
                    {
                        "pseudonym": actor,
                        "source": source,
                        "handle": handle,
                        "display_name": member.name,
                        "email": member.email,
                        "actor_kind": "human",
                    }
                )
        scopes += [{"team": team.key, "source": "jira", "scope": c} for c in team.jira_components]
        scopes += [{"team": team.key, "source": "linear", "scope": t} for t in team.linear_teams]
    member_frame = pl.DataFrame(
        members, schema={"team": pl.String, "source": pl.String, "actor": pl.String}
    )
    scope_frame = pl.DataFrame(
        scopes, schema={"team": pl.String, "source": pl.String, "scope": pl.String}
    )
    return member_frame.unique(), scope_frame.unique(), vault


def em_team_wip_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="em_team_wip",
        group_name="role_views",
        kinds={"duckdb", "sql"},
        deps=["signals"],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=(
            "Engineering manager view: each team's open, waiting, stale and merged pull requests "
            "and tickets in progress at the end of each complete day, with the items and their "
            "evidence (today gets its row once it has ended)."
        ),
    )
    def em_team_wip(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        organisation: OrganisationResource,
        privacy: PrivacyResource,
        metadata: MetadataResource,
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        # "At the end of the day" is only known once the day has ended: today waits.
        complete_end = complete_days_end(window.end)
        store = metadata.store()
        try:
            erased = erased_identifiers(store)
        finally:
            store.dispose()
        members, scopes, vault = team_tables(
            organisation.config(), privacy.pseudonym_key, erased=erased
        )
        params = {"window_start": window.start, "window_end": max(window.start, complete_end)}
        with warehouse.connect() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM team_members")
            con.execute("DELETE FROM team_ticket_scopes")
            insert_rows(con, "team_members", members)
            insert_rows(con, "team_ticket_scopes", scopes)
            run_sql(con, "delete_window", **params)
            run_sql(con, "em_team_wip_items", **params)
            run_sql(con, "em_team_wip", **params)
            con.execute("COMMIT")
            counts = con.execute(
                "SELECT * FROM em_team_wip WHERE as_of_date >= CAST($s AS DATE) "
                "AND as_of_date < CAST($e AS DATE) ORDER BY as_of_date DESC, team",
                {"s": params["window_start"], "e": params["window_end"]},
            ).pl()
        store = metadata.store()
        try:
            store.upsert_accounts(vault)
        finally:
            store.dispose()
        latest = counts.head(len(organisation.config().teams) or 1)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": counts.height,
                "teams": members.get_column("team").n_unique(),
                # Days of the window still under way, left for a run after they end.
                "incomplete_days_skipped": (window.end - complete_end).days,
                "latest_day": dg.MetadataValue.json(
                    latest.with_columns(pl.col("as_of_date").cast(pl.String)).to_dicts()
                ),
            }
        )

    return em_team_wip


_VIEW_DESCRIPTIONS = {
    "dora": "DORA per team and service, daily and rolling 28 / 84 days, with performance levels; "
    "change failure rate expected from the calibrated incident links, with its interval.",
    "em_cycle_time": "Engineering manager: each change's cycle (first commit to production) split "
    "into coding, pickup, review and deploy hours that add up to the whole.",
    "em_attention": "Engineering manager: the day's blocked items and risks, one per statement.",
    "em_team_flow": "Engineering manager: work in progress, time to first review, review time and "
    "cycle time (p50 / p90, parts), blocked items and risks per team and day.",
    "engineer_items": "Engineer: per person (pseudonym) their open pull requests, reviews waiting "
    "on them, failing CI, tickets with linked work, and statements about their work.",
    "pm_progress": "Product manager: sprint / cycle and epic progress with scope change "
    "(added, removed, done). No persons.",
    "pm_items": "Product manager: what shipped, risks to delivery, design feedback and its "
    "tickets. No persons.",
    "exec_team_weekly": "Executive: per team, the 7 days ending each day: throughput, "
    "deployments, incidents and restore times, investment by category. No persons.",
    "exec_investment": "Executive: investment mix (features / defects / maintenance / unplanned) "
    "by epic over 28 days. No persons.",
}


# Each check of ``role_views_checks.sql`` (by its name there) → the asset check that reports it:
# (check name, asset, what it promises). All block: a broken view is not read.
_CHECKS = {
    "cycle_time_parts_add_up": (
        "cycle_time_parts_add_up",
        "em_cycle_time",
        "coding + pickup + review + deploy = cycle, every part >= 0",
    ),
    "no_person_in_pm_and_exec_views": (
        "no_person_in_pm_and_exec_views",
        "pm_items",
        "No pseudonym in any product-manager, executive or DORA row",
    ),
    "engineer_items_one_row_per_item": (
        "one_row_per_item",
        "engineer_items",
        "One row per team, day, person, item kind and item (the table's key)",
    ),
}


def role_views_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """One asset per role view, computed together (they share their prepared inputs)."""
    specs = [
        dg.AssetSpec(
            view,
            group_name="role_views",
            kinds={"duckdb", "sql"},
            deps=["signals", "context_graph", "statements", "em_team_wip"],
            description=_VIEW_DESCRIPTIONS[view],
        )
        for view in rv.VIEWS
    ]

    @dg.multi_asset(
        name="role_views",
        specs=specs,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(check, asset=asset, blocking=True)
            for check, asset, _ in _CHECKS.values()
        ],
    )
    def role_views(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        clock = time.perf_counter()
        with warehouse.connect() as con:
            counts = rv.build(con, start, end)
            elapsed = time.perf_counter() - clock
            failing = rv.check_failures(con, start, end)
            previews = {
                view: con.execute(
                    f"SELECT * FROM {view} WHERE as_of_date = (SELECT max(as_of_date) FROM {view} "
                    "WHERE as_of_date < $e) LIMIT 10",
                    {"e": end},
                ).pl()
                for view in rv.VIEWS
            }
        for view in rv.VIEWS:
            preview = previews[view].with_columns(cs.temporal().cast(pl.String))
            yield dg.MaterializeResult(
                asset_key=view,
                metadata={
                    "dagster/row_count": counts[view],
                    "seconds_for_all_views": round(elapsed, 3),
                    "preview": dg.MetadataValue.md(_markdown(preview)),
                },
            )
        for name, (check, asset, description) in _CHECKS.items():
            yield dg.AssetCheckResult(
                check_name=check,
                asset_key=asset,
                passed=failing[name] == 0,
                description=description,
                metadata={"failing": failing[name]},
            )

    return role_views


def _markdown(frame: pl.DataFrame) -> str:
    """A small Markdown table of ``frame`` for the Dagster UI."""
    if frame.is_empty():
        return "_no rows for the latest day_"
    cells = [[("" if v is None else str(v))[:40] for v in row] for row in frame.iter_rows()]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
