"""Linear GraphQL nodes → signals, with the attribute names the Jira normaliser writes.

Issues are ``ticket``s keyed by their identifier (``MOB-12``). Each carries ``created`` (in its
first state), ``started`` (``indeterminate``), ``completed`` and ``canceled`` (``done``) and
``archived`` at the timestamps Linear records, and one ``transitioned`` event per state change
in its ``history`` (read with the issue, 50 entries: like a Jira changelog, it dates every move,
by whoever made it). An issue whose history was not read whole is dated by its timestamps alone:
when its current state disagrees with what the latest of them implies (started, then moved back
to Todo), a ``transitioned`` event at ``updatedAt`` records the current state, since the move
happened no later than that. Attributes are Jira's:
``status_category``, ``components`` (the team key, which is how a team's tickets are found),
``assignee`` (a pseudonym) and ``issue_type``.

Without a history, the state *name* at an earlier timestamp is not in the record; where the
current state is of another type, Linear's default name for the type stands in (``In Progress``,
``Done``, ``Canceled``), and a creation state is left empty. Comments are ``comment``s, cycles
``sprint``s and projects ``project``s (``started`` / ``completed`` / ``canceled``); a cycle that
has not started yet is reference data. Timestamps may be ISO-8601 or, in webhooks, epoch
milliseconds.

Webhook deliveries (kind ``webhook:issue`` / ``webhook:comment``, the whole body as payload) use
the same entities and actions: ``create`` → ``created`` / ``commented``; an ``update`` that
changed ``stateId`` → the milestone the poll would record (``started`` / ``completed`` /
``canceled`` at that timestamp) or else ``transitioned`` at ``updatedAt``, any other update →
``updated``; ``remove`` → ``deleted``. The delivery's ``actor`` is pseudonymised by user id.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import polars as pl

from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Attribution,
    Happening,
    Normalised,
    PolledKind,
    accounts,
    actor_columns,
    as_actor,
    bad_timestamp,
    checked,
    decode,
    finish,
    merge_accounts,
    missing,
    once_set,
    optional_timestamp,
    people_by,
    person_columns,
    polled,
    split_rejected,
    timestamps,
    utc,
    vault_rows,
)
from flowsync_pipelines.normalise.gitlab import first_line

S = pl.String
SOURCE = "linear"
# Workflow state type → status category, as Jira's statusCategory keys name them.
CATEGORIES = {
    "triage": "new",
    "backlog": "new",
    "unstarted": "new",
    "started": "indeterminate",
    "completed": "done",
    "canceled": "done",
}
USER = pl.Struct({"id": S, "name": S, "displayName": S, "email": S})
TEAM = pl.Struct({"id": S, "key": S, "name": S})
NO_KEYS = pl.lit([], pl.List(S))


def _user_kind(user: str) -> pl.Expr:
    return (
        pl.when(pl.col(user).struct.field("id").is_null())
        .then(pl.lit("unknown"))
        .otherwise(pl.lit("human"))
    )


# Adds ``<prefix>_actor`` / ``<prefix>_kind`` for a user struct column (see person_columns).
_person = partial(person_columns, field="id", kind=_user_kind, source=SOURCE)


def _vault(users: list[pl.Series], key: str) -> pl.DataFrame:
    return vault_rows(users, key, SOURCE, _user_kind, "id", "name", "email", USER)


# -- issues -------------------------------------------------------------------------------------
STATE = pl.Struct({"name": S, "type": S})
ISSUE = pl.Struct(
    {
        "id": S,
        "identifier": S,
        "title": S,
        "url": S,
        "priorityLabel": S,
        "estimate": S,
        "state": STATE,
        "assignee": USER,
        "creator": USER,
        "team": TEAM,
        "cycle": pl.Struct({"id": S, "number": S}),
        "project": pl.Struct({"id": S, "name": S}),
        "labels": pl.Struct({"nodes": pl.List(pl.Struct({"name": S}))}),
        "createdAt": S,
        "updatedAt": S,
        "startedAt": S,
        "completedAt": S,
        "canceledAt": S,
        "archivedAt": S,
        "history": pl.Struct(
            {
                "nodes": pl.List(
                    pl.Struct(
                        {
                            "createdAt": S,
                            "actor": pl.Struct({"id": S}),
                            "fromState": STATE,
                            "toState": STATE,
                        }
                    )
                ),
                "pageInfo": pl.Struct({"hasNextPage": S}),
            }
        ),
    }
)

# (action, timestamp field, state type it shows, default state name for that type)
MILESTONES = (
    ("started", "startedAt", "started", "In Progress"),
    ("completed", "completedAt", "completed", "Done"),
    ("canceled", "canceledAt", "canceled", "Canceled"),
)


ISSUE_PROBLEMS = (
    missing("issue", "identifier"),
    *timestamps(
        "createdAt",
        optional=(*(field for _, field, _, _ in MILESTONES), "archivedAt", "updatedAt"),
    ),
)


def issues(landing: pl.DataFrame, key: str) -> Normalised:
    issue, quarantine = checked(
        landing,
        ISSUE,
        ISSUE_PROBLEMS,
        derived=(
            {
                "state_name": pl.col("state").struct.field("name"),
                "state_type": pl.col("state").struct.field("type"),
            },
            {"current_category": pl.col("state_type").replace_strict(CATEGORIES, default=None)},
        ),
    )
    issue = _person(issue, "assignee", key=key, prefix="assignee")
    issue = _person(issue, "creator", key=key, prefix="creator")
    issue = issue.with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.lit("ticket").alias("entity_type"),
        pl.col("identifier").alias("entity_id"),
        pl.concat_list(pl.col("identifier")).alias("ticket_keys"),
        pl.col("url"),
        pl.lit(None, S).alias("actor"),
        pl.lit("unknown").alias("actor_kind"),
    )

    # An issue whose whole history was read (it pages at 50) is dated by it, like a Jira
    # changelog; otherwise by the timestamps the issue carries (below).
    history = pl.col("history").struct.field("nodes")
    issue = issue.with_columns(
        (
            history.is_not_null()
            & (
                pl.col("history").struct.field("pageInfo").struct.field("hasNextPage") != "true"
            ).fill_null(True)
        ).alias("has_history"),
        history.list.eval(pl.element().sort_by(pl.element().struct.field("createdAt")).first())
        .list.first()
        .struct.field("fromState")
        .alias("initial_state"),
    )
    initial = pl.coalesce(
        pl.col("initial_state").struct.field("name"),
        pl.when(pl.col("current_category") == "new").then(pl.col("state_name")),
    )
    created = issue.with_columns(
        pl.lit("created").alias("action"),
        utc(pl.col("createdAt")).alias("occurred_at"),
        initial.alias("state"),
        pl.coalesce(
            pl.col("initial_state").struct.field("type").replace_strict(CATEGORIES, default=None),
            pl.lit("new"),
        ).alias("category"),
        pl.col("creator_actor").alias("actor"),
        pl.col("creator_kind").alias("actor_kind"),
    )
    transitions, movers = _transitions(issue.filter(pl.col("has_history")), key)
    milestones = [
        issue.filter(pl.col(field).is_not_null()).with_columns(
            pl.lit(action).alias("action"),
            utc(pl.col(field)).alias("occurred_at"),
            pl.when(pl.col("state_type") == state_type)
            .then(pl.col("state_name"))
            .otherwise(pl.lit(default_name))
            .alias("state"),
            pl.lit(CATEGORIES[state_type]).alias("category"),
        )
        for action, field, state_type, default_name in MILESTONES
    ]
    status_events = pl.concat([created, *milestones], how="diagonal_relaxed")
    # The category the latest timestamp implies; where the current state says otherwise, the
    # issue moved there later (no later than its last update).
    implied = (
        status_events.sort("occurred_at", maintain_order=True)
        .group_by("landing_ref", maintain_order=True)
        .agg(pl.col("category").last().alias("implied"))
    )
    moved = (
        issue.join(implied, on="landing_ref", how="left")
        .filter(
            ~pl.col("has_history")
            & pl.col("current_category").is_not_null()
            & (pl.col("current_category") != pl.col("implied"))
            & pl.col("updatedAt").is_not_null()
        )
        .with_columns(
            pl.lit("transitioned").alias("action"),
            utc(pl.col("updatedAt")).alias("occurred_at"),
            pl.col("state_name").alias("state"),
            pl.col("current_category").alias("category"),
        )
    )
    archived = issue.filter(pl.col("archivedAt").is_not_null()).with_columns(
        pl.lit("archived").alias("action"),
        utc(pl.col("archivedAt")).alias("occurred_at"),
        pl.col("state_name").alias("state"),
        pl.col("current_category").alias("category"),
    )
    events = pl.concat(
        [status_events, transitions, moved, archived], how="diagonal_relaxed"
    ).with_columns(_issue_attributes(pl.col("labels").struct.field("nodes")))
    return Normalised(
        signals=finish(events),
        quarantine=quarantine,
        accounts=merge_accounts(
            pl.concat(
                [_vault([issue.get_column("assignee"), issue.get_column("creator")], key), movers]
            )
        ),
    )


def _transitions(issue: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One ``transitioned`` event per state change in an issue's history, by who made it."""
    change = pl.col("change")
    rows = (
        issue.select(
            pl.exclude("history", "actor", "actor_kind"),
            pl.col("history").struct.field("nodes").alias("change"),
        )
        .explode("change")
        .filter(change.struct.field("toState").is_not_null())
        .with_columns(
            pl.lit("transitioned").alias("action"),
            utc(change.struct.field("createdAt")).alias("occurred_at"),
            change.struct.field("toState").struct.field("name").alias("state"),
            change.struct.field("toState")
            .struct.field("type")
            .replace_strict(CATEGORIES, default=None)
            .alias("category"),
            change.struct.field("actor").struct.field("id").alias("mover_id"),
            pl.when(change.struct.field("actor").struct.field("id").is_not_null())
            .then(pl.lit("human"))
            .otherwise(pl.lit("unknown"))
            .alias("actor_kind"),
        )
    )
    rows = actor_columns(rows, source=SOURCE, handle="mover_id", kind="actor_kind", key=key)
    vault = accounts(rows, source=SOURCE, handle="mover_id", name=None, email=None)
    return rows.drop("change", "mover_id"), vault


