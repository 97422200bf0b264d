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
``jira:issue_deleted`` → ``deleted``, and ``comment_created`` / ``comment_updated`` →
``commented`` on the ``comment`` ``<issue key>/comments/<id>``.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Normalised,
    accounts,
    actor_columns,
    bad_timestamp,
    decode,
    finish,
    first_reason,
    quarantine_rows,
    reference_rows,
    utc,
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
    """Join each event's ``state`` to its status category and encode the ticket attributes."""
    events = events.join(categories, left_on="state", right_on="status", how="left")
    return events.with_columns(
        pl.struct(
            pl.col("category").alias("status_category"),
            pl.col("from_status") if "from_status" in events.columns else pl.lit(None, S),
            pl.col("component_names").alias("components"),
            pl.col("assignee"),
            pl.col("issuetype").struct.field("name").alias("issue_type"),
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
    decoded, undecodable = decode(landing, ISSUE)
    issue = decoded.unnest("doc").unnest("fields")
    issue = issue.with_columns(
        first_reason(
            pl.when(pl.col("key").is_null()).then(pl.lit("issue has no key")),
            bad_timestamp("created", "fields.created"),
        )
    )
    rejected = issue.filter(pl.col("reason").is_not_null())
    issue = _prepare_issues(issue.filter(pl.col("reason").is_null()), key)

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
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
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
    frame = pl.concat([u.rename("user").to_frame() for u in users]).drop_nulls()
    frame = frame.with_columns(
        _actor_kind("user").alias("actor_kind"),
        pl.col("user").struct.field("accountId").alias("account_id"),
        pl.col("user").struct.field("displayName").alias("display_name"),
        pl.col("user").struct.field("emailAddress").alias("email"),
    )
    frame = actor_columns(frame, source="jira", handle="account_id", kind="actor_kind", key=key)
    return accounts(frame, source="jira", handle="account_id", name="display_name", email="email")


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
    {
        "id": S,
        "self": S,
        "state": S,
        "name": S,
        "startDate": S,
        "endDate": S,
        "completeDate": S,
        "goal": S,
        "originBoardId": S,
    }
)


def sprints(landing: pl.DataFrame, key: str) -> Normalised:
    """Agile sprints: ``started`` and ``completed`` (a future sprint has neither yet)."""
    decoded, undecodable = decode(landing, SPRINT)
    sprint = decoded.unnest("doc").with_columns(
        first_reason(pl.when(pl.col("id").is_null()).then(pl.lit("sprint has no id")))
    )
    rejected = sprint.filter(pl.col("reason").is_not_null())
    sprint = sprint.filter(pl.col("reason").is_null()).with_columns(
        pl.lit("jira").alias("source"),
        pl.lit("sprint").alias("entity_type"),
        ("sprint/" + pl.col("id")).alias("entity_id"),
        pl.col("name").alias("title"),
        pl.lit("unknown").alias("actor_kind"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
        pl.col("self").alias("url"),
        pl.struct("goal", "endDate", "originBoardId").struct.json_encode().alias("attributes"),
    )
    started = sprint.filter(pl.col("startDate").is_not_null()).with_columns(
        pl.lit("started").alias("action"),
        utc(pl.col("startDate")).alias("occurred_at"),
        pl.lit("active").alias("state"),
    )
    completed = sprint.filter(pl.col("completeDate").is_not_null()).with_columns(
        pl.lit("completed").alias("action"),
        utc(pl.col("completeDate")).alias("occurred_at"),
        pl.lit("closed").alias("state"),
    )
    return Normalised(
        signals=finish(pl.concat([started, completed], how="diagonal_relaxed")),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=schema_empty_accounts(),
        references=reference_rows(
            sprint.filter(pl.col("startDate").is_null() & pl.col("completeDate").is_null()),
            "future sprint: not started, nothing has happened yet",
        ),
    )


def epics(landing: pl.DataFrame, key: str) -> Normalised:
    """Agile epic records are reference data with no time of their own: no events.

    The epic itself arrives as an issue of type Epic (with its created and transition events);
    this record only confirms its name and ``done`` flag.
    """
    decoded, undecodable = decode(landing, pl.Struct({"id": S, "key": S}))
    epic = decoded.unnest("doc")
    rejected = epic.filter(pl.col("key").is_null() & pl.col("id").is_null())
    return Normalised(
        references=reference_rows(
            epic.filter(pl.col("key").is_not_null() | pl.col("id").is_not_null()),
            "epic reference record; the epic's events come from its issue",
        ),
        signals=schema.empty(schema.SIGNALS),
        quarantine=quarantine_rows(
            pl.concat(
                [undecodable, rejected.with_columns(reason=pl.lit("epic has no id or key"))],
                how="diagonal_relaxed",
            )
        ),
        accounts=schema_empty_accounts(),
    )


def schema_empty_accounts() -> pl.DataFrame:
    return schema.empty(schema.ACCOUNTS)


# -- webhooks -----------------------------------------------------------------------------------
ITEM = pl.Struct({"field": S, "fromString": S, "toString": S})
WEBHOOK = pl.Struct(
    {
        "timestamp": S,
        "user": USER,
        "issue": ISSUE,
        "changelog": pl.Struct({"items": pl.List(ITEM)}),
        "comment": pl.Struct({"id": S, "self": S, "body": S, "author": USER, "created": S}),
    }
)
NO_STATUS_CHANGE = "issue update changing no status: no event (the poll carries its fields)"
# ``"text": "…"`` pairs of an Atlassian Document Format body (Jira Cloud's v3 comment bodies).
ADF_TEXT = r'"text"\s*:\s*"((?:[^"\\]|\\.)*)"'


def bad_epoch_ms(column: str, label: str) -> pl.Expr:
    """A reason when ``column`` is missing or not epoch milliseconds (nor ISO-8601)."""
    raw = pl.col(column)
    return (
        pl.when(raw.is_null())
        .then(pl.lit(f"{label} is missing"))
        .when(utc(raw).is_null())
        .then(pl.lit(f"{label} is not a timestamp (epoch milliseconds): ") + raw)
    )


def _webhooks(landing: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode deliveries into one flat row each: the issue's fields next to the envelope."""
    decoded, undecodable = decode(landing, WEBHOOK)
    hook = (
        decoded.unnest("doc")
        .with_columns(pl.col("changelog").struct.field("items"))
        .drop("changelog")
        .unnest("issue")
        .drop("changelog")
        .unnest("fields")
    )
    return hook, undecodable


def issue_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``jira:issue_created``, ``jira:issue_updated`` and ``jira:issue_deleted`` deliveries.

    Created: ``created`` at ``fields.created`` by the reporter, as the polled issue has it.
    Updated: one ``transitioned`` per ``status`` item of ``changelog.items`` (from/to may be
    null) at the delivery's ``timestamp``, by ``user``; an update changing no status is a
    reference row. Deleted: ``deleted`` at ``timestamp`` by ``user``.
    """
    hook, undecodable = _webhooks(landing)
    event = pl.col("kind").str.strip_prefix("webhook:jira_issue_")
    hook = hook.with_columns(
        first_reason(
            pl.when(pl.col("key").is_null()).then(pl.lit("issue has no key (issue.key)")),
            pl.when(event == "created")
            .then(bad_timestamp("created", "issue.fields.created"))
            .otherwise(bad_epoch_ms("timestamp", "timestamp")),
        )
    )
    rejected = hook.filter(pl.col("reason").is_not_null())
    hook = _prepare_issues(hook.filter(pl.col("reason").is_null()), key)
    created = hook.filter(event == "created").with_columns(
        pl.lit("created").alias("action"),
        utc(pl.col("created")).alias("occurred_at"),
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
        utc(pl.col("timestamp")).alias("occurred_at"),
        pl.col("items").struct.field("fromString").alias("from_status"),
        pl.col("items").struct.field("toString").alias("state"),
    )
    deleted = _user_actor(hook.filter(event == "deleted"), "user", key).with_columns(
        pl.lit("deleted").alias("action"),
        utc(pl.col("timestamp")).alias("occurred_at"),
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


def comment_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``comment_created`` / ``comment_updated``: ``commented`` on the ``comment`` entity.

    The entity is ``<issue key>/comments/<id>`` (ticket keys: the issue's and any in the text),
    at the comment's ``created`` by its ``author``, so an edit re-delivers the same event. The
    body may be text or Atlassian Document Format; its first line of text is the title.
    """
    hook, undecodable = _webhooks(landing)
    hook = hook.with_columns(
        pl.col("comment").struct.field("id").alias("comment_id"),
        pl.col("comment").struct.field("created").alias("commented_at"),
    ).with_columns(
        first_reason(
            pl.when(pl.col("key").is_null()).then(pl.lit("comment names no issue (issue.key)")),
            pl.when(pl.col("comment_id").is_null()).then(pl.lit("comment has no id")),
            bad_timestamp("commented_at", "comment.created"),
        )
    )
    rejected = hook.filter(pl.col("reason").is_not_null())
    body = pl.col("comment").struct.field("body")
    text = (
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
    comment = hook.filter(pl.col("reason").is_null()).with_columns(
        pl.col("comment").struct.field("author")
    )
    comment = _user_actor(comment, "author", key).with_columns(
        pl.coalesce(pl.col("self"), pl.col("comment").struct.field("self"))
        .str.extract(r"^(https?://[^/]+)")
        .alias("site"),
        text.alias("text"),
    )
    events = comment.with_columns(
        pl.lit("jira").alias("source"),
        pl.lit("comment").alias("entity_type"),
        (pl.col("key") + "/comments/" + pl.col("comment_id")).alias("entity_id"),
        pl.lit("commented").alias("action"),
        utc(pl.col("commented_at")).alias("occurred_at"),
        pl.concat_list(pl.col("key"), pl.col("text").fill_null("").str.extract_all(TICKET_KEY))
        .list.unique(maintain_order=True)
        .alias("ticket_keys"),
        first_line(pl.col("text")).alias("title"),
        (
            pl.col("site")
            + "/browse/"
            + pl.col("key")
            + "?focusedCommentId="
            + pl.col("comment_id")
        ).alias("url"),
        pl.struct(pl.col("comment_id")).struct.json_encode().alias("attributes"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=_vault_rows([comment.get_column("author")], key),
    )


WEBHOOKS: dict[str, Callable[[pl.DataFrame, str], Normalised]] = {
    "webhook:jira_issue_created": issue_webhooks,
    "webhook:jira_issue_updated": issue_webhooks,
    "webhook:jira_issue_deleted": issue_webhooks,
    "webhook:comment_created": comment_webhooks,
    "webhook:comment_updated": comment_webhooks,
}
