"""PagerDuty records → ``incident`` signals beside Sentry's, in the same vocabulary.

An incident is ``pagerduty:<incident id>``, cited by its ``html_url`` and titled by its
``title``. It yields ``first_seen`` when it was triggered (``created_at``; PagerDuty itself
triggers it, so no actor) and ``resolved`` at ``resolved_at`` once resolved, by whoever
resolved it (``last_status_change_by``). Its log entries add what people did in between:
``acknowledged``, ``assigned`` (to ``attributes.assignee``), ``annotated`` (a note; its text is
not kept), ``escalated``, ``delegated``, ``unacknowledged`` and ``resolved``; triggers,
notifications and the rest are references (the incident record dates the trigger; who was
paged how is not FlowSync's business). These are the actions statements and DORA read of
Sentry incidents (``first_seen`` opens, ``resolved`` closes, ``attributes.status``), so both
tools' incidents are counted and restored alike.

``attributes.project`` is the service's name as a slug (``Payments API`` → ``payments-api``):
the team of an incident is the team whose repository has that name, and deployments of that
service are its candidate causes, as for Sentry projects. The current assignee is
``attributes.assignee``, a pseudonym.

V3 webhooks (kind ``webhook:<event type slug>``, the whole ``{"event": ...}`` body) give the
same events: ``incident.triggered`` → ``first_seen`` at the incident's ``created_at``;
``incident.acknowledged``, ``.resolved``, ``.reassigned`` (→ ``assigned``), ``.annotated``,
``.unacknowledged``, ``.escalated``, ``.delegated``, ``.reopened`` and ``.priority_updated``
at ``occurred_at``, truncated to the second as log entries are dated, so a delivery and the
polled log entry of one change share an event id. ``pagey.ping``, responder, status-update and
service events are references. An agent that is a user is human (pseudonym of the user id);
a service or integration is a bot with no pseudonym; no agent is unknown.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Normalised,
    WebhookEvent,
    accounts,
    actor_columns,
    bad_timestamp,
    decode,
    finish,
    first_reason,
    merge_accounts,
    quarantine_rows,
    reference_rows,
    text,
    utc,
    webhook_events,
)
from flowsync_pipelines.pseudonym import pseudonymise

S = pl.String
SOURCE = "pagerduty"
REF = pl.Struct(text("id", "type", "summary", "html_url"))
# Log entry types → actions; types not listed are references (see the module docstring).
LOG_ACTIONS = {
    "acknowledge_log_entry": "acknowledged",
    "unacknowledge_log_entry": "unacknowledged",
    "assign_log_entry": "assigned",
    "annotate_log_entry": "annotated",
    "escalate_log_entry": "escalated",
    "delegate_log_entry": "delegated",
    "resolve_log_entry": "resolved",
}
# The state an action leaves the incident in, where it changes it.
STATES = {"first_seen": "triggered", "acknowledged": "acknowledged", "resolved": "resolved"}
STATES |= {"unacknowledged": "triggered", "reopened": "triggered"}


def _slug(name: pl.Expr) -> pl.Expr:
    """A service name as the repository-like slug it is matched on (``Payments API`` →
    ``payments-api``)."""
    return name.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "-").str.strip_chars("-")


def _title(summary: pl.Expr) -> pl.Expr:
    """An incident reference's ``summary`` (``[#457] Title``) as the incident's title."""
    return summary.str.replace(r"^\[#\d+\]\s*", "")


def _state(action: pl.Expr) -> pl.Expr:
    return action.replace_strict(STATES, default=None, return_dtype=S)


def _attribute(rows: pl.DataFrame, agent: pl.Expr, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``actor`` / ``actor_kind`` of ``agent`` (a PagerDuty reference); the users' vault rows."""
    agent_id, agent_type = agent.struct.field("id"), agent.struct.field("type")
    person = agent_type.str.starts_with("user") & agent_id.is_not_null()
    rows = rows.with_columns(
        pl.when(person)
        .then(pl.lit("human"))
        .when(agent_id.is_not_null())
        .then(pl.lit("bot"))
        .otherwise(pl.lit("unknown"))
        .alias("actor_kind"),
        pl.when(person).then(agent_id).alias("agent_id"),
        pl.when(person).then(agent.struct.field("summary")).alias("agent_name"),
    )
    rows = actor_columns(rows, source=SOURCE, handle="agent_id", kind="actor_kind", key=key)
    vault = accounts(
        rows.filter(pl.col("agent_id").is_not_null()),
        source=SOURCE,
        handle="agent_id",
        name="agent_name",
        email=None,
    )
    return rows, vault


