"""Figma file comments → ``design_comment`` signals.

A ``#flowsync``-tagged comment yields ``commented`` (``created_at``, by its author) and, once
resolved, ``resolved`` (``resolved_at``; Figma does not say by whom). Ticket keys come from the
message. Untagged comments are landed by the connector as ``{"id": …, "untagged": true}`` stubs
with no text, author or time: they hold no event and are recorded as references.

The author is pseudonymised by Figma user *id*: Figma's ``handle`` is the display name a person
chose (it changes, and two people can share it), so it goes to the vault as the display name,
the way Jira's ``accountId`` and ``displayName`` do.

Webhook deliveries (kind ``webhook:<event_type>``, the whole body as payload): a
``FILE_COMMENT`` whose text fragments carry the tag yields the same ``commented`` (and
``resolved``) events as the polled comment, by ``triggered_by``; one without the tag is a
reference, as the connector's stub is. A ``PING`` is a reference.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    NOBODY,
    TICKET_KEY,
    Happening,
    Normalised,
    accounts,
    actor_columns,
    bad_timestamp,
    checked,
    decode,
    happened,
    missing,
    once_set,
    quarantine_rows,
    reference_rows,
    utc,
)

S = pl.String
SOURCE = "figma"
WEB = "https://www.figma.com"
UNTAGGED_NOTE = "untagged comment: counted, not processed"
PING_NOTE = "configuration ping: no event"
# resources/figma.py's TAG, ``(?<![\w#])#flowsync(?![\w-])``, without look-around.
TAG = r"(?i)(?:^|[^\w#])#flowsync(?:$|[^\w-])"
TITLE_CHARS = 500

COMMENT = pl.Struct(
    {
        "id": S,
        "untagged": S,
        "file_key": S,
        "parent_id": S,
        "message": S,
        "created_at": S,
        "resolved_at": S,
        "order_id": S,
        "user": pl.Struct({"id": S, "handle": S}),
        "client_meta": pl.Struct({"node_id": S}),
    }
)


def _bad_times(created: str) -> pl.Expr:
    """A reason when the comment's creation time (read as ``created``) or its resolution time
    is not a timestamp."""
    return pl.coalesce(
        bad_timestamp("created_at", created),
        pl.when(pl.col("resolved_at").is_not_null()).then(
            bad_timestamp("resolved_at", "resolved_at")
        ),
    )


def comments(landing: pl.DataFrame, key: str) -> Normalised:
    comment, quarantine = checked(
        landing,
        COMMENT,
        (
            missing("comment"),
            pl.when(~pl.col("is_stub")).then(_bad_times("created_at")),
        ),
        derived=(
            {
                "is_stub": pl.col("untagged").fill_null("") == "true",
                "file": pl.coalesce("file_key", "scope"),
                "parent": pl.when(pl.col("parent_id") != "").then(pl.col("parent_id")),
                "user_id": pl.col("user").struct.field("id"),
                "user_handle": pl.col("user").struct.field("handle"),
                "node_id": pl.col("client_meta").struct.field("node_id"),
            },
        ),
    )
    stubs = comment.filter(pl.col("is_stub"))
    signals, vault = _comment_events(comment.filter(~pl.col("is_stub")), key)
    return Normalised(
        signals=signals,
        quarantine=quarantine,
        accounts=vault,
        references=reference_rows(stubs, UNTAGGED_NOTE),
    )


def _comment_events(tagged: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Signals and vault rows of tagged comments (columns ``id``, ``file``, ``parent``,
    ``message``, ``created_at``, ``resolved_at``, ``user_id``, ``user_handle``, ``node_id``,
    ``order_id``): ``commented`` by the author and, once resolved, ``resolved``."""
    tagged = tagged.with_columns(
        pl.when(pl.col("user_id").is_not_null())
        .then(pl.lit("human"))
        .otherwise(pl.lit("unknown"))
        .alias("actor_kind")
    )
    tagged = actor_columns(tagged, source=SOURCE, handle="user_id", kind="actor_kind", key=key)
    tagged = tagged.with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.lit("design_comment").alias("entity_type"),
        ("figma:" + pl.col("file") + "/comments/" + pl.col("id")).alias("entity_id"),
        pl.col("message")
        .fill_null("")
        .str.extract_all(TICKET_KEY)
        .list.unique(maintain_order=True)
        .alias("ticket_keys"),
        # The message is the comment (linking looks for the tag and keys in it): one line of it.
        pl.col("message")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.slice(0, TITLE_CHARS)
        .alias("title"),
        (pl.lit(WEB) + "/file/" + pl.col("file") + "?comment=" + pl.col("id")).alias("url"),
        pl.struct(
            pl.col("file").alias("file_key"),
            pl.col("parent").alias("parent_id"),
            pl.col("node_id"),
            pl.col("order_id"),
        )
        .struct.json_encode()
        .alias("attributes"),
    )
    signals = happened(
        tagged,
        Happening("commented", utc(pl.col("created_at")), "open"),
        once_set("resolved_at", "resolved", "resolved", **NOBODY),
    )
    return signals, accounts(
        tagged, source=SOURCE, handle="user_id", name="user_handle", email=None
    )


