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

Integration-platform ``issue`` webhooks (kind ``webhook:issue``, the whole body as payload) name
the same incident, by ``data.issue.project.slug``: ``created`` → ``first_seen`` at
``firstSeen``; ``resolved``, ``unresolved``, ``assigned`` and ``ignored`` (``archived`` in newer
Sentry) → events of those names, by the delivery's ``actor``, at the time the delivery was
received (the body carries no time for a status change).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    Normalised,
    accounts,
    actor_columns,
    bad_timestamp,
    decode,
    finish,
    first_reason,
    merge_accounts,
    quarantine_rows,
    text,
    utc,
)

S = pl.String
SOURCE = "sentry"
DEFAULT_WEB_ROOT = "https://sentry.io"
SHA = r"^[0-9a-f]{40}$"
USER = pl.Struct({"id": S, "name": S, "email": S, "type": S})


def _optional_time(column: str, label: str) -> pl.Expr:
    return pl.when(pl.col(column).is_not_null()).then(bad_timestamp(column, label))


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
    frame = users.cast(USER).rename("user").to_frame().drop_nulls()
    frame = frame.with_columns(
        _user_kind("user").alias("actor_kind"),
        pl.col("user").struct.field("id").alias("account_id"),
        pl.col("user").struct.field("name").alias("name"),
        pl.col("user").struct.field("email").alias("email"),
    ).filter(pl.col("user").struct.field("type").fill_null("user") == "user")
    frame = actor_columns(frame, source=SOURCE, handle="account_id", kind="actor_kind", key=key)
    return accounts(frame, source=SOURCE, handle="account_id", name="name", email="email")


def _quarantine(rejected: pl.DataFrame, undecodable: pl.DataFrame) -> pl.DataFrame:
    return quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed"))


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


