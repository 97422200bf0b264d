"""What the linkers need besides signals: who is who, which team owns what, ticket hierarchy.

People: an account pseudonym (``signals.actor``) belongs to a person. When the ``identities``
table exists (the identity-resolution asset wrote it) its ``person`` is used; otherwise the
members listed in ``flowsync.yaml`` tie their handles together, and any other account is a person
of its own. Teams own repositories and ticket containers (Jira components, Linear teams) as
configured.

Ticket hierarchy (parent epic, sprints): read from ticket events' attributes where the
normaliser carries them (``parent``/``sprints``; Linear's ``project``/``cycle``); for Jira issues,
whose events do not carry them yet, from the newest landed issue records (``fields.parent.key``
and the sprint field), which are the same facts one layer down.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import FlowSyncConfig
from flowsync_pipelines.sources.registry import member_handle_fields
from flowsync_pipelines.warehouse import query

# Handles of a configured member, by the ``source`` their pseudonyms are keyed with.
MEMBER_SOURCES = member_handle_fields()
# Jira Cloud's default field id for Sprint.
JIRA_SPRINT_FIELD = "customfield_10020"

S = pl.String


@dataclass(frozen=True)
class GraphInputs:
    """Frames registered as ``g_*`` tables before the linking SQL runs."""

    actor_person: pl.DataFrame  # actor, person, confidence, method
    team_member: pl.DataFrame  # team, person
    team_repo: pl.DataFrame  # team, repository
    team_scope: pl.DataFrame  # team, source, scope
    ticket_parent: pl.DataFrame  # ticket_key, parent_key, event_id
    ticket_sprint: pl.DataFrame  # ticket_key, sprint_id, event_id

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the ``g_*`` input tables of this connection (temporary, replaced each time)."""
        for name, frame in (
            ("g_actor_person", self.actor_person),
            ("g_team_member", self.team_member),
            ("g_team_repo", self.team_repo),
            ("g_team_scope", self.team_scope),
            ("g_ticket_parent", self.ticket_parent),
            ("g_ticket_sprint", self.ticket_sprint),
        ):
            con.register("_graph_input", frame.to_arrow())
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _graph_input")
            finally:
                con.unregister("_graph_input")


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $name", {"name": name}
    ).fetchone()
    return bool(found and found[0])


def configured_accounts(config: FlowSyncConfig, key: str) -> pl.DataFrame:
    """One row per configured member account: ``team``, ``member`` (index), ``actor``."""
    rows = []
    index = 0
    for team in config.teams:
        for member in team.members:
            handles = [(s, getattr(member, s)) for s in MEMBER_SOURCES]
            if member.email:
                handles.append(("email", member.email))
            for source, handle in handles:
                if handle:
                    rows.append(
                        {"team": team.key, "member": index, "actor": pseudonym(key, source, handle)}
                    )
            index += 1
    return pl.DataFrame(rows, schema={"team": S, "member": pl.Int64, "actor": S})


