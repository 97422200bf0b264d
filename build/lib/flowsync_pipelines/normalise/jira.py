"""Jira Cloud issues (with changelog) → signals.

An issue yields ``created`` and one ``transitioned`` event per status change in its changelog.
Jira writes offsets without a colon (``+0200``) and may send ``null`` ``from``/``to`` in
changelog items; both are handled. Status categories (``new`` / ``indeterminate`` / ``done``)
are learned from the issues themselves: every issue shows its current status with its category,
so the batch carries the mapping for every status in use.

Webhook deliveries (kind ``webhook:<event>``, the whole body as payload) use the same vocabulary,
so a delivery and a poll of the same change meet under one event id where their times agree:
``jira:issue_created`` → ``created``, ``jira:issue_updated`` → one ``transitioned`` per status
item of its ``changelog`` (at the delivery's epoch-millisecond ``timestamp``),
``jira:issue_deleted`` → ``deleted``, ``comment_created`` / ``comment_updated`` →
``commented`` and ``comment_deleted`` → ``deleted`` on the ``comment``
``<issue key>/comments/<id>``, and ``issuelink_created`` / ``issuelink_deleted`` → ``linked`` /
``unlinked`` of the ``ticket_link`` ``jira-issue-id:<source issue id>/links/<link id>``.

Where a delivery names an issue only by id (links always; comments without an ``issue``
object), the entity starts ``jira-issue-id:<id>``; every Jira ticket event records its issue's
``issue_id``, and ``sql/duckdb/jira_issue_links.sql`` resolves ids to keys from those events,
whichever batch they came in. A time that falls back to another field (``timestamp`` that is
not epoch milliseconds) says so in the attribute ``time_source``.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Normalised,
    PolledKind,
    WebhookEvent,
    actor_columns,
    bad_timestamp,
    checked,
    decode,
    finish,
    first_reason,
    missing,
    once_set,
    polled,
    quarantine_rows,
    reference_rows,
    text,
    utc,
    vault_rows,
    webhook_events,
)
from flowsync_pipelines.normalise.gitlab import first_line

S = pl.String
USER = pl.Struct(
    {"accountId": S, "displayName": S, "emailAddress": S, "accountType": S, "active": S}
)
HISTORY = pl.Struct(
    {
        "id": S,
        "author": USER,
        "created": S,
        "items": pl.List(pl.Struct({"field": S, "fromString": S, "toString": S})),
    }
)
ISSUE = pl.Struct(
    {
        "id": S,
        "key": S,
        "self": S,
        "fields": pl.Struct(
            {
                "summary": S,
                "status": pl.Struct({"name": S, "statusCategory": pl.Struct({"key": S})}),
                "issuetype": pl.Struct({"name": S}),
                "priority": pl.Struct({"name": S}),
                "assignee": USER,
                "reporter": USER,
                "created": S,
                "updated": S,
                "resolutiondate": S,
                "components": pl.List(pl.Struct({"name": S})),
                "parent": pl.Struct({"key": S}),
                "labels": pl.List(S),
                "duedate": S,
            }
        ),
        "changelog": pl.Struct({"histories": pl.List(HISTORY)}),
    }
)

DEFAULT_CATEGORIES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}


def _actor_kind(user: str) -> pl.Expr:
    return (
        pl.when(pl.col(user).is_null() | pl.col(user).struct.field("accountId").is_null())
        .then(pl.lit("unknown"))
        .when(pl.col(user).struct.field("accountType").is_in(["app", "customer"]))
        .then(pl.lit("bot"))
        .otherwise(pl.lit("human"))
    )


def _prepare_issues(issue: pl.DataFrame, key: str) -> pl.DataFrame:
    """Add site, status, components, the assignee pseudonym and the reporter as the actor."""
    issue = issue.with_columns(
        pl.col("self").str.extract(r"^(https?://[^/]+)").alias("site"),
        pl.col("status").struct.field("name").alias("status_name"),
        pl.col("components").list.eval(pl.element().struct.field("name")).alias("component_names"),
        pl.col("assignee").alias("assignee_struct"),
        pl.col("assignee").struct.field("accountId").alias("assignee_id"),
        _actor_kind("assignee").alias("assignee_kind"),
        pl.col("reporter").struct.field("accountId").alias("reporter_id"),
        _actor_kind("reporter").alias("actor_kind"),
    )
    issue = (
        actor_columns(issue, source="jira", handle="assignee_id", kind="assignee_kind", key=key)
        .drop("assignee")
        .rename({"actor": "assignee"})
    )
    return actor_columns(issue, source="jira", handle="reporter_id", kind="actor_kind", key=key)


def _ticket_columns() -> list[pl.Expr]:
    return [
        pl.lit("jira").alias("source"),
        pl.lit("ticket").alias("entity_type"),
        pl.col("key").alias("entity_id"),
        pl.concat_list(pl.col("key")).alias("ticket_keys"),
        pl.col("summary").alias("title"),
        (pl.col("site") + "/browse/" + pl.col("key")).alias("url"),
    ]


def _with_attributes(events: pl.DataFrame, categories: pl.DataFrame) -> pl.DataFrame:
    """Join each event's ``state`` to its status category and encode the ticket attributes.

    ``issue_id`` is Jira's stable id of the issue (its key changes when it moves project): what
    link deliveries name issues by. Webhook events add ``time_source``, the field their time
    came from.
    """
    events = events.join(categories, left_on="state", right_on="status", how="left")
    optional = [pl.col(c) for c in ("from_status", "time_source") if c in events.columns]
    # An epic's due date (``duedate``, a date): what epic_at_risk measures the epic against.
    due = pl.col("duedate") if "duedate" in events.columns else pl.lit(None, dtype=pl.String)
    return events.with_columns(
        pl.struct(
            pl.col("category").alias("status_category"),
            *optional,
            pl.col("component_names").alias("components"),
            pl.col("assignee"),
            pl.col("issuetype").struct.field("name").alias("issue_type"),
            pl.col("id").alias("issue_id"),
            due.alias("due_date"),
        )
        .struct.json_encode()
        .alias("attributes")
    )


def _user_actor(frame: pl.DataFrame, user: str, key: str) -> pl.DataFrame:
    """Replace ``actor`` / ``actor_kind`` with the account in struct column ``user``."""
    frame = frame.drop("actor", strict=False).with_columns(
        pl.col(user).struct.field("accountId").alias("actor_id"),
        _actor_kind(user).alias("actor_kind"),
    )
    return actor_columns(frame, source="jira", handle="actor_id", kind="actor_kind", key=key)


def issues(landing: pl.DataFrame, key: str) -> Normalised:
    issue, quarantine = checked(
        landing,
        ISSUE,
        (missing("issue", "key"), bad_timestamp("created", "fields.created")),
        prepare=lambda rows, _landing: rows.unnest("fields"),
    )
    issue = _prepare_issues(issue, key)

    categories = _status_categories(issue)
    transitions = (
        issue.select(
            "key",
            "site",
            "summary",
            "fetched_at",
            "landing_ref",
            "component_names",
            "assignee",
            "issuetype",
            "duedate",
            pl.col("changelog").struct.field("histories").alias("history"),
        )
        .explode("history")
        .filter(pl.col("history").is_not_null())
        .with_columns(
            pl.col("history").struct.field("created").alias("changed_at"),
            pl.col("history").struct.field("author").alias("author"),
            pl.col("history").struct.field("items").alias("item"),
        )
        .explode("item")
        .filter(pl.col("item").struct.field("field") == "status")
        .with_columns(
            pl.col("item").struct.field("fromString").alias("from_status"),
            pl.col("item").struct.field("toString").alias("status_name"),
            pl.col("author").struct.field("accountId").alias("author_id"),
            _actor_kind("author").alias("actor_kind"),
        )
    )
    transitions = actor_columns(
        transitions, source="jira", handle="author_id", kind="actor_kind", key=key
    )
    # The status an issue was created in: what its first transition left, else its current one.
    first_status = (
        transitions.sort("changed_at")
        .group_by("key", maintain_order=True)
        .first()
        .select("key", pl.col("from_status").alias("initial_status"))
    )
    created = issue.join(first_status, on="key", how="left").with_columns(
        *_ticket_columns(),
        pl.lit("created").alias("action"),
        utc(pl.col("created")).alias("occurred_at"),
        pl.coalesce("initial_status", "status_name").alias("state"),
    )
    moved = transitions.with_columns(
        *_ticket_columns(),
        pl.lit("transitioned").alias("action"),
        utc(pl.col("changed_at")).alias("occurred_at"),
        pl.col("status_name").alias("state"),
    )
    events = _with_attributes(pl.concat([created, moved], how="diagonal_relaxed"), categories)
    return Normalised(
        signals=finish(events),
        quarantine=quarantine,
        accounts=_vault_rows(
            [
                issue.get_column("assignee_struct"),
                issue.get_column("reporter"),
                transitions.get_column("author"),
            ],
            key,
        ),
    )


def _vault_rows(users: list[pl.Series], key: str) -> pl.DataFrame:
    return vault_rows(users, key, "jira", _actor_kind, "accountId", "displayName", "emailAddress")


def _status_categories(issue: pl.DataFrame) -> pl.DataFrame:
    seen = issue.select(
        pl.col("status").struct.field("name").alias("status"),
        pl.col("status").struct.field("statusCategory").struct.field("key").alias("category"),
    ).drop_nulls()
    defaults = pl.DataFrame(
        {"status": list(DEFAULT_CATEGORIES), "category": list(DEFAULT_CATEGORIES.values())}
    )
    return pl.concat([seen, defaults]).unique("status", keep="first")


SPRINT = pl.Struct(
    text(
        "id",
        "self",
        "state",
        "name",
        "startDate",
        "endDate",
        "completeDate",
        "goal",
        "originBoardId",
    )
)


SPRINTS = PolledKind(
    dtype=SPRINT,
    problems=(missing("sprint"),),
    references=(
        pl.col("startDate").is_null() & pl.col("completeDate").is_null(),
        "future sprint: not started, nothing has happened yet",
    ),
    entity_type="sprint",
    entity_id="sprint/" + pl.col("id"),
    columns={
        "title": pl.col("name"),
        "actor_kind": pl.lit("unknown"),
        "ticket_keys": pl.lit([], pl.List(S)),
        "url": pl.col("self"),
        "attributes": pl.struct("goal", "endDate", "originBoardId").struct.json_encode(),
    },
    happenings=(
        once_set("startDate", "started", "active"),
        once_set("completeDate", "completed", "closed"),
    ),
)
sprints = polled(
    SPRINTS,
    "jira",
    "Agile sprints: ``started`` and ``completed`` (a future sprint has neither yet).",
)


def epics(landing: pl.DataFrame, key: str) -> Normalised:
    """Agile epic records are reference data with no time of their own: no events.

    The epic itself arrives as an issue of type Epic (with its created and transition events);
    this record only confirms its name and ``done`` flag.
    """
    epic, quarantine = checked(
        landing,
        pl.Struct({"id": S, "key": S}),
        (
            pl.when(pl.col("key").is_null() & pl.col("id").is_null()).then(
                pl.lit("epic has no id or key")
            ),
        ),
    )
    return Normalised(
        references=reference_rows(
            epic, "epic reference record; the epic's events come from its issue"
        ),
        signals=schema.empty(schema.SIGNALS),
        quarantine=quarantine,
        accounts=schema_empty_accounts(),
    )


def schema_empty_accounts() -> pl.DataFrame:
    return schema.empty(schema.ACCOUNTS)


# -- webhooks -----------------------------------------------------------------------------------
ITEM = pl.Struct({"field": S, "fromString": S, "toString": S})
COMMENT = pl.Struct({"id": S, "self": S, "body": S, "author": USER, "created": S, "updated": S})
WEBHOOK = pl.Struct(
    {
        "timestamp": S,
        "user": USER,
        "issue": ISSUE,
        "changelog": pl.Struct({"items": pl.List(ITEM)}),
        "comment": COMMENT,
    }
)
NO_STATUS_CHANGE = "issue update changing no status: no event (the poll carries its fields)"
# ``"text": "…"`` pairs of an Atlassian Document Format body (Jira Cloud's v3 comment bodies).
ADF_TEXT = r'"text"\s*:\s*"((?:[^"\\]|\\.)*)"'
# Jira's ``timestamp`` is epoch milliseconds; anything else (ISO text, seconds) is not trusted.
EPOCH_MS = r"^\s*[0-9]{12,14}\s*$"
# ``https://<site>/rest/api/<version>/issue/<issue id>/comment/<comment id>``
COMMENT_SELF_ISSUE_ID = r"/rest/api/[^/]+/issue/([0-9]+)/comment/"
# Entity prefix for an issue a delivery names only by id (the normaliser sees one kind of
# delivery at a time, so not the issue events that would name its key, and an event id must not
# depend on what else was in the batch). Resolved to the key in SQL through the ``issue_id``
# every Jira ticket event carries (``sql/duckdb/jira_issue_links.sql``).
ISSUE_ID_PREFIX = "jira-issue-id:"
RECEIVED = "received"  # time_source of an event dated by when FlowSync received the delivery


def epoch_ms(column: str) -> pl.Expr:
    """``column`` as a UTC time when it is epoch milliseconds, as Jira documents it; else null."""
    raw = pl.col(column)
    return pl.when(raw.str.contains(EPOCH_MS)).then(utc(raw))


def first_time(candidates: list[tuple[str, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    """The first candidate time that is not null, and the name of the field it came from.

    Candidates are ``(name, parsed time)`` in order of preference; the name is recorded in the
    event's attributes as ``time_source`` so a fallback is never silent.
    """
    occurred = pl.coalesce([time for _, time in candidates])
    source = pl.coalesce(
        [pl.when(time.is_not_null()).then(pl.lit(name)) for name, time in candidates]
    )
    return occurred, source


def _webhooks(landing: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode deliveries into one flat row each: the issue's fields next to the envelope.

    ``received_at`` is when FlowSync received the delivery (else when it was fetched from the
    queue), for events whose payload carries no usable time of their own.
    """
    decoded, undecodable = decode(landing, WEBHOOK)
    received = landing.select("landing_ref", pl.col("updated_at").alias("received_at"))
    hook = (
        decoded.join(received, on="landing_ref", how="left")
        .with_columns(pl.coalesce("received_at", "fetched_at").alias("received_at"))
        .unnest("doc")
        .with_columns(pl.col("changelog").struct.field("items"))
        .drop("changelog")
        .unnest("issue")
        .drop("changelog")
        .unnest("fields")
    )
    return hook, undecodable


