"""The event vocabulary: every entity type a signal can be about and, per type, its actions.

Declared once, here. Normalisers' output is checked against it at normalisation
(:func:`undeclared_entity_types`, :func:`undeclared_actions`): an entity type not declared is a
programming error and raises; an action not declared for its entity type — tools pass some
through from their payloads (a GitHub ``issues`` delivery's ``action``) — is quarantined with a
reason, so a tool's new action is seen in the quarantine rate instead of stopping the run.
``ordering.py`` reads its lifecycle rules from here, and a test checks every entity-type and
action literal in ``sql/duckdb/*.sql`` against it (``tests/test_vocabulary.py``).

To add an action: add it to its entity type below; the SQL and the checks follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class EntityType:
    """One kind of thing events are about, and what can happen to it."""

    name: str
    actions: frozenset[str]
    # The action that starts the entity's life: no other action of it may come earlier
    # (``ordering.violations``: rule ``before_creation``).
    creation: str | None = None


def _entity(name: str, actions: str, *, creation: str | None = None) -> EntityType:
    declared = frozenset(actions.split())
    if creation is not None and creation not in declared:
        msg = f"entity type {name!r}: creation action {creation!r} is not one of its actions"
        raise ValueError(msg)
    return EntityType(name, declared, creation)


# Actions every entity type can have: an API-reported or webhook deletion (tombstones).
DELETED = "deleted"

# GitHub deployment statuses (``status_<state>``) and GitLab's (``status_<status>``).
_GITHUB_DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending")
_GITLAB_DEPLOYMENT_STATUSES = ("created", "running", "failed", "canceled", "blocked", "skipped")
_DEPLOYMENT_STATUSES = " ".join(
    f"status_{state}"
    for state in ("success", *_GITHUB_DEPLOYMENT_STATES, *_GITLAB_DEPLOYMENT_STATUSES)
)
# GitHub ``issues`` webhook actions (``opened`` is recorded as ``created``), GitLab's and Jira's,
# Linear's and the tombstone's.
_TICKET_ACTIONS = (
    "created started transitioned completed canceled closed reopened updated archived "
    "edited assigned unassigned labeled unlabeled locked unlocked pinned unpinned transferred "
    "milestoned demilestoned typed untyped"
)

ENTITY_TYPES: dict[str, EntityType] = {
    e.name: e
    for e in (
        _entity(
            "pull_request",
            "opened merged closed reopened updated approved unapproved",
            creation="opened",
        ),
        _entity("review", "reviewed"),
        _entity("comment", "commented edited archived"),
        _entity("commit", "committed"),
        _entity("branch", "created pushed"),
        _entity("tag", "created pushed"),
        _entity("ci_run", "queued started completed"),
        _entity(
            "deployment", f"created started finished {_DEPLOYMENT_STATUSES}", creation="created"
        ),
        _entity("release", "created published released updated"),
        _entity("ticket", _TICKET_ACTIONS, creation="created"),
        _entity("ticket_link", "linked unlinked"),
        _entity("sprint", "started completed"),
        _entity("project", "started completed canceled"),
        _entity(
            "incident",
            "first_seen last_seen error_seen alert_triggered critical warning resolved ignored "
            "commented edited "
            # PagerDuty's incident log and V3 webhooks
            "acknowledged unacknowledged assigned annotated escalated delegated reopened "
            "priority_updated",
            creation="first_seen",
        ),
        _entity("design_comment", "commented resolved"),
    )
}
ENTITY_TYPES = {
    name: EntityType(e.name, e.actions | {DELETED}, e.creation) for name, e in ENTITY_TYPES.items()
}

# Every action of some entity type (SQL that filters on an action alone is checked against it).
ACTIONS: frozenset[str] = frozenset().union(*(e.actions for e in ENTITY_TYPES.values()))
# Entity type → the action that creates it, for the types whose lifecycle has one.
CREATION: dict[str, str] = {
    e.name: e.creation for e in ENTITY_TYPES.values() if e.creation is not None
}
# The declared (entity type, action) pairs as ``<entity type>/<action>``, for vectorised checks.
_PAIRS: list[str] = sorted(f"{e.name}/{a}" for e in ENTITY_TYPES.values() for a in e.actions)


def entity_type(name: str) -> str:
    """``name``, once checked to be a declared entity type (for constants in code)."""
    if name not in ENTITY_TYPES:
        msg = f"{name!r} is not a declared entity type; declare it in {__name__}.ENTITY_TYPES"
        raise ValueError(msg)
    return name


def action(of: str, name: str) -> str:
    """``name``, once checked to be a declared action of entity type ``of``."""
    if name not in ENTITY_TYPES[entity_type(of)].actions:
        msg = f"{name!r} is not a declared action of {of!r}; declare it in {__name__}.ENTITY_TYPES"
        raise ValueError(msg)
    return name


class UndeclaredEntityType(ValueError):
    """A normaliser produced an entity type the vocabulary does not declare."""


def undeclared_entity_types(signals: pl.DataFrame) -> list[str]:
    """The entity types in ``signals`` that are not declared (sorted)."""
    seen = signals.get_column("entity_type").unique().drop_nulls().to_list()
    return sorted(t for t in seen if t not in ENTITY_TYPES)


def require_declared_entity_types(signals: pl.DataFrame, *, producer: str) -> None:
    """Raise :class:`UndeclaredEntityType` when ``producer``'s ``signals`` hold one."""
    undeclared = undeclared_entity_types(signals)
    if undeclared:
        msg = (
            f"{producer} produced undeclared entity type(s) {undeclared}: declare them in "
            f"{__name__}.ENTITY_TYPES or fix the normaliser"
        )
        raise UndeclaredEntityType(msg)


def undeclared_actions(signals: pl.DataFrame) -> pl.Series:
    """A boolean mask: rows whose action is not declared for their entity type."""
    pair = pl.concat_str("entity_type", "action", separator="/")
    return signals.select(~pair.is_in(_PAIRS).fill_null(False)).to_series()


def undeclared_action_reason() -> pl.Expr:
    """The quarantine reason of a row whose action is not declared for its entity type."""
    return pl.format(
        "action {} of entity type {} is not in the declared event vocabulary "
        "(flowsync_pipelines/vocabulary.py)",
        pl.col("action").fill_null("null"),
        pl.col("entity_type"),
    ).alias("reason")
