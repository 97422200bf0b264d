"""Normalisers shared by every source: local git commits and API-reported deletions."""

from __future__ import annotations

import re

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Happening,
    Normalised,
    PolledKind,
    bad_timestamp,
    checked,
    email_author,
    finish,
    missing,
    polled,
    reference_rows,
    utc,
)
from flowsync_pipelines.sources import registry

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


GIT_COMMITS = PolledKind(
    dtype=GIT_COMMIT,
    derived=(
        {
            "actor_kind": pl.when(pl.col("author_email").is_not_null())
            .then(pl.lit("human"))
            .otherwise(pl.lit("unknown"))
        },
    ),
    problems=(
        missing("commit", "sha"),
        bad_timestamp("committed_at", "committed_at"),
    ),
    actor=email_author,
    entity_type="commit",
    entity_id=pl.col("repository") + "@" + pl.col("sha"),
    columns={
        "commit_sha": pl.col("sha"),
        "title": pl.col("message").str.split("\n").list.first(),
        "ticket_keys": pl.col("message").fill_null("").str.extract_all(TICKET_KEY).list.unique(),
        "attributes": pl.struct(pl.col("parents").list.len().alias("parents")).struct.json_encode(),
    },
    happenings=(Happening("committed", utc(pl.col("committed_at"))),),
)
git_commits = polled(
    GIT_COMMITS,
    "git",
    "Commits from ``git log``: attributed to the pseudonym of the author email.",
)


TOMBSTONE = pl.Struct({"kind": S, "record_id": S, "deleted_at": S, "reason": S})
RECORD_ID = pl.col("deleted_id")


def _entity_id(template: str) -> pl.Expr:
    """A deleted entity's id from its source spec's template over ``{id}`` (the deleted record's
    id) and ``{scope}``."""
    columns = {"id": RECORD_ID, "scope": pl.col("scope")}
    split = re.split(r"\{(\w+)\}", template)
    parts = [columns[p] if i % 2 else pl.lit(p) for i, p in enumerate(split) if p or i % 2]
    return parts[0] if len(parts) == 1 else pl.concat_str(parts)


# The entity a deleted record is, per (source, landing kind), as each source spec declares it
# (connectors give most records their entity's id). Kinds not listed keep their landing kind
# and record id.
DELETED_ENTITIES: dict[tuple[str, str], tuple[str, pl.Expr]] = {
    key: (entity_type, _entity_id(template))
    for key, (entity_type, template) in registry.tombstones().items()
}
# Archived Linear issues and comments land as themselves too (with ``archivedAt``), and their
# normalisers record the ``archived`` event under the key the tombstone lacks (it has the uuid).
ARCHIVED_IN_PAYLOAD = (("linear", "issues"), ("linear", "comments"))


def _deleted_entity(part: int) -> pl.Expr:
    """Part 0 (the entity type) or 1 (the entity id) of each tombstone's deleted record."""
    expr = pl.col("deleted_kind") if part == 0 else RECORD_ID
    for (source, kind), entity in DELETED_ENTITIES.items():
        value = pl.lit(entity[0]) if part == 0 else entity[1]
        match = (pl.col("source") == source) & (pl.col("deleted_kind") == kind)
        expr = pl.when(match).then(value).otherwise(expr)
    return expr


def tombstones(landing: pl.DataFrame, key: str) -> Normalised:
    """An API-reported deletion becomes a ``deleted`` event of the entity it names, at the time
    the tool gave, or when FlowSync saw it gone (a 404 for a record its list had just shown)."""
    # The payload's "kind" names the deleted record's kind, not the landing kind: read it aside.
    stone, quarantine = checked(
        landing,
        TOMBSTONE,
        (
            pl.when(pl.col("deleted_id").is_null()).then(pl.lit("tombstone names no record")),
            pl.when(pl.col("deleted_at").is_not_null()).then(
                bad_timestamp("deleted_at", "deleted_at")
            ),
        ),
        renamed={"kind": "deleted_kind", "record_id": "deleted_id", "reason": "why"},
    )
    archived = pl.concat_str("source", "deleted_kind", separator="/").is_in(
        [f"{source}/{kind}" for source, kind in ARCHIVED_IN_PAYLOAD]
    )
    events = stone.filter(~archived).with_columns(
        _deleted_entity(0).alias("entity_type"),
        _deleted_entity(1).alias("entity_id"),
        pl.lit("deleted").alias("action"),
        pl.coalesce(utc(pl.col("deleted_at")), pl.col("fetched_at")).alias("occurred_at"),
        pl.lit("deleted").alias("state"),
        pl.lit("unknown").alias("actor_kind"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
        pl.struct("why", pl.lit("deleted").alias("status_category"))
        .struct.json_encode()
        .alias("attributes"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine,
        accounts=schema.empty(schema.ACCOUNTS),
        references=reference_rows(
            stone.filter(archived), "archival: the record's own archived event records it"
        ),
    )