def _no_time(label: str, fields: str) -> pl.Expr:
    return pl.when(pl.col("occurred_at").is_null()).then(
        pl.lit(f"{label}: no usable time ({fields})")
    )


def issue_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``jira:issue_created``, ``jira:issue_updated`` and ``jira:issue_deleted`` deliveries.

    Created: ``created`` at ``fields.created`` by the reporter, as the polled issue has it.
    Updated: one ``transitioned`` per ``status`` item of ``changelog.items`` (from/to may be
    null) at the delivery's ``timestamp``, by ``user``; an update changing no status is a
    reference row. Deleted: ``deleted`` at ``timestamp`` by ``user``.

    A ``timestamp`` that is not epoch milliseconds (missing, ISO text, seconds) is not trusted:
    an update falls back to ``issue.fields.updated`` (Jira sets it at the change), a deletion to
    the time FlowSync received it (``updated`` is the last edit, not the deletion); the
    attribute ``time_source`` names the field used. A missing ``user`` is ``unknown``.
    """
    hook, undecodable = _webhooks(landing)
    event = pl.col("kind").str.strip_prefix("webhook:jira_issue_")
    created_at, created_source = first_time([("issue.fields.created", utc(pl.col("created")))])
    moved_at, moved_source = first_time(
        [("timestamp", epoch_ms("timestamp")), ("issue.fields.updated", utc(pl.col("updated")))]
    )
    deleted_at, deleted_source = first_time(
        [("timestamp", epoch_ms("timestamp")), (RECEIVED, pl.col("received_at"))]
    )

    def by_event(created: pl.Expr, updated: pl.Expr, deleted: pl.Expr) -> pl.Expr:
        return (
            pl.when(event == "created")
            .then(created)
            .when(event == "updated")
            .then(updated)
            .otherwise(deleted)
        )

    hook = hook.with_columns(
        by_event(created_at, moved_at, deleted_at).alias("occurred_at"),
        by_event(created_source, moved_source, deleted_source).alias("time_source"),
    ).with_columns(
        first_reason(
            pl.when(pl.col("key").is_null()).then(pl.lit("issue has no key (issue.key)")),
            pl.when(event == "created")
            .then(bad_timestamp("created", "issue.fields.created"))
            .otherwise(
                _no_time(
                    "issue update",
                    "timestamp is not epoch milliseconds, issue.fields.updated is not a timestamp",
                )
            ),
        )
    )
    rejected = hook.filter(pl.col("reason").is_not_null())
    hook = _prepare_issues(hook.filter(pl.col("reason").is_null()), key)
    created = hook.filter(event == "created").with_columns(
        pl.lit("created").alias("action"),
        pl.col("status_name").alias("state"),
    )
    moved = _user_actor(
        hook.filter(event == "updated")
        .explode("items")
        .filter(pl.col("items").struct.field("field") == "status"),
        "user",
        key,
    ).with_columns(
        pl.lit("transitioned").alias("action"),
        pl.col("items").struct.field("fromString").alias("from_status"),
        pl.col("items").struct.field("toString").alias("state"),
    )
    deleted = _user_actor(hook.filter(event == "deleted"), "user", key).with_columns(
        pl.lit("deleted").alias("action"),
        pl.lit("deleted").alias("state"),
    )
    events = pl.concat(
        [f.drop("items") for f in (created, moved, deleted)], how="diagonal_relaxed"
    ).with_columns(*_ticket_columns())
    return Normalised(
        signals=finish(_with_attributes(events, _status_categories(hook))),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=_vault_rows(
            [hook.get_column(c) for c in ("assignee_struct", "reporter", "user")], key
        ),
        references=reference_rows(
            hook.filter(
                (event == "updated") & ~pl.col("landing_ref").is_in(moved.get_column("landing_ref"))
            ),
            NO_STATUS_CHANGE,
        ),
    )


def _comment_text(body: pl.Expr) -> pl.Expr:
    """Plain text of a comment body: wiki markup as is, Atlassian Document Format's text runs."""
    return (
        # An ADF object arrives as its JSON text; wiki markup may start with "{code}" too.
        pl.when(body.str.contains(r'^\{\s*"'))
        .then(
            body.str.extract_all(ADF_TEXT)
            .list.eval(pl.element().str.extract(ADF_TEXT, 1))
            .list.join(" ")
            .str.replace_all(r"\\[nrt]", " ")
            .str.replace_all(r"\\(.)", "$1")
        )
        .otherwise(body)
    )