def _assignee(rows: pl.DataFrame, user: pl.Expr, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``assignee``: the pseudonym of ``user`` (a user reference); its vault rows."""
    rows = rows.with_columns(
        user.struct.field("id").alias("assignee_id"),
        user.struct.field("summary").alias("assignee_name"),
    )
    rows = rows.with_columns(
        pl.Series("assignee", pseudonymise(SOURCE, rows.get_column("assignee_id"), key))
    )
    people = rows.filter(pl.col("assignee").is_not_null()).with_columns(
        pl.col("assignee").alias("actor"), pl.lit("human").alias("actor_kind")
    )
    vault = accounts(people, source=SOURCE, handle="assignee_id", name="assignee_name", email=None)
    return rows, vault


def _incident_columns(
    incident_id: pl.Expr, url: pl.Expr, title: pl.Expr, service: pl.Expr, **extra: pl.Expr
) -> dict[str, pl.Expr]:
    """The SIGNALS columns every PagerDuty incident event shares."""
    service_name = service.struct.field("summary")
    return {
        "source": pl.lit(SOURCE),
        "entity_type": pl.lit("incident"),
        "entity_id": "pagerduty:" + incident_id,
        "url": url,
        "title": title,
        "ticket_keys": title.fill_null("")
        .str.extract_all(TICKET_KEY)
        .list.unique(maintain_order=True),
        "attributes": pl.struct(
            _slug(service_name).alias("project"),
            service_name.alias("service"),
            service.struct.field("id").alias("service_id"),
            *(expr.alias(name) for name, expr in extra.items()),
        ).struct.json_encode(),
    }


# -- polled incidents ----------------------------------------------------------------------------
INCIDENT = pl.Struct(
    {
        **text("id", "incident_number", "title", "html_url", "created_at", "resolved_at"),
        **text("status", "urgency", "last_status_change_at"),
        "service": REF,
        "assignments": pl.List(pl.Struct({"at": S, "assignee": REF})),
        "last_status_change_by": REF,
        "priority": REF,
        "escalation_policy": REF,
    }
)


def incidents(landing: pl.DataFrame, key: str) -> Normalised:
    """Each incident: ``first_seen`` at ``created_at``; ``resolved`` at ``resolved_at``."""
    decoded, undecodable = decode(landing, INCIDENT)
    incident = decoded.unnest("doc").with_columns(
        pl.coalesce("resolved_at", "last_status_change_at").alias("resolved_time")
    )
    resolved_now = pl.col("status") == "resolved"
    incident = incident.with_columns(
        first_reason(
            pl.when(pl.col("id").is_null()).then(pl.lit("incident has no id")),
            pl.when(pl.col("html_url").is_null()).then(pl.lit("incident has no html_url")),
            bad_timestamp("created_at", "created_at"),
            pl.when(resolved_now).then(bad_timestamp("resolved_time", "resolved_at")),
        )
    )
    rejected = incident.filter(pl.col("reason").is_not_null())
    incident, assignees = _assignee(
        incident.filter(pl.col("reason").is_null()),
        pl.col("assignments").list.first().struct.field("assignee"),
        key,
    )
    incident = incident.with_columns(
        **_incident_columns(
            pl.col("id"),
            pl.col("html_url"),
            pl.col("title"),
            pl.col("service"),
            status=pl.col("status"),
            urgency=pl.col("urgency"),
            priority=pl.col("priority").struct.field("summary"),
            escalation_policy=pl.col("escalation_policy").struct.field("summary"),
            incident_number=pl.col("incident_number").cast(pl.Int64, strict=False),
            assignee=pl.col("assignee"),
        )
    )
    triggered = incident.with_columns(
        pl.lit("first_seen").alias("action"),
        utc(pl.col("created_at")).alias("occurred_at"),
        pl.lit("triggered").alias("state"),
        pl.lit("unknown").alias("actor_kind"),
        pl.lit(None, S).alias("actor"),
    )
    resolved, vault = _attribute(
        incident.filter(resolved_now), pl.col("last_status_change_by"), key
    )
    resolved = resolved.with_columns(
        pl.lit("resolved").alias("action"),
        utc(pl.col("resolved_time")).alias("occurred_at"),
        pl.lit("resolved").alias("state"),
    )
    return Normalised(
        signals=finish(pl.concat([triggered, resolved], how="diagonal_relaxed")),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=merge_accounts(pl.concat([assignees, vault])),
    )


# -- polled log entries --------------------------------------------------------------------------
LOG_ENTRY = pl.Struct(
    {
        **text("id", "type", "created_at"),
        "agent": REF,
        "assignees": pl.List(REF),
        "service": REF,
        "incident": REF,
    }
)


def log_entries(landing: pl.DataFrame, key: str) -> Normalised:
    """Each log entry of an action (``LOG_ACTIONS``) is that event of its incident."""
    decoded, undecodable = decode(landing, LOG_ENTRY)
    entry = decoded.unnest("doc").with_columns(
        pl.col("type").replace_strict(LOG_ACTIONS, default=None, return_dtype=S).alias("action"),
        pl.col("incident").struct.field("id").alias("incident_id"),
    )
    entry = entry.with_columns(
        first_reason(
            pl.when(pl.col("type").is_null()).then(pl.lit("log entry has no type")),
            pl.when(pl.col("incident_id").is_null()).then(pl.lit("log entry names no incident")),
            bad_timestamp("created_at", "created_at"),
        )
    )
    rejected = entry.filter(pl.col("reason").is_not_null())
    entry = entry.filter(pl.col("reason").is_null())
    other = entry.filter(pl.col("action").is_null())
    entry, vault = _attribute(entry.filter(pl.col("action").is_not_null()), pl.col("agent"), key)
    entry, assignees = _assignee(entry, pl.col("assignees").list.first(), key)
    incident = pl.col("incident").struct.field
    entry = entry.with_columns(
        utc(pl.col("created_at")).alias("occurred_at"),
        _state(pl.col("action")).alias("state"),
        **_incident_columns(
            pl.col("incident_id"),
            incident("html_url"),
            _title(incident("summary")),
            pl.col("service"),
            status=_state(pl.col("action")),
            log_entry=pl.col("id"),
            assignee=pl.when(pl.col("action") == "assigned").then(pl.col("assignee")),
        ),
    )
    return Normalised(
        signals=finish(entry),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=merge_accounts(pl.concat([vault, assignees])),
        references=reference_rows(
            other, "log entry of no incident action (trigger, notification, ...): a reference"
        ),
    )


# -- V3 webhooks ---------------------------------------------------------------------------------
HOOK_INCIDENT = pl.Struct(
    {
        **text("id", "html_url", "number", "status", "created_at", "title", "urgency", "type"),
        "service": REF,
        "assignees": pl.List(REF),
        "priority": REF,
        "incident": REF,  # an incident_note names its incident here
    }
)
EVENT = pl.Struct({**text("id", "event_type", "occurred_at"), "agent": REF, "data": HOOK_INCIDENT})
HOOK = pl.Struct({"event": EVENT})
_EVENT = pl.col("event").struct.field
_DATA = _EVENT("data").struct.field
# ``occurred_at`` to the second, as log entries date the same change.
_OCCURRED = _EVENT("occurred_at").str.replace(r"\.\d+(Z|[+-]\d\d:?\d\d)$", "$1")
HOOK_ACTIONS = {
    "incident.triggered": "first_seen",
    "incident.acknowledged": "acknowledged",
    "incident.unacknowledged": "unacknowledged",
    "incident.resolved": "resolved",
    "incident.reassigned": "assigned",
    "incident.escalated": "escalated",
    "incident.delegated": "delegated",
    "incident.reopened": "reopened",
    "incident.priority_updated": "priority_updated",
}
REFERENCES = {
    "pagey.ping": "webhook test ping: no event",
    "incident.responder.added": "responder requested: no incident event",
    "incident.responder.replied": "responder replied: no incident event",
    "incident.status_update_published": "status update published: no incident event",
    "service.created": "service lifecycle: no event",
    "service.updated": "service lifecycle: no event",
    "service.deleted": "service lifecycle: no event",
}


def _hook_actor(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _attribute(rows, _EVENT("agent"), key)


def _incident_hook(event_type: str) -> WebhookEvent:
    action = HOOK_ACTIONS[event_type]
    triggered = action == "first_seen"
    return WebhookEvent(
        label=f"{event_type} delivery",
        dtype=HOOK,
        entity_type=pl.lit("incident"),
        entity_id="pagerduty:" + _DATA("id"),
        action=pl.lit(action),
        time=_DATA("created_at") if triggered else _OCCURRED,
        fallback_times=(("event.occurred_at", _OCCURRED),) if triggered else (),
        columns={
            **{
                name: expr
                for name, expr in _incident_columns(
                    _DATA("id"),
                    _DATA("html_url"),
                    _DATA("title"),
                    _DATA("service"),
                    status=_DATA("status"),
                    urgency=_DATA("urgency"),
                    priority=_DATA("priority").struct.field("summary"),
                    incident_number=_DATA("number").cast(pl.Int64, strict=False),
                    assignee=pl.col("assignee"),
                ).items()
                if name not in ("entity_type", "entity_id", "source")
            },
            "state": pl.lit(STATES.get(action), S),
        },
        problems=((_DATA("html_url").is_null(), f"{event_type} delivery has no html_url"),),
    )


ANNOTATED = WebhookEvent(
    label="incident.annotated delivery",
    dtype=HOOK,
    entity_type=pl.lit("incident"),
    entity_id="pagerduty:" + _DATA("incident").struct.field("id"),
    action=pl.lit("annotated"),
    time=_OCCURRED,
    columns={
        name: expr
        for name, expr in _incident_columns(
            _DATA("incident").struct.field("id"),
            _DATA("incident").struct.field("html_url"),
            _title(_DATA("incident").struct.field("summary")),
            _DATA("service"),  # a note names no service; the incident's other events do
            note=_DATA("id"),
        ).items()
        if name not in ("entity_type", "entity_id", "source")
    },
)


def _reference_hook(event_type: str) -> WebhookEvent:
    return WebhookEvent(
        label=f"{event_type} delivery",
        dtype=HOOK,
        entity_type=pl.lit("webhook"),
        entity_id=pl.coalesce(_EVENT("id"), pl.lit(event_type)),
        action=pl.lit(event_type),
        time=_OCCURRED,
        columns={},
        no_event=(pl.lit(True), REFERENCES[event_type]),
    )


Normaliser = Callable[[pl.DataFrame, str], Normalised]


def _normaliser(event: WebhookEvent, *, assignee: bool) -> Normaliser:
    def normaliser(landing: pl.DataFrame, key: str) -> Normalised:
        def actor(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
            rows, vault = _hook_actor(rows, key)
            if not assignee:
                return rows, vault
            rows, people = _assignee(rows, _DATA("assignees").list.first(), key)
            return rows, merge_accounts(pl.concat([vault, people]))

        return webhook_events(landing, key, event, source=SOURCE, actor=actor)

    normaliser.__doc__ = f"PagerDuty ``{event.label}`` → events (see the module docstring)."
    return normaliser


def _kind(event_type: str) -> str:
    """The landing kind of a delivery: ``incident.triggered`` → ``webhook:incident_triggered``."""
    return "webhook:" + event_type.replace(".", "_")


WEBHOOKS: dict[str, Normaliser] = {
    **{_kind(t): _normaliser(_incident_hook(t), assignee=True) for t in HOOK_ACTIONS},
    _kind("incident.annotated"): _normaliser(ANNOTATED, assignee=False),
    **{_kind(t): _normaliser(_reference_hook(t), assignee=False) for t in REFERENCES},
}
