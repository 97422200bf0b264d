"""``team_digests``: one digest per subscription and day, rendered into the outbox."""

import hashlib
from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl

from flowsync_pipelines.digest import (
    Digest,
    em_sections,
    em_statements,
    render_markdown,
    render_slack,
    write_if_changed,
)
from flowsync_pipelines.partitions import complete_days_end
from flowsync_pipelines.statements import read as read_statements
from flowsync_pipelines.warehouse import query
from resources.stores import (
    AuditResource,
    MetadataResource,
    OrganisationResource,
    OutboxResource,
    WarehouseResource,
)

RENDERERS = {"markdown": ("md", render_markdown), "slack": ("slack.json", render_slack)}


def digest_rendered_item(
    subject: str,
    text: str,
    *,
    as_of: date,
    team: str,
    role: str,
    channel: str,
    statements: list[str],
) -> tuple[str, str, dict[str, Any]]:
    """AUDIT HOOK: the ``digest_rendered`` entry of one rendered file (subject: its path under
    the outbox). ``sha256`` is of the file's bytes, so ``flowsync verify FILE`` can check it;
    ``statements`` are the ids of the statements it was rendered from."""
    return (
        "digest_rendered",
        subject,
        {
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "as_of_date": as_of.isoformat(),
            "team": team,
            "role": role,
            "channel": channel,
            "statements": sorted(statements),
        },
    )


def team_digests_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="team_digests",
        group_name="digests",
        kinds={"jinja", "slack", "markdown"},
        deps=["em_team_wip", "statements"],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=(
            "Daily digests per team and role: cited, confidence-banded, in the outbox; one per "
            "complete day (today's once it has ended)."
        ),
    )
    def team_digests(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        organisation: OrganisationResource,
        outbox: OutboxResource,
        metadata: MetadataResource,
        audit: AuditResource,
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        # A digest is about a whole day: a day still under way is never rendered as one.
        end = max(window.start, complete_days_end(window.end))
        config = organisation.config()
        teams = {t.key: t for t in config.teams}
        params = {"window_start": window.start, "window_end": end}
        with warehouse.connect(read_only=True) as con:
            counts = query(con, "em_digest_counts", **params)
            items = query(con, "em_digest_items", **params)
            claims = read_statements(con, window.start.date(), window.end.date())
        store = metadata.store()
        try:
            names = store.resolve(items.get_column("actor").drop_nulls().unique().to_list())
        finally:
            store.dispose()

        def name_of(actor: str | None) -> str:
            return names.get(actor, "someone outside the team") if actor else "unassigned"

        written = unchanged = 0
        rendered: list[tuple[str, str, dict[str, Any]]] = []
        preview = ""
        day = window.start
        while day < end:
            as_of = day.date()
            pairs = [(s, k) for s in config.digests for k in s.teams]
            for subscription, key in pairs:
                team = teams.get(key)
                if team is None or subscription.role != "engineering_manager":
                    continue
                row = counts.filter((pl.col("team") == team.key) & (pl.col("as_of_date") == as_of))
                if row.is_empty():
                    continue
                todays = claims.filter(
                    (pl.col("team") == team.key) & (pl.col("as_of_date") == as_of)
                )
                digest = Digest(
                    team_key=team.key,
                    team_name=team.name,
                    role=subscription.role,
                    as_of=as_of,
                    statements=em_statements(
                        row.row(0, named=True),
                        items.filter(
                            (pl.col("team") == team.key) & (pl.col("as_of_date") == as_of)
                        ),
                        name_of=name_of,
                    ),
                    sections=em_sections(todays, min_band=subscription.min_band),
                )
                for channel in subscription.channels:
                    if channel not in RENDERERS:
                        continue
                    suffix, render = RENDERERS[channel]
                    text = render(digest)
                    path = (
                        outbox.path()
                        / as_of.isoformat()
                        / f"{team.key}.{subscription.role}.{suffix}"
                    )
                    if write_if_changed(path, text):
                        written += 1
                    else:
                        unchanged += 1
                    rendered.append(
                        digest_rendered_item(
                            path.relative_to(outbox.path()).as_posix(),
                            text,
                            as_of=as_of,
                            team=team.key,
                            role=subscription.role,
                            channel=channel,
                            statements=todays.get_column("statement_id").to_list(),
                        )
                    )
                    if channel == "markdown":
                        preview = text
            day += timedelta(days=1)
        with audit.open() as log:  # a re-render with the same bytes appends nothing
            audited = len(log.append_many(rendered, only_changed=True))
        return dg.MaterializeResult(
            metadata={
                "files_written": written,
                "files_unchanged": unchanged,
                "incomplete_days_skipped": (window.end - end).days,
                "audit_entries_appended": audited,
                "outbox": dg.MetadataValue.path(str(outbox.path())),
                "latest_digest": dg.MetadataValue.md(preview or "_no digest in this window_"),
            }
        )

    return team_digests