def comment_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``comment_created`` / ``comment_updated`` → ``commented``; ``comment_deleted`` → ``deleted``.

    The entity is ``<issue key>/comments/<id>``. A delivery without an ``issue`` object names its
    issue only by the id in ``comment.self`` (``…/rest/api/2/issue/<issue id>/comment/<id>``):
    the entity is then ``jira-issue-id:<issue id>/comments/<id>`` (resolved to the key later,
    see :data:`ISSUE_ID_PREFIX`) and the citation is ``comment.self``.

    ``commented`` is at the comment's ``created`` (else ``updated``) by its ``author``, so an
    edit re-delivers the same event; ticket keys are the issue's and any in the text, the title
    the first line of text (plain or Atlassian Document Format). ``deleted`` is at the
    delivery's ``timestamp`` (else when FlowSync received it) by ``user`` (``unknown`` when
    absent: the author is not who deleted it), with no title, so the deleted text is not kept.
    ``time_source`` in the attributes names the field an event's time came from.
    """
    hook, undecodable = _webhooks(landing)
    deleting = pl.col("kind") == "webhook:comment_deleted"
    comment_self = pl.col("comment").struct.field("self")
    commented_at, commented_source = first_time(
        [
            ("comment.created", utc(pl.col("comment").struct.field("created"))),
            ("comment.updated", utc(pl.col("comment").struct.field("updated"))),
        ]
    )
    deleted_at, deleted_source = first_time(
        [("timestamp", epoch_ms("timestamp")), (RECEIVED, pl.col("received_at"))]
    )
    hook = hook.with_columns(
        pl.col("comment").struct.field("id").alias("comment_id"),
        pl.coalesce(pl.col("id"), comment_self.str.extract(COMMENT_SELF_ISSUE_ID)).alias(
            "issue_id"
        ),
        pl.when(deleting).then(deleted_at).otherwise(commented_at).alias("occurred_at"),
        pl.when(deleting).then(deleted_source).otherwise(commented_source).alias("time_source"),
    ).with_columns(
        first_reason(
            pl.when(pl.col("key").is_null() & pl.col("issue_id").is_null()).then(
                pl.lit("comment names no issue (issue.key, nor an issue id in comment.self)")
            ),
            pl.when(pl.col("comment_id").is_null()).then(pl.lit("comment has no id")),
            _no_time("comment", "comment.created and comment.updated are not timestamps"),
        )
    )
    rejected = hook.filter(pl.col("reason").is_not_null())
    valid = hook.filter(pl.col("reason").is_null()).with_columns(
        pl.col("comment").struct.field("author"),
        pl.coalesce(pl.col("self"), comment_self).str.extract(r"^(https?://[^/]+)").alias("site"),
        pl.coalesce(pl.col("key"), pl.lit(ISSUE_ID_PREFIX) + pl.col("issue_id")).alias("ticket"),
    )
    written = _user_actor(valid.filter(~deleting), "author", key).with_columns(
        _comment_text(pl.col("comment").struct.field("body")).alias("text"),
        pl.lit("commented").alias("action"),
        pl.lit(None, S).alias("state"),
    )
    removed = _user_actor(valid.filter(deleting), "user", key).with_columns(
        pl.lit(None, S).alias("text"),
        pl.lit("deleted").alias("action"),
        pl.lit("deleted").alias("state"),
    )
    events = pl.concat([written, removed], how="diagonal_relaxed").with_columns(
        pl.lit("jira").alias("source"),
        pl.lit("comment").alias("entity_type"),
        (pl.col("ticket") + "/comments/" + pl.col("comment_id")).alias("entity_id"),
        pl.concat_list(pl.col("key"), pl.col("text").fill_null("").str.extract_all(TICKET_KEY))
        .list.drop_nulls()
        .list.unique(maintain_order=True)
        .alias("ticket_keys"),
        first_line(pl.col("text")).alias("title"),
        pl.when(pl.col("key").is_not_null())
        .then(
            pl.col("site")
            + "/browse/"
            + pl.col("key")
            + "?focusedCommentId="
            + pl.col("comment_id")
        )
        .otherwise(comment_self)
        .alias("url"),
        pl.struct("comment_id", "issue_id", "time_source").struct.json_encode().alias("attributes"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=_vault_rows([written.get_column("author"), removed.get_column("user")], key),
    )


LINK_TYPE = pl.Struct(
    {
        "id": S,
        "name": S,
        "outwardName": S,
        "inwardName": S,
        "isSubTaskLinkType": S,
        "isSystemLinkType": S,
    }
)
LINK = pl.Struct(
    {
        "timestamp": S,
        "user": USER,
        "issueLink": pl.Struct(
            {
                "id": S,
                "sourceIssueId": S,
                "destinationIssueId": S,
                "systemLink": S,
                "issueLinkType": LINK_TYPE,
            }
        ),
    }
)
SUBTASK_LINK = "sub-task link: the hierarchy comes from the sub-task's parent field, no event"


def _link(name: str) -> pl.Expr:
    return pl.col("issueLink").struct.field(name)


def _link_type(name: str) -> pl.Expr:
    return _link("issueLinkType").struct.field(name)


def _link_actor(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Link deliveries name no user (Jira does not send one): ``unknown`` unless one is there."""
    rows = _user_actor(rows, "user", key)
    return rows, _vault_rows([rows.get_column("user")], key)


