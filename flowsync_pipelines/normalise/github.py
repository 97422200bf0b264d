"""GitHub REST records → signals.

Pull requests yield ``opened``, ``merged`` and ``closed`` events; reviews yield one ``reviewed``
event each. Deleted accounts arrive as GitHub's ``ghost`` user (or ``null``); they keep
``actor_kind = deleted`` and no pseudonym, since there is nobody left to attribute to.
"""

from __future__ import annotations

import polars as pl

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
    utc,
)

S = pl.String
USER = pl.Struct({"login": S, "id": S, "type": S})

PULL = pl.Struct(
    {
        "number": S,
        "html_url": S,
        "title": S,
        "body": S,
        "state": S,
        "draft": S,
        "created_at": S,
        "updated_at": S,
        "closed_at": S,
        "merged_at": S,
        "merge_commit_sha": S,
        "user": USER,
        "head": pl.Struct({"ref": S, "sha": S}),
        "base": pl.Struct({"ref": S, "repo": pl.Struct({"full_name": S})}),
    }
)

REVIEW = pl.Struct(
    {
        "id": S,
        "user": USER,
        "state": S,
        "submitted_at": S,
        "html_url": S,
        "pull_request_url": S,
        "commit_id": S,
    }
)

GHOST_LOGIN = "ghost"


def _actor_kind(user: str) -> pl.Expr:
    login = pl.col(user).struct.field("login")
    return (
        pl.when(pl.col(user).is_null() | (login == GHOST_LOGIN))
        .then(pl.lit("deleted"))
        .when((pl.col(user).struct.field("type") == "Bot") | login.str.ends_with("[bot]"))
        .then(pl.lit("bot"))
        .otherwise(pl.lit("human"))
    )


def pull_requests(landing: pl.DataFrame, key: str) -> Normalised:
    decoded, undecodable = decode(landing, PULL)
    pr = decoded.unnest("doc").with_columns(
        pl.col("number").cast(pl.Int64, strict=False).alias("pr_number"),
        pl.coalesce(pl.col("base").struct.field("repo").struct.field("full_name"), "scope").alias(
            "repository"
        ),
        _actor_kind("user").alias("actor_kind"),
        pl.col("user").struct.field("login").alias("login"),
    )
    pr = pr.with_columns(
        first_reason(
            pl.when(pl.col("pr_number").is_null()).then(pl.lit("pull request has no number")),
            pl.when(pl.col("html_url").is_null()).then(pl.lit("pull request has no html_url")),
            bad_timestamp("created_at", "created_at"),
            pl.when(pl.col("merged_at").is_not_null() & utc(pl.col("merged_at")).is_null()).then(
                pl.lit("merged_at is not an ISO-8601 timestamp: ") + pl.col("merged_at")
            ),
        )
    )
    rejected = pr.filter(pl.col("reason").is_not_null())
    pr = actor_columns(
        pr.filter(pl.col("reason").is_null()),
        source="github",
        handle="login",
        kind="actor_kind",
        key=key,
    )
    pr = pr.with_columns(
        pl.lit("github").alias("source"),
        pl.lit("pull_request").alias("entity_type"),
        (pl.col("repository") + "#" + pl.col("pr_number").cast(S)).alias("entity_id"),
        pl.col("merge_commit_sha").alias("commit_sha"),
        pl.concat_str(
            pl.col("title").fill_null(""),
            pl.col("head").struct.field("ref").fill_null(""),
            pl.col("body").fill_null(""),
            separator="\n",
        )
        .str.extract_all(TICKET_KEY)
        .list.unique(maintain_order=True)
        .alias("ticket_keys"),
        pl.col("html_url").alias("url"),
        pl.struct(
            (pl.col("draft") == "true").alias("draft"),
            pl.col("head").struct.field("ref").alias("head_ref"),
            pl.col("head").struct.field("sha").alias("head_sha"),
            pl.col("base").struct.field("ref").alias("base_ref"),
        )
        .struct.json_encode()
        .alias("attributes"),
    )
    opened = pr.with_columns(
        pl.lit("opened").alias("action"),
        utc(pl.col("created_at")).alias("occurred_at"),
        pl.lit("open").alias("state"),
    )
    merged = pr.filter(pl.col("merged_at").is_not_null()).with_columns(
        pl.lit("merged").alias("action"),
        utc(pl.col("merged_at")).alias("occurred_at"),
        pl.lit("merged").alias("state"),
        # The list endpoint does not say who merged; the author is not the merger.
        pl.lit(None, S).alias("actor"),
        pl.lit("unknown").alias("actor_kind"),
    )
    closed = pr.filter(
        pl.col("merged_at").is_null() & pl.col("closed_at").is_not_null()
    ).with_columns(
        pl.lit("closed").alias("action"),
        utc(pl.col("closed_at")).alias("occurred_at"),
        pl.lit("closed").alias("state"),
        pl.lit(None, S).alias("actor"),
        pl.lit("unknown").alias("actor_kind"),
    )
    signals = finish(pl.concat([opened, merged, closed], how="diagonal_relaxed"))
    return Normalised(
        signals=signals,
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=accounts(pr, source="github", handle="login", name=None, email=None),
    )


def reviews(landing: pl.DataFrame, key: str) -> Normalised:
    decoded, undecodable = decode(landing, REVIEW)
    review = decoded.unnest("doc").with_columns(
        pl.col("pull_request_url")
        .str.extract(r"/pulls/(\d+)$")
        .cast(pl.Int64, strict=False)
        .alias("pr_number"),
        pl.col("scope").alias("repository"),
        _actor_kind("user").alias("actor_kind"),
        pl.col("user").struct.field("login").alias("login"),
        pl.col("state").str.to_lowercase().alias("state"),
    )
    review = review.with_columns(
        first_reason(
            pl.when(pl.col("id").is_null()).then(pl.lit("review has no id")),
            pl.when(pl.col("pr_number").is_null()).then(
                pl.lit("review has no pull_request_url ending in /pulls/<number>")
            ),
            # Pending reviews have no submitted_at yet: nothing happened, nothing to record.
            pl.when(pl.col("state") != "pending").then(
                bad_timestamp("submitted_at", "submitted_at")
            ),
        )
    )
    rejected = review.filter(pl.col("reason").is_not_null())
    review = actor_columns(
        review.filter(pl.col("reason").is_null() & (pl.col("state") != "pending")),
        source="github",
        handle="login",
        kind="actor_kind",
        key=key,
    )
    events = review.with_columns(
        pl.lit("github").alias("source"),
        pl.lit("review").alias("entity_type"),
        (
            pl.col("repository") + "#" + pl.col("pr_number").cast(S) + "/reviews/" + pl.col("id")
        ).alias("entity_id"),
        pl.lit("reviewed").alias("action"),
        utc(pl.col("submitted_at")).alias("occurred_at"),
        pl.col("commit_id").alias("commit_sha"),
        pl.col("html_url").alias("url"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
        pl.struct(pl.col("id").alias("review_id")).struct.json_encode().alias("attributes"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=accounts(review, source="github", handle="login", name=None, email=None),
    )