def _issue_attributes(labels: pl.Expr) -> pl.Expr:
    """Jira's ticket attributes (``labels``: a list of ``{name}`` structs)."""
    return (
        pl.struct(
            pl.col("category").alias("status_category"),
            pl.concat_list(pl.col("team").struct.field("key")).alias("components"),
            pl.col("assignee_actor").alias("assignee"),
            pl.lit("issue").alias("issue_type"),
            pl.col("priorityLabel").alias("priority"),
            pl.col("estimate").cast(pl.Float64, strict=False),
            labels.list.eval(pl.element().struct.field("name")).alias("labels"),
            pl.col("cycle").struct.field("number").cast(pl.Int64, strict=False).alias("cycle"),
            pl.col("project").struct.field("name").alias("project"),
        )
        .struct.json_encode()
        .alias("attributes")
    )


# -- comments -----------------------------------------------------------------------------------
COMMENT = pl.Struct(
    {
        "id": S,
        "body": S,
        "createdAt": S,
        "url": S,
        "user": USER,
        "issue": pl.Struct({"id": S, "identifier": S}),
    }
)


def _people(*people: tuple[str, str]) -> Attribution:
    """Attribution to each ``(user struct column, prefix)``; vault rows of every person."""
    return people_by(_person, _vault, *people)