ISSUE_LINK = WebhookEvent(
    label="issue link",
    dtype=LINK,
    # A child of the source issue, as a comment is: two links made in the same millisecond are
    # two events. Jira sends issue ids, not keys: ``jira-issue-id:<source id>/links/<link id>``,
    # resolved to keys through the ``issue_id`` of the issues' own events
    # (sql/duckdb/jira_issue_links.sql).
    entity_type=pl.lit("ticket_link"),
    entity_id=pl.when(
        _link("sourceIssueId").is_not_null() & _link("destinationIssueId").is_not_null()
    ).then(pl.lit(ISSUE_ID_PREFIX) + _link("sourceIssueId") + "/links/" + _link("id")),
    action=pl.col("kind").replace_strict(
        {"webhook:issuelink_created": "linked", "webhook:issuelink_deleted": "unlinked"},
        default=None,
        return_dtype=S,
    ),
    # Epoch milliseconds as text (parsed by ``utc``); anything else: the receipt time.
    time=pl.when(pl.col("timestamp").str.contains(EPOCH_MS)).then(
        pl.col("timestamp").str.strip_chars()
    ),
    columns={
        "ticket_keys": pl.lit([], pl.List(S)),
        "attributes": pl.struct(
            _link("id").alias("link_id"),
            _link_type("name").alias("link_type"),
            _link_type("outwardName").alias("outward"),
            _link_type("inwardName").alias("inward"),
            _link("sourceIssueId").alias("source_issue_id"),
            _link("destinationIssueId").alias("destination_issue_id"),
            pl.when(pl.col("raw_time").is_not_null())
            .then(pl.lit("timestamp"))
            .otherwise(pl.lit(RECEIVED))
            .alias("time_source"),
        ).struct.json_encode(),
    },
    no_event=(_link_type("isSubTaskLinkType") == "true", SUBTASK_LINK),
)