def issues(landing: pl.DataFrame, key: str) -> Normalised:
    decoded, undecodable = decode(landing, ISSUE)
    issue = _requests(decoded, landing).unnest("doc")
    resolution = (
        pl.col("activity")
        .list.eval(pl.element().filter(pl.element().struct.field("type") == "set_resolved"))
        .list.last()
    )
    issue = issue.with_columns(
        resolution.struct.field("dateCreated").alias("resolved_at"),
        resolution.struct.field("user").alias("resolver"),
        pl.when(pl.col("assignedTo").struct.field("type").fill_null("user") == "user")
        .then(pl.col("assignedTo"))
        .alias("assignee_user"),
    )
    issue = issue.with_columns(
        first_reason(
            pl.when(pl.col("id").is_null()).then(pl.lit("issue has no id")),
            bad_timestamp("firstSeen", "firstSeen"),
            _optional_time("resolved_at", "activity.set_resolved.dateCreated"),
        )
    )
    rejected = issue.filter(pl.col("reason").is_not_null())
    issue = _with_assignee(issue.filter(pl.col("reason").is_null()), key).with_columns(
        *_incident_columns(
            pl.col("scope"),
            pl.coalesce(
                "permalink",
                pl.col("web_root")
                + "/organizations/"
                + pl.col("organization")
                + "/issues/"
                + pl.col("id")
                + "/",
            ),
        )
    )
    first_seen = issue.with_columns(
        pl.lit("first_seen").alias("action"),
        utc(pl.col("firstSeen")).alias("occurred_at"),
        pl.lit("unresolved").alias("state"),
        pl.lit("unknown").alias("actor_kind"),
    )
    # Sentry resolving an issue itself (auto-resolve, a release) has no user: Sentry is a bot.
    resolved = (
        issue.filter((pl.col("status") == "resolved") & pl.col("resolved_at").is_not_null())
        .with_columns(
            pl.when(pl.col("resolver").struct.field("id").is_null())
            .then(pl.lit("bot"))
            .otherwise(pl.lit("human"))
            .alias("actor_kind"),
            pl.col("resolver").struct.field("id").alias("resolver_id"),
        )
        .drop("actor", strict=False)
    )
    resolved = actor_columns(
        resolved, source=SOURCE, handle="resolver_id", kind="actor_kind", key=key
    ).with_columns(
        pl.lit("resolved").alias("action"),
        utc(pl.col("resolved_at")).alias("occurred_at"),
        pl.lit("resolved").alias("state"),
    )
    return Normalised(
        signals=finish(pl.concat([first_seen, resolved], how="diagonal_relaxed")),
        quarantine=_quarantine(rejected, undecodable),
        accounts=pl.concat(
            [_vault(issue.get_column("assignee_user"), key), _vault(resolved["resolver"], key)]
        ),
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


def _incident_columns(project: pl.Expr, url: pl.Expr) -> list[pl.Expr]:
    """The incident ``sentry:<project>/<issue id>`` with its link and typed attributes.

    Besides the issue's state, ``attributes`` carries what it says of its cause, for linking it
    to the deployment that shipped it: ``culprit`` (Sentry's "file/function" text), ``files``
    (``[metadata.filename]``; the latest event adds its in-app stack frames) and
    ``first_release`` (the version it was first seen in, when the record says).
    """
    return [
        pl.lit(SOURCE).alias("source"),
        pl.lit("incident").alias("entity_type"),
        ("sentry:" + project + "/" + pl.col("id")).alias("entity_id"),
        url.alias("url"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
        pl.struct(
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
        )
        .struct.json_encode()
        .alias("attributes"),
    ]


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


def latest_events(landing: pl.DataFrame, key: str) -> Normalised:
    """An issue's latest event: ``last_seen``, with the release and environment it ran in, and
    its ``culprit`` and ``files`` (see :func:`_in_app_files`) in ``attributes``."""
    decoded, undecodable = decode(landing, EVENT)
    event = _requests(decoded, landing).unnest("doc")
    event = event.join(_in_app_files(event), on="landing_ref", how="left").with_columns(
        pl.col("files").fill_null(pl.lit([], pl.List(S)))
    )
    event = event.with_columns(
        pl.coalesce("groupID", "record_id").alias("issue_id"),
        pl.coalesce("eventID", "id").alias("event_id_"),
    )
    event = event.with_columns(
        first_reason(
            pl.when(pl.col("event_id_").is_null()).then(pl.lit("event has no eventID")),
            bad_timestamp("dateCreated", "dateCreated"),
        )
    )
    rejected = event.filter(pl.col("reason").is_not_null())
    events = event.filter(pl.col("reason").is_null()).with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.lit("incident").alias("entity_type"),
        ("sentry:" + pl.col("scope") + "/" + pl.col("issue_id")).alias("entity_id"),
        pl.lit("last_seen").alias("action"),
        utc(pl.col("dateCreated")).alias("occurred_at"),
        pl.lit("unknown").alias("actor_kind"),
        pl.coalesce(pl.col("release").struct.field("version"), _tag("release")).alias("release"),
        pl.coalesce(pl.col("environment"), _tag("environment")).alias("environment"),
        (
            pl.col("web_root")
            + "/issues/"
            + pl.col("issue_id")
            + "/events/"
            + pl.col("event_id_")
            + "/"
        ).alias("url"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
        pl.struct(
            pl.col("scope").alias("project"),
            pl.col("event_id_").alias("event_id"),
            _tag("level").alias("level"),
            pl.col("platform"),
            _tag("transaction").alias("transaction"),
            pl.col("culprit"),
            pl.col("files"),
        )
        .struct.json_encode()
        .alias("attributes"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=_quarantine(rejected, undecodable),
        accounts=schema.empty(schema.ACCOUNTS),
    )


# -- releases and deploys -----------------------------------------------------------------------
RELEASE = pl.Struct(
    {
        "version": S,
        "shortVersion": S,
        "ref": S,
        "url": S,
        "dateCreated": S,
        "dateReleased": S,
        "newGroups": S,
        "commitCount": S,
        "deployCount": S,
        "status": S,
        "owner": USER,
    }
)


def releases(landing: pl.DataFrame, key: str) -> Normalised:
    decoded, undecodable = decode(landing, RELEASE)
    rel = _requests(decoded, landing).unnest("doc")
    rel = rel.with_columns(
        first_reason(
            pl.when(pl.col("version").is_null()).then(pl.lit("release has no version")),
            bad_timestamp("dateCreated", "dateCreated"),
            _optional_time("dateReleased", "dateReleased"),
        ),
        _user_kind("owner").alias("actor_kind"),
        pl.col("owner").struct.field("id").alias("owner_id"),
    )
    rejected = rel.filter(pl.col("reason").is_not_null())
    rel = actor_columns(
        rel.filter(pl.col("reason").is_null()),
        source=SOURCE,
        handle="owner_id",
        kind="actor_kind",
        key=key,
    )
    rel = rel.with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.lit("release").alias("entity_type"),
        ("sentry:" + pl.col("scope") + "/releases/" + pl.col("version")).alias("entity_id"),
        pl.col("version").alias("release"),
        pl.coalesce("shortVersion", "version").alias("title"),
        pl.when(pl.col("ref").str.contains(SHA)).then(pl.col("ref")).alias("commit_sha"),
        pl.coalesce(
            "url",
            pl.col("web_root")
            + "/organizations/"
            + pl.col("organization")
            + "/releases/"
            + pl.col("version")
            + "/",
        ).alias("url"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
        pl.struct(
            pl.col("ref"),
            pl.col("newGroups").cast(pl.Int64, strict=False).alias("new_groups"),
            pl.col("commitCount").cast(pl.Int64, strict=False).alias("commit_count"),
            pl.col("deployCount").cast(pl.Int64, strict=False).alias("deploy_count"),
            pl.col("status").alias("release_status"),
        )
        .struct.json_encode()
        .alias("attributes"),
    )
    created = rel.with_columns(
        pl.lit("created").alias("action"),
        utc(pl.col("dateCreated")).alias("occurred_at"),
        pl.lit("created").alias("state"),
    )
    released = rel.filter(pl.col("dateReleased").is_not_null()).with_columns(
        pl.lit("released").alias("action"),
        utc(pl.col("dateReleased")).alias("occurred_at"),
        pl.lit("released").alias("state"),
    )
    return Normalised(
        signals=finish(pl.concat([created, released], how="diagonal_relaxed")),
        quarantine=_quarantine(rejected, undecodable),
        accounts=_vault(rel.get_column("owner"), key),
    )


DEPLOY = pl.Struct(
    {"id": S, "environment": S, "name": S, "url": S, "dateStarted": S, "dateFinished": S}
)


def deploys(landing: pl.DataFrame, key: str) -> Normalised:
    """A release deploy: ``started`` (when given) and, once it has finished, ``finished``.

    The payload does not name its release; the record id (``<version>/deploys/<id>``) does.
    """
    decoded, undecodable = decode(landing, DEPLOY)
    deploy = _requests(decoded, landing).unnest("doc")
    deploy = deploy.with_columns(
        pl.col("record_id").str.extract(r"^(.+)/deploys/[^/]*$").alias("version")
    )
    deploy = deploy.with_columns(
        first_reason(
            pl.when(pl.col("id").is_null()).then(pl.lit("deploy has no id")),
            pl.when(pl.col("version").is_null()).then(
                pl.lit("deploy record id names no release (<version>/deploys/<id>)")
            ),
            pl.when(pl.col("environment").is_null()).then(pl.lit("deploy has no environment")),
            pl.when(pl.col("dateStarted").is_null() & pl.col("dateFinished").is_null()).then(
                pl.lit("deploy has neither dateStarted nor dateFinished")
            ),
            _optional_time("dateStarted", "dateStarted"),
            _optional_time("dateFinished", "dateFinished"),
        )
    )
    rejected = deploy.filter(pl.col("reason").is_not_null())
    deploy = deploy.filter(pl.col("reason").is_null()).with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.lit("deployment").alias("entity_type"),
        ("sentry:" + pl.col("scope") + "/deploys/" + pl.col("id")).alias("entity_id"),
        pl.col("id").alias("deployment_id"),
        pl.col("version").alias("release"),
        pl.col("environment"),
        pl.coalesce("name", pl.col("version") + " to " + pl.col("environment")).alias("title"),
        pl.coalesce(
            "url",
            pl.col("web_root")
            + "/organizations/"
            + pl.col("organization")
            + "/releases/"
            + pl.col("version")
            + "/",
        ).alias("url"),
        pl.lit("unknown").alias("actor_kind"),
        pl.lit([], pl.List(S)).alias("ticket_keys"),
    )
    started = deploy.filter(pl.col("dateStarted").is_not_null()).with_columns(
        pl.lit("started").alias("action"),
        utc(pl.col("dateStarted")).alias("occurred_at"),
        pl.lit("in_progress").alias("state"),
    )
    finished = deploy.filter(pl.col("dateFinished").is_not_null()).with_columns(
        pl.lit("finished").alias("action"),
        utc(pl.col("dateFinished")).alias("occurred_at"),
        pl.lit("finished").alias("state"),
    )
    return Normalised(
        signals=finish(pl.concat([started, finished], how="diagonal_relaxed")),
        quarantine=_quarantine(rejected, undecodable),
        accounts=schema.empty(schema.ACCOUNTS),
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
    received = landing.select(
        "landing_ref", pl.coalesce("updated_at", "fetched_at").alias("received_at")
    ).unique("landing_ref")
    hook = (
        decoded.join(received, on="landing_ref", how="left")
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
    hook = hook.with_columns(
        first_reason(
            pl.when(pl.col("action").is_null()).then(
                pl.lit("issue action has no event: ") + pl.col("hook_action").fill_null("null")
            ),
            pl.when(pl.col("id").is_null()).then(pl.lit("issue has no id (data.issue.id)")),
            pl.when(pl.col("project_slug").is_null()).then(
                pl.lit("issue names no project (data.issue.project.slug)")
            ),
            pl.when(created).then(bad_timestamp("firstSeen", "data.issue.firstSeen")),
        )
    )
    rejected = hook.filter(pl.col("reason").is_not_null())
    by_id = pl.col("by").struct.field("id")
    person = (pl.col("by").struct.field("type") == "user") & by_id.is_not_null()
    hook = hook.filter(pl.col("reason").is_null()).with_columns(
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
        *_incident_columns(
            pl.col("project_slug"),
            pl.coalesce(
                "permalink", "web_url", pl.col("url").str.replace("/api/0/", "/", literal=True)
            ),
        ),
        pl.when(created)
        .then(utc(pl.col("firstSeen")))
        .otherwise(pl.col("received_at"))
        .alias("occurred_at"),
        pl.col("hook_action")
        .replace_strict({a: s for a, (_, s) in ISSUE_ACTIONS.items()}, default=None)
        .fill_null(pl.col("status"))
        .alias("state"),
    )
    return Normalised(
        signals=finish(events),
        quarantine=_quarantine(rejected, undecodable),
        accounts=merge_accounts(
            pl.concat(
                [
                    _vault(hook.get_column("assignee_user"), key),
                    _vault(hook.filter(pl.col("by_id").is_not_null()).get_column("by_user"), key),
                ]
            )
        ),
    )


WEBHOOKS: dict[str, Callable[[pl.DataFrame, str], Normalised]] = {"webhook:issue": issue_webhooks}