_COMMENT_ID = pl.col("issue_key") + "/comments/" + pl.col("id")


def _comment_columns() -> dict[str, pl.Expr]:
    """A comment's keys (its issue's and those it names), first line and id."""
    return {
        "ticket_keys": pl.concat_list(
            pl.col("issue_key"), pl.col("body").fill_null("").str.extract_all(TICKET_KEY)
        ).list.unique(maintain_order=True),
        "title": first_line(pl.col("body")),
        "url": pl.col("url"),
        "attributes": pl.struct(pl.col("id").alias("comment_id")).struct.json_encode(),
    }


def _comment_entity() -> list[pl.Expr]:
    """The ``comment`` entity ``<issue key>/comments/<id>``."""
    return [
        pl.lit(SOURCE).alias("source"),
        pl.lit("comment").alias("entity_type"),
        _COMMENT_ID.alias("entity_id"),
    ]


# ``commented`` at ``createdAt`` by the author (see :func:`_person` ``prefix="author"``).
_COMMENTED = Happening("commented", utc(pl.col("createdAt")), columns=as_actor("author"))


COMMENTS = PolledKind(
    dtype=COMMENT,
    derived=({"issue_key": pl.col("issue").struct.field("identifier")},),
    problems=(
        missing("comment"),
        pl.when(pl.col("issue_key").is_null()).then(
            pl.lit("comment names no issue (issue.identifier)")
        ),
        bad_timestamp("createdAt", "createdAt"),
    ),
    actor=_people(("user", "author")),
    entity_type="comment",
    entity_id=_COMMENT_ID,
    columns=_comment_columns(),
    happenings=(_COMMENTED,),
)
comments = polled(
    COMMENTS,
    SOURCE,
    "A comment on an issue: ``commented`` by its author (an integration's has no user).",
)