def people(
    con: duckdb.DuckDBPyConnection, config: FlowSyncConfig, key: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(actor_person, team_member)``: accounts to persons, and configured team memberships."""
    accounts = configured_accounts(config, key)
    if _table_exists(con, "identities"):
        resolved = con.execute(
            "SELECT pseudonym AS actor, person, confidence, method FROM identities"
        ).pl()
    else:
        resolved = pl.DataFrame(
            schema={"actor": S, "person": S, "confidence": pl.Float64, "method": S}
        )
    # A configured member is one person: the resolved person of their accounts when identity
    # resolution ran, else their smallest account pseudonym.
    member_person = (
        accounts.join(resolved.select("actor", "person"), on="actor", how="left")
        .group_by("member")
        .agg(pl.coalesce(pl.col("person").drop_nulls().min(), pl.col("actor").min()).alias("p"))
    )
    configured = (
        accounts.join(member_person, on="member")
        .select(
            "actor",
            pl.col("p").alias("person"),
            pl.lit(0.99).alias("confidence"),
            pl.lit("configured").alias("method"),
        )
        .unique("actor", keep="first")
    )
    actor_person = (
        pl.concat([resolved, configured])
        .unique("actor", keep="first", maintain_order=True)
        .sort("actor")
    )
    team_member = (
        accounts.join(member_person, on="member")
        .select("team", pl.col("p").alias("person"))
        .unique()
        .sort("team", "person")
    )
    return actor_person, team_member


def team_places(config: FlowSyncConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(team_repo, team_scope)`` as configured."""
    repos = [{"team": t.key, "repository": r} for t in config.teams for r in t.repos]
    scopes = [
        {"team": t.key, "source": "jira", "scope": c}
        for t in config.teams
        for c in t.jira_components
    ] + [
        {"team": t.key, "source": "linear", "scope": c}
        for t in config.teams
        for c in t.linear_teams
    ]
    return (
        pl.DataFrame(repos, schema={"team": S, "repository": S}),
        pl.DataFrame(scopes, schema={"team": S, "source": S, "scope": S}),
    )


def ticket_hierarchy(
    con: duckdb.DuckDBPyConnection, jira_issues: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(ticket_parent, ticket_sprint)``: parent node ids and sprint entity ids per ticket.

    Args:
        con: the warehouse (its ``signals`` table).
        jira_issues: the newest landed Jira issue records (``LANDING`` rows): the parent and
            sprints of Jira issues whose events do not carry them (today's Jira normaliser).
    """
    schema = {"ticket_key": S, "parent_key": S, "sprints": pl.List(S), "event_id": S}
    frame = query(con, "graph_ticket_hierarchy").cast(schema)  # type: ignore[arg-type]
    if jira_issues is not None and not jira_issues.is_empty():
        jira = _hierarchy_from_jira(con, jira_issues).cast(schema)  # type: ignore[arg-type]
        frame = pl.concat([frame, jira.join(frame, on="ticket_key", how="anti")])
    parent = frame.filter(pl.col("parent_key").is_not_null()).select(
        "ticket_key", "parent_key", "event_id"
    )
    sprint = (
        frame.select("ticket_key", pl.col("sprints").alias("sprint_id"), "event_id")
        .explode("sprint_id")
        .filter(pl.col("sprint_id").is_not_null())
        .with_columns(
            # Sprint entities are "sprint/<id>" in signals; Jira records give bare ids.
            pl.when(pl.col("sprint_id").str.starts_with("sprint/"))
            .then(pl.col("sprint_id"))
            .otherwise("sprint/" + pl.col("sprint_id"))
            .alias("sprint_id")
        )
        .unique()
    )
    return parent.sort("ticket_key"), sprint.sort("ticket_key", "sprint_id")


def _hierarchy_from_jira(con: duckdb.DuckDBPyConnection, issues: pl.DataFrame) -> pl.DataFrame:
    """Parent keys and sprint ids from Jira issue payloads, with each issue's latest event id."""
    con.register("_jira_issues", issues.select("payload").to_arrow())
    try:
        return query(con, "graph_ticket_hierarchy_jira", sprint_field=JIRA_SPRINT_FIELD)
    finally:
        con.unregister("_jira_issues")


def load_inputs(
    con: duckdb.DuckDBPyConnection,
    config: FlowSyncConfig,
    key: str,
    *,
    jira_issues: pl.DataFrame | None = None,
) -> GraphInputs:
    """Every input of the linkers, from the warehouse, the configuration and the Jira records.

    Args:
        con: the warehouse.
        config: ``flowsync.yaml`` (teams, members, repositories, ticket scopes).
        key: the pseudonymisation key (to recognise configured members' accounts).
        jira_issues: newest landed Jira issue records, for the ticket hierarchy fallback.
    """
    actor_person, team_member = people(con, config, key)
    team_repo, team_scope = team_places(config)
    ticket_parent, ticket_sprint = ticket_hierarchy(con, jira_issues)
    return GraphInputs(
        actor_person=actor_person,
        team_member=team_member,
        team_repo=team_repo,
        team_scope=team_scope,
        ticket_parent=ticket_parent,
        ticket_sprint=ticket_sprint,
    )


def jira_source_names(config: FlowSyncConfig) -> list[str]:
    """Names of the configured Jira sources (their landed records carry that source name)."""
    return [s.name for s in config.sources if s.type == "jira"]


# Landed kinds that hold a whole Jira issue: polled, and issue webhook deliveries.
JIRA_ISSUE_KINDS = ("issues", "webhook:jira_issue_created", "webhook:jira_issue_updated")


def jira_issue_records(store: LandingStore, config: FlowSyncConfig) -> pl.DataFrame:
    """The newest landed records holding Jira issues, of every configured Jira source."""
    frames = [
        store.latest(source=name, kind=kind)
        for name in jira_source_names(config)
        for kind in JIRA_ISSUE_KINDS
    ]
    return pl.concat(frames) if frames else schema.empty(schema.LANDING)