def issue_link_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``issuelink_created`` / ``_deleted`` → ``linked`` / ``unlinked`` of a ``ticket_link``.

    The entity is the link under its source issue, ``jira-issue-id:<source id>/links/<link id>``
    (see :data:`ISSUE_ID_PREFIX`). Attributes: ``link_id``, ``link_type`` (e.g. ``Blocks``),
    ``outward`` ("blocks"), ``inward`` ("is blocked by"), ``source_issue_id``,
    ``destination_issue_id`` and ``time_source``: "<source> <outward> <destination>" and
    "<destination> <inward> <source>". Jira sends no user (``unknown``) and no site, so no URL:
    the resolved tickets' URLs stand in. Sub-task links are references (the parent field
    carries the hierarchy).
    """
    return webhook_events(landing, key, ISSUE_LINK, source="jira", actor=_link_actor)


WEBHOOKS: dict[str, Callable[[pl.DataFrame, str], Normalised]] = {
    "webhook:jira_issue_created": issue_webhooks,
    "webhook:jira_issue_updated": issue_webhooks,
    "webhook:jira_issue_deleted": issue_webhooks,
    "webhook:comment_created": comment_webhooks,
    "webhook:comment_updated": comment_webhooks,
    "webhook:comment_deleted": comment_webhooks,
    "webhook:issuelink_created": issue_link_webhooks,
    "webhook:issuelink_deleted": issue_link_webhooks,
}