# -- cycles and projects ------------------------------------------------------------------------
CYCLE = pl.Struct(
    {
        "id": S,
        "number": S,
        "name": S,
        "startsAt": S,
        "endsAt": S,
        "completedAt": S,
        "progress": S,
        "url": S,
        # The workspace's urlKey makes the cycle's web address, when the query asks for it.
        "team": pl.Struct(
            {**{f.name: f.dtype for f in TEAM.fields}, "organization": pl.Struct({"urlKey": S})}
        ),
        "uncompletedIssuesUponClose": pl.Struct(
            {"nodes": pl.List(pl.Struct({"id": S, "identifier": S}))}
        ),
    }
)


_STARTS_AT = utc(pl.col("startsAt"))
CYCLES = PolledKind(
    dtype=CYCLE,
    problems=(
        missing("cycle"),
        *timestamps("startsAt", optional=("completedAt",)),
    ),
    references=(
        ~(pl.col("fetched_at") >= _STARTS_AT) & pl.col("completedAt").is_null(),
        "upcoming cycle: not started, nothing has happened yet",
    ),
    entity_type="sprint",
    # Jira's sprints are "sprint/<id>" too; Linear's ids are uuids, so the two never clash.
    entity_id="sprint/" + pl.col("id"),
    columns={
        "title": pl.coalesce("name", pl.lit("Cycle ") + pl.col("number")),
        "url": pl.coalesce(
            "url",
            "https://linear.app/"
            + pl.col("team").struct.field("organization").struct.field("urlKey")
            + "/team/"
            + pl.col("team").struct.field("key")
            + "/cycle/"
            + pl.col("number"),
        ),
        "actor_kind": pl.lit("unknown"),
        "ticket_keys": NO_KEYS,
        "attributes": pl.struct(
            pl.col("number").cast(pl.Int64, strict=False),
            pl.col("endsAt").alias("ends_at"),
            pl.col("progress").cast(pl.Float64, strict=False),
            pl.concat_list(pl.col("team").struct.field("key")).alias("components"),
            # Issues it held unfinished when it closed: Linear rolls them over to the next
            # cycle, and their own ``cycle`` then names only that one.
            pl.col("uncompletedIssuesUponClose")
            .struct.field("nodes")
            .list.eval(pl.element().struct.field("identifier"))
            .alias("unfinished_on_close"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening("started", _STARTS_AT, "active", when=pl.col("fetched_at") >= _STARTS_AT),
        once_set("completedAt", "completed", "closed"),
    ),
)
cycles = polled(
    CYCLES,
    SOURCE,
    "Cycles as sprints: ``started`` at ``startsAt`` once that has passed, ``completed``.",
)


PROJECT = pl.Struct(
    {
        "id": S,
        "name": S,
        "url": S,
        "state": S,
        "startDate": S,
        "targetDate": S,
        "startedAt": S,
        "completedAt": S,
        "canceledAt": S,
        "progress": S,
        "lead": USER,
        "teams": pl.Struct({"nodes": pl.List(TEAM)}),
    }
)


PROJECT_MILESTONES = (
    ("started", "startedAt"),
    ("completed", "completedAt"),
    ("canceled", "canceledAt"),
)
PROJECTS = PolledKind(
    dtype=PROJECT,
    problems=(
        missing("project"),
        *[optional_timestamp(field) for _, field in PROJECT_MILESTONES],
    ),
    actor=_people(("lead", "lead")),
    references=(
        pl.all_horizontal(pl.col(field).is_null() for _, field in PROJECT_MILESTONES),
        "planned project: not started, nothing has happened yet",
    ),
    entity_type="project",
    entity_id="project/" + pl.col("id"),
    columns={
        "title": pl.col("name"),
        "actor_kind": pl.lit("unknown"),
        "ticket_keys": NO_KEYS,
        "attributes": pl.struct(
            pl.col("state").alias("project_state"),
            pl.col("progress").cast(pl.Float64, strict=False),
            pl.col("startDate").alias("start_date"),
            pl.col("targetDate").alias("target_date"),
            pl.col("lead_actor").alias("lead"),
            pl.col("teams")
            .struct.field("nodes")
            .list.eval(pl.element().struct.field("key"))
            .alias("components"),
        ).struct.json_encode(),
    },
    happenings=tuple(once_set(field, action, action) for action, field in PROJECT_MILESTONES),
)
projects = polled(
    PROJECTS,
    SOURCE,
    "Projects: ``started``, ``completed``, ``canceled``; a planned one is reference data.",
)


# -- webhooks -----------------------------------------------------------------------------------
ACTOR = pl.Struct({"id": S, "type": S, "name": S, "email": S})
HOOK_ISSUE = pl.Struct(
    {
        **{field.name: field.dtype for field in ISSUE.fields},
        "number": S,
        "labels": pl.List(pl.Struct({"name": S})),  # a list in webhooks, a connection in GraphQL
    }
)
ISSUE_KEY_IN_URL = r"/issue/([A-Z][A-Z0-9]*-[0-9]+)"
ACTIONS = ("create", "update", "remove")


def _deliveries(landing: pl.DataFrame, data: pl.Struct) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per delivery: ``data``'s fields beside the envelope's ``action``, ``by`` (the
    actor), ``acted_at`` (when the action happened), ``hook_url`` and ``updatedFrom`` (JSON
    text: the previous values of the fields that changed)."""
    envelope = pl.Struct(
        {
            "action": S,
            "createdAt": S,
            "webhookTimestamp": S,
            "url": S,
            "actor": ACTOR,
            "updatedFrom": S,
            "data": data,
        }
    )
    decoded, undecodable = decode(landing, envelope)
    hook = (
        decoded.unnest("doc")
        .rename({"createdAt": "acted_at", "url": "hook_url", "actor": "by"})
        .unnest("data")
        .with_columns(pl.coalesce("acted_at", "webhookTimestamp").alias("removed_at"))
    )
    return hook, undecodable


def _changed(field: str) -> pl.Expr:
    return pl.col("updatedFrom").fill_null("").str.contains(f'"{field}"\\s*:')


def _bad_action() -> pl.Expr:
    return pl.when(~pl.col("action").is_in(ACTIONS).fill_null(False)).then(
        pl.lit("action is not create, update or remove: ") + pl.col("action").fill_null("null")
    )


def _bad_time(column: str, label: pl.Expr) -> pl.Expr:
    raw = pl.col(column)
    return (
        pl.when(raw.is_null())
        .then(label + " is missing")
        .when(utc(raw).is_null())
        .then(label + " is not a timestamp: " + raw)
    )


def _by(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """``actor`` / ``actor_kind`` of the delivery's actor: a user is human, an integration or
    OAuth app a bot, no actor (a deleted user, Linear itself) unknown."""
    frame = frame.with_columns(
        pl.col("by").struct.field("id").alias("by_id"),
        pl.col("by").struct.field("name").alias("by_name"),
        pl.col("by").struct.field("email").alias("by_email"),
        pl.when(pl.col("by").struct.field("id").is_null())
        .then(pl.lit("unknown"))
        .when(pl.col("by").struct.field("type").fill_null("user") == "user")
        .then(pl.lit("human"))
        .otherwise(pl.lit("bot"))
        .alias("actor_kind"),
    )
    return actor_columns(
        frame.drop("actor", strict=False), source=SOURCE, handle="by_id", kind="actor_kind", key=key
    )


def _by_vault(frame: pl.DataFrame) -> pl.DataFrame:
    return accounts(frame, source=SOURCE, handle="by_id", name="by_name", email="by_email")


def issue_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``Issue`` deliveries: one ``ticket`` event each, by the delivery's actor.

    ``create`` → ``created`` at ``createdAt``; ``update`` with ``stateId`` in ``updatedFrom`` →
    ``started`` / ``completed`` / ``canceled`` when that timestamp was set by the same update
    (the poll's events), else ``transitioned`` at ``updatedAt``; any other ``update`` →
    ``updated`` at ``updatedAt``; ``remove`` → ``deleted`` at the delivery's ``createdAt``.
    """
    hook, undecodable = _deliveries(landing, HOOK_ISSUE)
    action = pl.col("action")
    milestone = pl.coalesce(
        *[
            pl.when(
                (action == "update")
                & _changed("stateId")
                & _changed(field)
                & pl.col(field).is_not_null()
                & (pl.col("state").struct.field("type") == state_type)
            ).then(pl.lit(verb))
            for verb, field, state_type, _ in MILESTONES
        ]
    )
    hook = hook.with_columns(
        pl.coalesce(
            "identifier",
            pl.col("team").struct.field("key") + "-" + pl.col("number"),
            pl.coalesce("url", "hook_url").str.extract(ISSUE_KEY_IN_URL),
        ).alias("identifier"),
        pl.when(action == "create")
        .then(pl.lit("created"))
        .when(action == "remove")
        .then(pl.lit("deleted"))
        .when((action == "update") & _changed("stateId"))
        .then(pl.coalesce(milestone, pl.lit("transitioned")))
        .when(action == "update")
        .then(pl.lit("updated"))
        .alias("verb"),
    )
    # When each verb happened: the field the poll reads for it, or the delivery's own time.
    at = {"created": "createdAt", "deleted": "removed_at"} | {v: f for v, f, _, _ in MILESTONES}
    at |= {"transitioned": "updatedAt", "updated": "updatedAt"}
    labels = {verb: f"data.{field}" for verb, field in at.items()}
    hook = hook.with_columns(
        pl.coalesce(
            *[pl.when(pl.col("verb") == verb).then(pl.col(field)) for verb, field in at.items()]
        ).alias("at"),
        pl.col("verb")
        .replace_strict(labels | {"deleted": "createdAt (or webhookTimestamp)"}, default=None)
        .alias("at_label"),
    )
    hook, quarantine = split_rejected(
        hook,
        undecodable,
        _bad_action(),
        missing("issue", "identifier"),
        _bad_time("at", pl.col("at_label")),
    )
    hook = _by(_person(hook, "assignee", key=key, prefix="assignee"), key)
    events = hook.with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.lit("ticket").alias("entity_type"),
        pl.col("identifier").alias("entity_id"),
        pl.concat_list(pl.col("identifier")).alias("ticket_keys"),
        pl.coalesce("url", "hook_url").alias("url"),
        pl.col("verb").alias("action"),
        utc(pl.col("at")).alias("occurred_at"),
        pl.when(pl.col("verb") == "deleted")
        .then(pl.lit("deleted"))
        .otherwise(pl.col("state").struct.field("name"))
        .alias("state"),
        pl.col("state")
        .struct.field("type")
        .replace_strict(CATEGORIES, default=None)
        .alias("category"),
    ).with_columns(_issue_attributes(pl.col("labels")))
    return Normalised(
        signals=finish(events),
        quarantine=quarantine,
        accounts=merge_accounts(
            pl.concat([_vault([hook.get_column("assignee")], key), _by_vault(hook)])
        ),
    )


def comment_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``Comment`` deliveries on issues: the polled ``comment`` entity and its events.

    ``create`` / ``update`` → ``commented`` at the comment's ``createdAt`` by its author (an edit
    re-delivers the same event); ``remove`` → ``deleted`` at the delivery's ``createdAt`` by the
    delivery's actor. The issue key comes from ``data.issue.identifier``, else the comment URL.
    """
    hook, undecodable = _deliveries(landing, COMMENT)
    hook = hook.with_columns(
        pl.coalesce("url", "hook_url").alias("url"),
        pl.coalesce(
            pl.col("issue").struct.field("identifier"),
            pl.coalesce("url", "hook_url").str.extract(ISSUE_KEY_IN_URL),
        ).alias("issue_key"),
    )
    removed = pl.col("action") == "remove"
    hook, quarantine = split_rejected(
        hook,
        undecodable,
        _bad_action(),
        missing("comment"),
        pl.when(pl.col("issue_key").is_null()).then(
            pl.lit("comment names no issue (data.issue.identifier or its url)")
        ),
        pl.when(removed)
        .then(_bad_time("removed_at", pl.lit("createdAt (or webhookTimestamp)")))
        .otherwise(_bad_time("createdAt", pl.lit("data.createdAt"))),
    )
    commented = _person(hook.filter(~removed), "user", key=key, prefix="author")
    deleted = _by(hook.filter(removed), key)
    events = pl.concat(
        [
            _COMMENTED.rows(commented.with_columns(*_comment_entity(), **_comment_columns())),
            deleted.with_columns(
                *_comment_entity(),
                pl.lit("deleted").alias("action"),
                utc(pl.col("removed_at")).alias("occurred_at"),
                **_comment_columns(),
            ),
        ],
        how="diagonal_relaxed",
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine,
        accounts=merge_accounts(
            pl.concat([_vault([commented.get_column("user")], key), _by_vault(deleted)])
        ),
    )


WEBHOOKS: dict[str, Callable[[pl.DataFrame, str], Normalised]] = {
    "webhook:issue": issue_webhooks,
    "webhook:comment": comment_webhooks,
}
