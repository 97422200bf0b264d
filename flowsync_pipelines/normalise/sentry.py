"""Sentry records → signals: issues as ``incident``s, releases, and release deploys.

An issue (``sentry:<project>/<id>``) yields ``first_seen`` at ``firstSeen``, and ``resolved``
when it is resolved and the record says when (an ``activity`` entry of type ``set_resolved``,
as the issue-details endpoint gives; the list endpoint gives no resolution time, so a listed
issue that is resolved keeps its status in ``attributes`` only). Its latest event yields
``last_seen`` at the event's ``dateCreated``, carrying the ``release`` and ``environment`` the
SDK tagged it with.

A release (``sentry:<project>/releases/<version>``) yields ``created`` and, once finalised,
``released``; a deploy of a release (``sentry:<project>/deploys/<id>``) yields ``started`` and
``finished``. These are Sentry's view of deployments the CI tools report themselves, so they
keep their own actions instead of ``created`` / ``status_success``, which would count every
deploy twice.

Sentry sends counts as strings (``"count": "42"``) and ids as strings or numbers; every field is
read as text and cast. Error titles can quote an email address; like every title, they are
pseudonymised by :func:`flowsync_pipelines.normalise.normalise`. The end user an event happened
to and release authors are personal data (of people outside the organisation, or names): they
are not read.

Integration-platform webhooks (kind ``webhook:<Sentry-Hook-Resource>``, the whole body as
payload):

- ``issue`` names the same incident, by ``data.issue.project.slug``: ``created`` →
  ``first_seen`` at ``firstSeen``; ``resolved``, ``unresolved``, ``assigned`` and ``ignored``
  (``archived`` in newer Sentry) → events of those names, by the delivery's ``actor``, at the
  time the delivery was received (the body carries no time for a status change);
- ``event_alert`` (an issue alert rule fired, action ``triggered``) → ``alert_triggered`` and
  ``error`` (action ``created``) → ``error_seen`` on the incident ``sentry:<project>/<issue
  id>`` of ``data.event`` / ``data.error``, at the event's ``datetime`` (else its epoch
  ``timestamp``, recorded), with its release, environment, ``culprit`` and ``files`` (in-app
  stack frames and ``metadata.filename``) as the polled latest event has them; the project is
  the slug in the event's API ``url`` (``/api/0/projects/<org>/<project>/events/…``);
- ``metric_alert`` → the incident ``sentry:metric_alert/<id>`` of its own, ``critical`` /
  ``warning`` at ``date_started`` (else ``date_detected``, ``date_created``) and ``resolved`` at
  ``date_closed`` (the receipt time when Sentry sends none), titled by ``description_title``;
- ``comment`` → ``commented`` / ``edited`` / ``deleted`` on the comment
  ``sentry:<project>/<issue id>/comments/<id>`` at its ``timestamp``, by its author, its
  ``attributes.incident`` naming the incident it belongs to;
- ``installation`` is the integration being installed or removed: a reference, no event.

Sentry's own actor (``{"type": "application", "id": "sentry"}``, alert rules firing) is a bot
with no pseudonym; a user is human, pseudonymised by id; no actor is unknown.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Happening,
    Normalised,
    PolledKind,
    WebhookEvent,
    actor_columns,
    bad_timestamp,
    decode,
    finish,
    merge_accounts,
    missing,
    once_set,
    optional_timestamp,
    polled,
    split_rejected,
    text,
    utc,
    vault_rows,
    webhook_events,
    with_receipt_time,
)

S = pl.String
SOURCE = "sentry"
DEFAULT_WEB_ROOT = "https://sentry.io"
SHA = r"^[0-9a-f]{40}$"
USER = pl.Struct({"id": S, "name": S, "email": S, "type": S})


NO_KEYS = pl.lit([], pl.List(S))


def _requests(decoded: pl.DataFrame, landing: pl.DataFrame) -> pl.DataFrame:
    """Add ``web_root`` and ``organization`` from the API URL each record was read from."""
    found = landing.select(
        "landing_ref",
        pl.coalesce(
            pl.col("request").str.extract(r"^(https?://.*?)/api/0/"), pl.lit(DEFAULT_WEB_ROOT)
        ).alias("web_root"),
        pl.col("request")
        .str.extract(r"/api/0/(?:projects|organizations)/([^/]+)/")
        .alias("organization"),
    ).unique("landing_ref")
    return decoded.join(found, on="landing_ref", how="left")


def _user_kind(user: str) -> pl.Expr:
    return (
        pl.when(pl.col(user).struct.field("id").is_null())
        .then(pl.lit("unknown"))
        .otherwise(pl.lit("human"))
    )


def _vault(users: pl.Series, key: str) -> pl.DataFrame:
    """Vault rows of the users in ``users`` (an assignee may be a team: not a person)."""
    is_user = pl.col("user").struct.field("type").fill_null("user") == "user"
    return vault_rows([users], key, SOURCE, _user_kind, "id", "name", "email", USER, is_user)


# -- issues and their latest events -------------------------------------------------------------
# What an error names of its cause: the file and function of its top in-app frame.
METADATA = pl.Struct({"filename": S, "function": S, "type": S, "value": S})
ISSUE = pl.Struct(
    {
        "id": S,
        "shortId": S,
        "title": S,
        "culprit": S,
        "permalink": S,
        "level": S,
        "status": S,
        "substatus": S,
        "priority": S,
        "count": S,
        "userCount": S,
        "firstSeen": S,
        "lastSeen": S,
        "assignedTo": USER,
        "project": pl.Struct({"id": S, "slug": S}),
        "activity": pl.List(pl.Struct({"type": S, "dateCreated": S, "user": USER})),
        "metadata": METADATA,
        "firstRelease": pl.Struct({"version": S}),  # the issue-details endpoint gives it
    }
)


def _with_assignee(issue: pl.DataFrame, key: str) -> pl.DataFrame:
    """Add ``assignee``: the pseudonym of ``assignee_user`` (a user; a team is not a person)."""
    issue = issue.with_columns(
        _user_kind("assignee_user").alias("assignee_kind"),
        pl.col("assignee_user").struct.field("id").alias("assignee_id"),
    )
    return actor_columns(
        issue, source=SOURCE, handle="assignee_id", kind="assignee_kind", key=key
    ).rename({"actor": "assignee"})


def _metadata_files() -> pl.Expr:
    """``[metadata.filename]``, or no files when the error names none."""
    filename = pl.col("metadata").struct.field("filename")
    return (
        pl.when(filename.is_not_null())
        .then(pl.concat_list(filename))
        .otherwise(pl.lit([], pl.List(S)))
    )


def _incident_id(project: pl.Expr) -> pl.Expr:
    return "sentry:" + project + "/" + pl.col("id")


def _incident_columns(project: pl.Expr, url: pl.Expr) -> dict[str, pl.Expr]:
    """The link and typed attributes of the incident ``sentry:<project>/<issue id>``.

    Besides the issue's state, ``attributes`` carries what it says of its cause, for linking it
    to the deployment that shipped it: ``culprit`` (Sentry's "file/function" text), ``files``
    (``[metadata.filename]``; the latest event adds its in-app stack frames) and
    ``first_release`` (the version it was first seen in, when the record says).
    """
    return {
        "url": url,
        "ticket_keys": NO_KEYS,
        "attributes": pl.struct(
            project.alias("project"),
            pl.col("shortId").alias("short_id"),
            pl.col("level"),
            pl.col("status"),
            pl.col("substatus"),
            pl.col("priority"),
            pl.col("count").cast(pl.Int64, strict=False),
            pl.col("userCount").cast(pl.Int64, strict=False).alias("user_count"),
            pl.col("lastSeen").alias("last_seen"),
            pl.col("assignee"),
            pl.col("culprit"),
            _metadata_files().alias("files"),
            pl.col("firstRelease").struct.field("version").alias("first_release"),
        ).struct.json_encode(),
    }


def _issue_people(issue: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``assignee`` (see :func:`_with_assignee`) and, for a resolved issue, ``resolver_actor``
    and ``resolver_kind``: Sentry resolving an issue itself (auto-resolve, a release) has no
    user, so Sentry is a bot."""
    issue = _with_assignee(issue, key).with_columns(
        pl.when(pl.col("resolver").struct.field("id").is_null())
        .then(pl.lit("bot"))
        .otherwise(pl.lit("human"))
        .alias("resolver_kind"),
        pl.col("resolver").struct.field("id").alias("resolver_id"),
    )
    issue = actor_columns(
        issue, source=SOURCE, handle="resolver_id", kind="resolver_kind", key=key
    ).rename({"actor": "resolver_actor"})
    resolvers = issue.filter(_RESOLVED).get_column("resolver")
    vault = pl.concat([_vault(issue.get_column("assignee_user"), key), _vault(resolvers, key)])
    return issue, vault


_RESOLUTION = (
    pl.col("activity")
    .list.eval(pl.element().filter(pl.element().struct.field("type") == "set_resolved"))
    .list.last()
)
_RESOLVED = (pl.col("status") == "resolved") & pl.col("resolved_at").is_not_null()
_ORGANIZATION_URL = pl.col("web_root") + "/organizations/" + pl.col("organization")
ISSUES = PolledKind(
    dtype=ISSUE,
    prepare=_requests,
    derived=(
        {
            "resolved_at": _RESOLUTION.struct.field("dateCreated"),
            "resolver": _RESOLUTION.struct.field("user"),
            "assignee_user": pl.when(
                pl.col("assignedTo").struct.field("type").fill_null("user") == "user"
            ).then(pl.col("assignedTo")),
        },
    ),
    problems=(
        missing("issue"),
        bad_timestamp("firstSeen", "firstSeen"),
        optional_timestamp("resolved_at", "activity.set_resolved.dateCreated"),
    ),
    actor=_issue_people,
    entity_type="incident",
    entity_id=_incident_id(pl.col("scope")),
    columns=_incident_columns(
        pl.col("scope"),
        pl.coalesce("permalink", _ORGANIZATION_URL + "/issues/" + pl.col("id") + "/"),
    ),
    happenings=(
        Happening(
            "first_seen",
            utc(pl.col("firstSeen")),
            "unresolved",
            columns={"actor_kind": pl.lit("unknown")},
        ),
        Happening(
            "resolved",
            utc(pl.col("resolved_at")),
            "resolved",
            when=_RESOLVED,
            columns={"actor": pl.col("resolver_actor"), "actor_kind": pl.col("resolver_kind")},
        ),
    ),
)
issues = polled(ISSUES, SOURCE, "Issues: ``first_seen`` and, once resolved, ``resolved``.")
issue_details = polled(
    ISSUES,
    SOURCE,
    """An issue as its details endpoint gives it (read for resolved issues): the same events as
    the list's, and ``resolved`` dated by the ``set_resolved`` activity the list leaves out.""",
)


TAG = pl.Struct({"key": S, "value": S})
# The API names frame fields in camelCase, an event's raw JSON in snake_case: both are read.
FRAME = pl.Struct(text("filename", "absPath", "abs_path", "inApp", "in_app"))
STACKTRACE = pl.Struct({"frames": pl.List(FRAME)})
ENTRY = pl.Struct(
    {"type": S, "data": pl.Struct({"values": pl.List(pl.Struct({"stacktrace": STACKTRACE}))})}
)
EVENT = pl.Struct(
    {
        "id": S,
        "eventID": S,
        "groupID": S,
        "title": S,
        "platform": S,
        "dateCreated": S,
        "environment": S,
        "tags": pl.List(TAG),
        "release": pl.Struct({"version": S}),
        "culprit": S,
        "metadata": METADATA,
        "entries": pl.List(ENTRY),
    }
)


def _tag(name: str) -> pl.Expr:
    return (
        pl.col("tags")
        .list.eval(pl.element().filter(pl.element().struct.field("key") == name))
        .list.first()
        .struct.field("value")
    )


def _in_app_files(event: pl.DataFrame) -> pl.DataFrame:
    """``landing_ref`` → ``files``: the sorted distinct paths of the in-app stack frames of the
    event's ``exception`` entries, and its ``metadata.filename``."""
    frames = (
        event.select("landing_ref", "entries")
        .explode("entries")
        .unnest("entries")
        .filter(pl.col("type") == "exception")
        .select("landing_ref", pl.col("data").struct.field("values"))
        .explode("values")
        .select("landing_ref", pl.col("values").struct.field("stacktrace").struct.field("frames"))
        .explode("frames")
        .unnest("frames")
        .filter(pl.coalesce("inApp", "in_app") == "true")
        .select("landing_ref", pl.coalesce("filename", "absPath", "abs_path").alias("file"))
    )
    named = event.select("landing_ref", pl.col("metadata").struct.field("filename").alias("file"))
    return (
        pl.concat([frames, named])
        .drop_nulls()
        .group_by("landing_ref")
        .agg(pl.col("file").unique().sort().alias("files"))
    )


LATEST_EVENTS = PolledKind(
    dtype=EVENT,
    prepare=lambda rows, landing: _with_files(_requests(rows, landing)),
    derived=(
        {
            "issue_id": pl.coalesce("groupID", "record_id"),
            "event_id_": pl.coalesce("eventID", "id"),
        },
    ),
    problems=(
        pl.when(pl.col("event_id_").is_null()).then(pl.lit("event has no eventID")),
        bad_timestamp("dateCreated", "dateCreated"),
    ),
    entity_type="incident",
    entity_id="sentry:" + pl.col("scope") + "/" + pl.col("issue_id"),
    columns={
        "actor_kind": pl.lit("unknown"),
        "release": pl.coalesce(pl.col("release").struct.field("version"), _tag("release")),
        "environment": pl.coalesce(pl.col("environment"), _tag("environment")),
        "url": pl.col("web_root")
        + "/issues/"
        + pl.col("issue_id")
        + "/events/"
        + pl.col("event_id_")
        + "/",
        "ticket_keys": NO_KEYS,
        "attributes": pl.struct(
            pl.col("scope").alias("project"),
            pl.col("event_id_").alias("event_id"),
            _tag("level").alias("level"),
            pl.col("platform"),
            _tag("transaction").alias("transaction"),
            pl.col("culprit"),
            pl.col("files"),
        ).struct.json_encode(),
    },
    happenings=(Happening("last_seen", utc(pl.col("dateCreated"))),),
)
latest_events = polled(
    LATEST_EVENTS,
    SOURCE,
    """An issue's latest event: ``last_seen``, with the release and environment it ran in, and
    its ``culprit`` and ``files`` (see :func:`_in_app_files`) in ``attributes``.""",
)


def _with_files(event: pl.DataFrame) -> pl.DataFrame:
    return event.join(_in_app_files(event), on="landing_ref", how="left").with_columns(
        pl.col("files").fill_null(pl.lit([], pl.List(S)))
    )


# -- releases and deploys -----------------------------------------------------------------------
RELEASE = pl.Struct(
    {
        **text("version", "shortVersion", "ref", "url", "dateCreated", "dateReleased"),
        **text("newGroups", "commitCount", "deployCount", "status"),
        "owner": USER,
    }
)


def _owner(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = actor_columns(rows, source=SOURCE, handle="owner_id", kind="actor_kind", key=key)
    return rows, _vault(rows.get_column("owner"), key)


_RELEASE_PAGE = _ORGANIZATION_URL + "/releases/" + pl.col("version") + "/"
RELEASES = PolledKind(
    dtype=RELEASE,
    prepare=_requests,
    derived=(
        {
            "actor_kind": _user_kind("owner"),
            "owner_id": pl.col("owner").struct.field("id"),
        },
    ),
    problems=(
        missing("release", "version"),
        bad_timestamp("dateCreated", "dateCreated"),
        optional_timestamp("dateReleased"),
    ),
    actor=_owner,
    entity_type="release",
    entity_id="sentry:" + pl.col("scope") + "/releases/" + pl.col("version"),
    columns={
        "release": pl.col("version"),
        "title": pl.coalesce("shortVersion", "version"),
        "commit_sha": pl.when(pl.col("ref").str.contains(SHA)).then(pl.col("ref")),
        "url": pl.coalesce("url", _RELEASE_PAGE),
        "ticket_keys": NO_KEYS,
        "attributes": pl.struct(
            pl.col("ref"),
            pl.col("newGroups").cast(pl.Int64, strict=False).alias("new_groups"),
            pl.col("commitCount").cast(pl.Int64, strict=False).alias("commit_count"),
            pl.col("deployCount").cast(pl.Int64, strict=False).alias("deploy_count"),
            pl.col("status").alias("release_status"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening("created", utc(pl.col("dateCreated")), "created"),
        once_set("dateReleased", "released", "released"),
    ),
)
releases = polled(RELEASES, SOURCE, "Releases: ``created`` and, once out, ``released``.")


DEPLOY = pl.Struct(text("id", "environment", "name", "url", "dateStarted", "dateFinished"))
DEPLOYS = PolledKind(
    dtype=DEPLOY,
    prepare=_requests,
    derived=({"version": pl.col("record_id").str.extract(r"^(.+)/deploys/[^/]*$")},),
    problems=(
        missing("deploy"),
        pl.when(pl.col("version").is_null()).then(
            pl.lit("deploy record id names no release (<version>/deploys/<id>)")
        ),
        missing("deploy", "environment"),
        pl.when(pl.col("dateStarted").is_null() & pl.col("dateFinished").is_null()).then(
            pl.lit("deploy has neither dateStarted nor dateFinished")
        ),
        optional_timestamp("dateStarted"),
        optional_timestamp("dateFinished"),
    ),
    entity_type="deployment",
    entity_id="sentry:" + pl.col("scope") + "/deploys/" + pl.col("id"),
    columns={
        "deployment_id": pl.col("id"),
        "release": pl.col("version"),
        "title": pl.coalesce("name", pl.col("version") + " to " + pl.col("environment")),
        "url": pl.coalesce("url", _RELEASE_PAGE),
        "actor_kind": pl.lit("unknown"),
        "ticket_keys": NO_KEYS,
    },
    happenings=(
        once_set("dateStarted", "started", "in_progress"),
        once_set("dateFinished", "finished", "finished"),
    ),
)
deploys = polled(
    DEPLOYS,
    SOURCE,
    """A release deploy: ``started`` (when given) and, once it has finished, ``finished``.

    The payload does not name its release; the record id (``<version>/deploys/<id>``) does.
    """,
)


# -- webhooks -----------------------------------------------------------------------------------
HOOK_ISSUE = pl.Struct({**{f.name: f.dtype for f in ISSUE.fields}, "web_url": S, "url": S})
WEBHOOK = pl.Struct(
    {
        "action": S,
        "actor": pl.Struct({"id": S, "type": S, "name": S}),
        "data": pl.Struct({"issue": HOOK_ISSUE}),
    }
)
# Webhook action → (event, state); ``None`` keeps the issue's own status.
ISSUE_ACTIONS: dict[str, tuple[str, str | None]] = {
    "created": ("first_seen", "unresolved"),
    "resolved": ("resolved", "resolved"),
    "unresolved": ("unresolved", "unresolved"),
    "ignored": ("ignored", "ignored"),
    "archived": ("ignored", "ignored"),
    "assigned": ("assigned", None),
}


def issue_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``issue`` deliveries: an event of the polled incident ``sentry:<project slug>/<id>``.

    ``created`` → ``first_seen`` at ``firstSeen`` (no actor, as polled); ``resolved``,
    ``unresolved``, ``assigned`` and ``ignored`` / ``archived`` (→ ``ignored``) at the time the
    delivery was received, by the ``actor``: a user is human, Sentry itself (``id`` ``sentry``)
    or an integration a bot with no pseudonym (as a polled auto-resolution), no actor unknown.
    """
    decoded, undecodable = decode(landing, WEBHOOK)
    hook = (
        with_receipt_time(decoded, landing)
        .with_columns(
            pl.col("doc").struct.field("action").alias("hook_action"),
            pl.col("doc").struct.field("actor").alias("by"),
            pl.col("doc").struct.field("data").struct.field("issue"),
        )
        .drop("doc")
        .unnest("issue")
    )
    hook = hook.with_columns(
        pl.col("hook_action")
        .replace_strict({a: e for a, (e, _) in ISSUE_ACTIONS.items()}, default=None)
        .alias("action"),
        pl.coalesce(
            pl.col("project").struct.field("slug"), pl.col("scope").replace("", None)
        ).alias("project_slug"),
        pl.when(pl.col("assignedTo").struct.field("type").fill_null("user") == "user")
        .then(pl.col("assignedTo"))
        .alias("assignee_user"),
    )
    created = pl.col("hook_action") == "created"
    hook, quarantine = split_rejected(
        hook,
        undecodable,
        pl.when(pl.col("action").is_null()).then(
            pl.lit("issue action has no event: ") + pl.col("hook_action").fill_null("null")
        ),
        pl.when(pl.col("id").is_null()).then(pl.lit("issue has no id (data.issue.id)")),
        pl.when(pl.col("project_slug").is_null()).then(
            pl.lit("issue names no project (data.issue.project.slug)")
        ),
        pl.when(created).then(bad_timestamp("firstSeen", "data.issue.firstSeen")),
    )
    by_id = pl.col("by").struct.field("id")
    person = (pl.col("by").struct.field("type") == "user") & by_id.is_not_null()
    hook = hook.with_columns(
        pl.when(created)
        .then(pl.lit("unknown"))
        .when(person)
        .then(pl.lit("human"))
        .when(by_id.is_not_null() | pl.col("by").struct.field("type").is_not_null())
        .then(pl.lit("bot"))
        .otherwise(pl.lit("unknown"))
        .alias("actor_kind"),
        pl.when(person & ~created).then(by_id).alias("by_id"),
        pl.struct(
            by_id.alias("id"),
            pl.col("by").struct.field("name").alias("name"),
            pl.lit(None, S).alias("email"),
            pl.lit("user").alias("type"),
        ).alias("by_user"),
    )
    hook = actor_columns(
        _with_assignee(hook, key), source=SOURCE, handle="by_id", kind="actor_kind", key=key
    )
    events = hook.with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.lit("incident").alias("entity_type"),
        _incident_id(pl.col("project_slug")).alias("entity_id"),
        pl.when(created)
        .then(utc(pl.col("firstSeen")))
        .otherwise(pl.col("received_at"))
        .alias("occurred_at"),
        pl.col("hook_action")
        .replace_strict({a: s for a, (_, s) in ISSUE_ACTIONS.items()}, default=None)
        .fill_null(pl.col("status"))
        .alias("state"),
        **_incident_columns(
            pl.col("project_slug"),
            pl.coalesce(
                "permalink", "web_url", pl.col("url").str.replace("/api/0/", "/", literal=True)
            ),
        ),
    )
    return Normalised(
        signals=finish(events),
        quarantine=quarantine,
        accounts=merge_accounts(
            pl.concat(
                [
                    _vault(hook.get_column("assignee_user"), key),
                    _vault(hook.filter(pl.col("by_id").is_not_null()).get_column("by_user"), key),
                ]
            )
        ),
    )


# -- event_alert, error, metric_alert, comment, installation ------------------------------------
HOOK_ACTOR = pl.Struct({"id": S, "type": S, "name": S})
# An event as webhooks serialise it (snake_case; ``tags`` as ``[key, value]`` pairs).
HOOK_FRAME = pl.Struct(text("filename", "abs_path", "in_app"))
HOOK_STACKTRACE = pl.Struct({"frames": pl.List(HOOK_FRAME)})
HOOK_EVENT = pl.Struct(
    {
        **text("event_id", "issue_id", "issue_url", "url", "web_url", "title", "culprit"),
        **text("level", "platform", "release", "environment", "datetime", "timestamp"),
        "metadata": METADATA,
        "tags": pl.List(pl.List(S)),
        "exception": pl.Struct(
            {
                "values": pl.List(
                    pl.Struct({"stacktrace": pl.Struct({"frames": pl.List(HOOK_FRAME)})})
                )
            }
        ),
    }
)
EVENT_API_URL = r"^(https?://[^/]+)/api/0/projects/([^/]+)/([^/]+)/events/"


def _hook_actor(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Attribute a delivery to its ``actor``: a user is human (pseudonym of their id), Sentry
    itself or an integration a bot with no pseudonym, no actor unknown."""
    by = pl.col("actor")
    by_id = by.struct.field("id")
    person = (by.struct.field("type") == "user") & by_id.is_not_null()
    rows = rows.with_columns(
        pl.when(person)
        .then(pl.lit("human"))
        .when(by_id.is_not_null() | by.struct.field("type").is_not_null())
        .then(pl.lit("bot"))
        .otherwise(pl.lit("unknown"))
        .alias("actor_kind"),
        pl.when(person).then(by_id).alias("actor_id"),
        pl.struct(
            by_id.alias("id"),
            by.struct.field("name").alias("name"),
            pl.lit(None, S).alias("email"),
            pl.lit("user").alias("type"),
        ).alias("actor_user"),
    )
    rows = actor_columns(rows, source=SOURCE, handle="actor_id", kind="actor_kind", key=key)
    people = rows.filter(pl.col("actor_id").is_not_null()).get_column("actor_user")
    return rows, _vault(people, key)


def _tag_pair(tags: pl.Expr, name: str) -> pl.Expr:
    """The value of ``[name, value]`` in a webhook event's ``tags``."""
    return (
        tags.list.eval(pl.element().filter(pl.element().list.first() == name))
        .list.first()
        .list.get(1, null_on_oob=True)
    )


def _hook_event_files(event: pl.Expr) -> pl.Expr:
    """The sorted distinct paths of the in-app frames of ``event``'s exceptions, and its
    ``metadata.filename`` (as :func:`_in_app_files` reads a polled event)."""
    frames = (
        event.struct.field("exception")
        .struct.field("values")
        .list.eval(
            pl.element()
            .struct.field("stacktrace")
            .struct.field("frames")
            .list.explode(keep_nulls=False, empty_as_null=False)
        )
        .list.eval(
            pl.element()
            .filter(pl.element().struct.field("in_app") == "true")
            .struct.field("filename")
        )
    )
    named = event.struct.field("metadata").struct.field("filename")
    return (
        pl.concat_list(frames.fill_null(pl.lit([], pl.List(S))), named)
        .list.drop_nulls()
        .list.unique()
        .list.sort()
    )


def _event_hook(resource: str, field: str, trigger: str, action: str) -> WebhookEvent:
    """``event_alert`` / ``error``: ``action`` on the incident of the event in ``data.<field>``
    when the delivery's action is ``trigger``."""
    event = pl.col("data").struct.field(field)
    project = event.struct.field("url").str.extract(EVENT_API_URL, 3)
    issue_id = pl.coalesce(
        event.struct.field("issue_id"),
        event.struct.field("issue_url").str.extract(r"/issues/(\d+)/?$", 1),
        event.struct.field("web_url").str.extract(r"/issues/(\d+)/", 1),
    )
    tags = event.struct.field("tags")
    data = {field: HOOK_EVENT, "triggered_rule": S, "issue_alert": pl.Struct({"title": S})}
    return WebhookEvent(
        label=resource.replace("_", " "),
        dtype=pl.Struct({"action": S, "actor": HOOK_ACTOR, "data": pl.Struct(data)}),
        entity_type=pl.lit("incident"),
        entity_id=pl.when(project.is_not_null()).then("sentry:" + project + "/" + issue_id),
        action=pl.when(pl.col("action") == trigger).then(pl.lit(action)),
        time=event.struct.field("datetime"),
        fallback_times=((f"data.{field}.timestamp", event.struct.field("timestamp")),),
        problems=(
            (
                project.is_null(),
                f"{resource} names no project (data.{field}.url is not "
                "…/api/0/projects/<org>/<project>/events/…)",
            ),
        ),
        columns={
            "title": event.struct.field("title"),
            "release": pl.coalesce(event.struct.field("release"), _tag_pair(tags, "release")),
            "environment": pl.coalesce(
                event.struct.field("environment"), _tag_pair(tags, "environment")
            ),
            "url": pl.coalesce(
                event.struct.field("web_url"),
                event.struct.field("url").str.extract(EVENT_API_URL, 1)
                + "/issues/"
                + issue_id
                + "/events/"
                + event.struct.field("event_id")
                + "/",
            ),
            "ticket_keys": pl.lit([], pl.List(S)),
            "attributes": pl.struct(
                project.alias("project"),
                event.struct.field("event_id"),
                pl.coalesce(event.struct.field("level"), _tag_pair(tags, "level")).alias("level"),
                event.struct.field("platform"),
                event.struct.field("culprit"),
                _hook_event_files(event).alias("files"),
                pl.col("data").struct.field("triggered_rule"),
            ).struct.json_encode(),
        },
    )


METRIC_ALERT = pl.Struct(
    {
        **text("id", "identifier", "title", "status", "date_started", "date_detected"),
        **text("date_created", "date_closed"),
        "projects": pl.List(S),
        "alert_rule": pl.Struct(text("id", "name", "aggregate", "query", "dataset")),
    }
)
METRIC_ACTIONS = ("critical", "warning", "resolved")


def _metric_alert_hook() -> WebhookEvent:
    alert = pl.col("data").struct.field("metric_alert")
    rule = alert.struct.field("alert_rule")
    resolved = pl.col("action") == "resolved"
    data = {
        "metric_alert": METRIC_ALERT,
        **text("description_title", "description_text", "web_url"),
    }
    return WebhookEvent(
        label="metric alert",
        dtype=pl.Struct({"action": S, "actor": HOOK_ACTOR, "data": pl.Struct(data)}),
        entity_type=pl.lit("incident"),
        entity_id="sentry:metric_alert/" + alert.struct.field("id"),
        action=pl.when(pl.col("action").is_in(METRIC_ACTIONS)).then(pl.col("action")),
        # A resolution Sentry sends without ``date_closed`` is dated on receipt.
        time=pl.when(resolved)
        .then(alert.struct.field("date_closed"))
        .otherwise(alert.struct.field("date_started")),
        fallback_times=(
            ("date_detected", pl.when(~resolved).then(alert.struct.field("date_detected"))),
            ("date_created", pl.when(~resolved).then(alert.struct.field("date_created"))),
        ),
        columns={
            "title": pl.coalesce(
                pl.col("data").struct.field("description_title"),
                rule.struct.field("name"),
                alert.struct.field("title"),
            ),
            "state": pl.col("action"),
            "url": pl.col("data").struct.field("web_url"),
            "ticket_keys": pl.lit([], pl.List(S)),
            "attributes": pl.struct(
                alert.struct.field("projects"),
                alert.struct.field("identifier"),
                alert.struct.field("title").alias("incident_name"),
                rule.struct.field("id").alias("alert_rule_id"),
                rule.struct.field("name").alias("alert_rule"),
                rule.struct.field("aggregate"),
                rule.struct.field("query"),
                alert.struct.field("date_detected"),
                pl.col("data").struct.field("description_text"),
            ).struct.json_encode(),
        },
        problems=(
            (pl.col("data").struct.field("web_url").is_null(), "metric alert has no web_url"),
        ),
    )


COMMENT_ACTIONS = {"created": "commented", "updated": "edited", "deleted": "deleted"}


def _comment_hook() -> WebhookEvent:
    data = pl.col("data")
    project = pl.coalesce(data.struct.field("project_slug"), pl.col("scope").replace("", None))
    incident = "sentry:" + project + "/" + data.struct.field("issue_id")
    body = data.struct.field("comment")
    return WebhookEvent(
        label="comment",
        dtype=pl.Struct(
            {
                "action": S,
                "actor": HOOK_ACTOR,
                "data": pl.Struct(
                    text("comment", "project_slug", "comment_id", "issue_id", "timestamp")
                ),
            }
        ),
        entity_type=pl.lit("comment"),
        entity_id=incident + "/comments/" + data.struct.field("comment_id"),
        action=pl.col("action").replace_strict(COMMENT_ACTIONS, default=None),
        time=data.struct.field("timestamp"),
        problems=(
            (project.is_null(), "comment names no project (data.project_slug)"),
            (data.struct.field("issue_id").is_null(), "comment names no issue (data.issue_id)"),
        ),
        columns={
            "title": body.str.replace_all("\r", "", literal=True)
            .str.strip_chars()
            .str.split("\n")
            .list.first(),
            # The body names no organization: Sentry's /issues/<id>/ resolves it.
            "url": DEFAULT_WEB_ROOT + "/issues/" + data.struct.field("issue_id") + "/activity/",
            "ticket_keys": body.fill_null("").str.extract_all(TICKET_KEY).list.unique(),
            "attributes": pl.struct(
                incident.alias("incident"), project.alias("project")
            ).struct.json_encode(),
        },
    )


HOOKS: dict[str, WebhookEvent] = {
    "event_alert": _event_hook("event_alert", "event", "triggered", "alert_triggered"),
    "error": _event_hook("error", "error", "created", "error_seen"),
    "metric_alert": _metric_alert_hook(),
    "comment": _comment_hook(),
    # The integration installed or removed: no engineering event.
    "installation": WebhookEvent(
        label="installation",
        dtype=pl.Struct({"action": S, "actor": HOOK_ACTOR, "installation": pl.Struct({"uuid": S})}),
        entity_type=pl.lit("integration"),
        entity_id=pl.coalesce(pl.col("installation").struct.field("uuid"), pl.lit("")),
        action=pl.coalesce(pl.col("action"), pl.lit("")),
        time=pl.lit(None, S),
        columns={},
        no_event=(pl.lit(True), "integration installation lifecycle: no event"),
    ),
}


def _webhook(resource: str) -> Callable[[pl.DataFrame, str], Normalised]:
    def normaliser(landing: pl.DataFrame, key: str) -> Normalised:
        return webhook_events(landing, key, HOOKS[resource], source=SOURCE, actor=_hook_actor)

    normaliser.__doc__ = f"Sentry ``{resource}`` webhook deliveries → events (see ``HOOKS``)."
    return normaliser


WEBHOOKS: dict[str, Callable[[pl.DataFrame, str], Normalised]] = {
    "webhook:issue": issue_webhooks,
    **{f"webhook:{resource}": _webhook(resource) for resource in HOOKS},
}