# -- webhooks -----------------------------------------------------------------------------------
FILE_COMMENT = pl.Struct(
    {
        "comment_id": S,
        "file_key": S,
        "parent_id": S,
        "order_id": S,
        "created_at": S,
        "resolved_at": S,
        "timestamp": S,
        "comment": pl.List(pl.Struct({"text": S, "mention": S})),
        "triggered_by": pl.Struct({"id": S, "handle": S}),
    }
)


def file_comment_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``FILE_COMMENT`` deliveries: the polled ``design_comment`` ``figma:<file>/comments/<id>``.

    The message is the text fragments joined (a mention fragment holds only a user id, left
    out). With the ``#flowsync`` tag: ``commented`` at ``created_at`` (else the delivery's
    ``timestamp``) by ``triggered_by``, and ``resolved`` if ``resolved_at`` is set; without it, a
    reference row, as the connector lands an untagged comment.
    """
    tagged = pl.col("message").fill_null("").str.contains(TAG)
    comment, quarantine = checked(
        landing,
        FILE_COMMENT,
        (
            pl.when(pl.col("id").is_null()).then(pl.lit("comment has no comment_id")),
            pl.when(pl.col("file").is_null()).then(pl.lit("comment names no file (file_key)")),
            pl.when(tagged).then(_bad_times("created_at (or timestamp)")),
        ),
        derived=(
            {
                "id": pl.col("comment_id"),
                "file": pl.col("file_key"),
                "parent": pl.when(pl.col("parent_id") != "").then(pl.col("parent_id")),
                "message": pl.col("comment")
                .list.eval(pl.element().struct.field("text"))
                .list.drop_nulls()
                .list.join(""),
                "created_at": pl.coalesce("created_at", "timestamp"),
                "user_id": pl.col("triggered_by").struct.field("id"),
                "user_handle": pl.col("triggered_by").struct.field("handle"),
                "node_id": pl.lit(None, S),
            },
        ),
    )
    signals, vault = _comment_events(comment.filter(tagged), key)
    return Normalised(
        signals=signals,
        quarantine=quarantine,
        accounts=vault,
        references=reference_rows(comment.filter(~tagged), UNTAGGED_NOTE),
    )


def ping_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``PING`` deliveries (sent when a webhook is created): reference rows, no event."""
    decoded, undecodable = decode(landing, pl.Struct({"event_type": S}))
    return Normalised(
        signals=schema.empty(schema.SIGNALS),
        quarantine=quarantine_rows(undecodable),
        accounts=schema.empty(schema.ACCOUNTS),
        references=reference_rows(decoded, PING_NOTE),
    )


WEBHOOKS: dict[str, Callable[[pl.DataFrame, str], Normalised]] = {
    "webhook:file_comment": file_comment_webhooks,
    "webhook:ping": ping_webhooks,
}
