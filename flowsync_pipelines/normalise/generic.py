"""Normalisers shared by every source: local git commits and API-reported deletions."""

from __future__ import annotations

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
    utc,
)

S = pl.String

GIT_COMMIT = pl.Struct(
    {
        "sha": S,
        "repository": S,
        "author_name": S,
        "author_email": S,
        "committed_at": S,
        "message": S,
        "parents": pl.List(S),
    }
)


def git_commits(landing: pl.DataFrame, key: str) -> Normalised:
    """Commits from ``git log``: attributed to the pseudonym of the author email."""
    decoded, undecodable = decode(landing, GIT_COMMIT)
    commit = decoded.unnest("doc").with_columns(
        first_reason(
            pl.when(pl.col("sha").is_null()).then(pl.lit("commit has no sha")),
            bad_timestamp("committed_at", "committed_at"),
        ),
        pl.when(pl.col("author_email").is_not_null())
        .then(pl.lit("human"))
        .otherwise(pl.lit("unknown"))
        .alias("actor_kind"),
    )
    rejected = commit.filter(pl.col("reason").is_not_null())
    commit = actor_columns(
        commit.filter(pl.col("reason").is_null()),
        source="email",
        handle="author_email",
        kind="actor_kind",
        key=key,
    )
    events = commit.with_columns(
        pl.lit("git").alias("source"),
        pl.lit("commit").alias("entity_type"),
        (pl.col("repository") + "@" + pl.col("sha")).alias("entity_id"),
        pl.lit("committed").alias("action"),
        utc(pl.col("committed_at")).alias("occurred_at"),
        pl.col("sha").alias("commit_sha"),
        pl.col("message").str.split("\n").list.first().alias("title"),
        pl.col("message")
        .fill_null("")
        .str.extract_all(TICKET_KEY)
        .list.unique()
        .alias("ticket_keys"),
        pl.struct(pl.col("parents").list.len().alias("parents"))
        .struct.json_encode()
        .alias("attributes"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=accounts(
            commit, source="email", handle="author_email", name="author_name", email="author_email"
        ),
    )


TOMBSTONE = pl.Struct({"kind": S, "record_id": S, "deleted_at": S, "reason": S})


def tombstones(landing: pl.DataFrame, key: str) -> Normalised:
    """An API-reported deletion becomes a ``deleted`` event of the record it names."""
    decoded, undecodable = decode(landing, TOMBSTONE)
    # The payload's "kind" names the deleted record's kind, not the landing kind: read it aside.
    stone = decoded.with_columns(
        pl.col("doc").struct.field("kind").alias("deleted_kind"),
        pl.col("doc").struct.field("record_id").alias("deleted_id"),
        pl.col("doc").struct.field("deleted_at"),
        pl.col("doc").struct.field("reason").alias("why"),
    ).with_columns(
        first_reason(
            pl.when(pl.col("deleted_id").is_null()).then(pl.lit("tombstone names no record")),
            bad_timestamp("deleted_at", "deleted_at"),
        )
    )
    rejected = stone.filter(pl.col("reason").is_not_null())
    events = stone.filter(pl.col("reason").is_null()).with_columns(
        pl.col("deleted_kind").alias("entity_type"),
        pl.col("deleted_id").alias("entity_id"),
        pl.lit("deleted").alias("action"),
        utc(pl.col("deleted_at")).alias("occurred_at"),
        pl.lit("deleted").alias("state"),
        pl.lit("unknown").alias("actor_kind"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
        pl.struct("why").struct.json_encode().alias("attributes"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=schema.empty(schema.ACCOUNTS),
    )
