"""GitHub REST records → signals.

Pull requests yield ``opened``, ``merged`` and ``closed`` events; reviews yield one ``reviewed``
event each. Polled issues and check runs are normalised by the rules of the deliveries that embed
them (``HOOKS``), so that each is one event however it arrived.

Accounts, told apart without guessing:

- GitHub's ``ghost`` user, or a user field that is present and ``null`` (how GitHub serialises
  an account that no longer exists), is ``deleted``: no pseudonym, nobody left to attribute to;
- a user field that is *absent* says nothing: ``unknown`` (2020-era ``workflow_run`` payloads
  have neither ``triggering_actor`` nor ``actor``);
- ``type: Bot`` or a ``…[bot]`` login is a ``bot``; anyone else ``human``.

Every event has a link to cite. Where a record has no ``html_url`` (older payloads), it is built
from the repository's web address: the payload's ``repository.html_url`` when there is one, else
derived from the API URL the record came from or names (``https://api.github.com/repos/o/r…`` →
``https://github.com/o/r``, ``https://ghe.example/api/v3/repos/o/r…`` → ``https://ghe.example/o/r``,
so GitHub Enterprise links stay on the Enterprise host). A time that is missing or malformed
falls back to another time the record carries, recorded in ``attributes``
(:func:`~flowsync_pipelines.normalise.common.fallback_time`).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flowsync_pipelines.normalise.common import (
    NOBODY,
    TICKET_KEY,
    TIME_FALLBACK,
    TIME_SOURCE,
    Account,
    Attribution,
    Happening,
    Normalised,
    PolledKind,
    Prepare,
    WebhookEvent,
    accounts,
    accounts_by,
    actor_columns,
    bad_timestamp,
    commit_attributes,
    fallback_columns,
    missing,
    once_set,
    optional_timestamp,
    polled,
    text,
    utc,
    webhook_events,
    with_pushed_commits,
)

S = pl.String
USER = pl.Struct({"login": S, "id": S, "type": S})

PULL = pl.Struct(
    {
        **text("number", "url", "html_url", "title", "body", "state", "draft"),
        **text("created_at", "updated_at", "closed_at", "merged_at", "merge_commit_sha"),
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
        "_links": pl.Struct({"html": pl.Struct({"href": S})}),
        # Not in the REST record; present when a whole webhook body was landed.
        "pull_request": pl.Struct({"title": S, "html_url": S}),
    }
)

GHOST_LOGIN = "ghost"
GITHUB_WEB = "https://github.com"


def presence(*fields: str) -> dict[str, str]:
    """``json_types`` for :func:`decode`: ``<field>_json`` is the JSON type of each top-level
    ``field`` (``'NULL'`` when it is an explicit null, null when it is absent)."""
    return {f"{name}_json": f"$.{name}" for name in fields}


def _actor_kind(user: str) -> pl.Expr:
    """``deleted`` for the ``ghost`` or an explicit ``null`` (``<user>_json == 'NULL'``, see
    :func:`presence`), ``unknown`` for an absent field, else ``bot`` or ``human``."""
    struct = pl.col(user)
    login = struct.struct.field("login")
    explicit_null = pl.col(f"{user}_json").fill_null("") == "NULL"
    return (
        pl.when(struct.is_null() & explicit_null)
        .then(pl.lit("deleted"))
        .when(struct.is_null() | login.is_null())
        .then(pl.lit("unknown"))
        .when(login == GHOST_LOGIN)
        .then(pl.lit("deleted"))
        .when((struct.struct.field("type") == "Bot") | login.str.ends_with("[bot]"))
        .then(pl.lit("bot"))
        .otherwise(pl.lit("human"))
    )


def _attributed(rows: pl.DataFrame, user: str, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Attribute ``rows`` to the account in struct column ``user``: ``actor`` (its pseudonym),
    ``actor_kind`` and ``login``; and the vault rows of those accounts.

    ``rows`` may hold ``<user>_json`` (see :func:`presence`); without it a null user is
    ``unknown``, since nothing says the account was deleted.
    """
    if f"{user}_json" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, S).alias(f"{user}_json"))
    rows = rows.with_columns(
        _actor_kind(user).alias("actor_kind"), pl.col(user).struct.field("login").alias("login")
    )
    rows = actor_columns(rows, source="github", handle="login", kind="actor_kind", key=key)
    return rows, accounts(rows, source="github", handle="login", name=None, email=None)


def _repo_web_url(api_url: pl.Expr) -> pl.Expr:
    """The repository's web address from an API URL that names it (``…/repos/<o>/<r>…``), on
    the same host: ``api.github.com`` → ``github.com``; Enterprise ``<host>/api/v3`` → ``<host>``.
    Null for any other text (``delivery:<id>``)."""
    host = api_url.str.extract(r"^(https?://[^/]+)(?:/api/v3)?/repos/[^/]+/[^/?#]+", 1)
    repo = api_url.str.extract(r"/repos/([^/]+/[^/?#]+)", 1)
    web_host = (
        pl.when(host.str.contains(r"^https?://api\.github\.com$"))
        .then(pl.lit(GITHUB_WEB))
        .otherwise(host)
    )
    return web_host + "/" + repo


def _with_repo_url(decoded: pl.DataFrame, landing: pl.DataFrame, *api_urls: str) -> pl.DataFrame:
    """Add ``repo_url``: the repository's web address, from the first of the payload's
    ``api_urls`` columns that names it, else the API URL the record was read from, else
    ``https://github.com/<scope>``."""
    requests = landing.select("landing_ref", "request").unique("landing_ref")
    rows = decoded.join(requests, on="landing_ref", how="left")
    return rows.with_columns(
        pl.coalesce(
            *(_repo_web_url(pl.col(column)) for column in api_urls),
            _repo_web_url(pl.col("request")),
            GITHUB_WEB + "/" + pl.col("scope"),
        ).alias("repo_url")
    )


def _first_line(text: pl.Expr) -> pl.Expr:
    return (
        text.str.replace_all("\r", "", literal=True).str.strip_chars().str.split("\n").list.first()
    )


def _keys(*texts: pl.Expr) -> pl.Expr:
    joined = pl.concat_str([t.fill_null("") for t in texts], separator="\n")
    return joined.str.extract_all(TICKET_KEY).list.unique(maintain_order=True)


def _by(user: str) -> Attribution:
    """Attribution to the account in struct column ``user`` (see :func:`_attributed`)."""
    return lambda rows, key: _attributed(rows, user, key)


def _repo_url_from(*api_urls: str) -> Prepare:
    """Adds ``repo_url`` (see :func:`_with_repo_url`)."""
    return lambda rows, landing: _with_repo_url(rows, landing, *api_urls)


def _short_sha(sha: pl.Expr) -> pl.Expr:
    return pl.when(sha.str.contains(r"^[0-9a-f]{40}$")).then(sha.str.slice(0, 7)).otherwise(sha)


NO_KEYS = pl.lit([], pl.List(S))


def _in_repo(path: str, id_column: str = "id") -> pl.Expr:
    """An entity of the repository (the scope): ``<owner>/<repo><path><id>``."""
    return pl.col("scope") + path + pl.col(id_column)


def _no_time(label: str) -> pl.Expr:
    """A reason when no time (``created_at`` or its fallbacks, ``label``) is a timestamp."""
    return pl.when(pl.col("occurred_at").is_null()).then(bad_timestamp("created_at", label))


_PR_NUMBER = pl.col("pr_number").cast(S)

PULL_REQUESTS = PolledKind(
    dtype=PULL,
    json_types=presence("user"),
    prepare=_repo_url_from("url"),
    derived=(
        {
            "pr_number": pl.col("number").cast(pl.Int64, strict=False),
            "repository": pl.coalesce(
                pl.col("base").struct.field("repo").struct.field("full_name"), "scope"
            ),
        },
    ),
    problems=(
        pl.when(pl.col("pr_number").is_null()).then(pl.lit("pull request has no number")),
        bad_timestamp("created_at", "created_at"),
        optional_timestamp("merged_at"),
    ),
    actor=_by("user"),
    entity_type="pull_request",
    entity_id=pl.col("repository") + "#" + _PR_NUMBER,
    columns={
        "commit_sha": pl.col("merge_commit_sha"),
        "ticket_keys": _keys(pl.col("title"), pl.col("head").struct.field("ref"), pl.col("body")),
        "url": pl.coalesce("html_url", pl.col("repo_url") + "/pull/" + _PR_NUMBER),
        "attributes": pl.struct(
            (pl.col("draft") == "true").alias("draft"),
            pl.col("head").struct.field("ref").alias("head_ref"),
            pl.col("head").struct.field("sha").alias("head_sha"),
            pl.col("base").struct.field("ref").alias("base_ref"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening("opened", utc(pl.col("created_at")), "open"),
        # The list endpoint does not say who merged or closed; the author did not.
        once_set("merged_at", "merged", "merged", **NOBODY),
        Happening(
            "closed",
            utc(pl.col("closed_at")),
            "closed",
            when=pl.col("merged_at").is_null() & pl.col("closed_at").is_not_null(),
            columns=NOBODY,
        ),
    ),
)
pull_requests = polled(PULL_REQUESTS, "github", "Pull requests: opened, merged, closed.")

_PULL_TITLE = pl.col("pull_request").struct.field("title")
REVIEWS = PolledKind(
    dtype=REVIEW,
    json_types=presence("user"),
    prepare=_repo_url_from("pull_request_url"),
    derived=(
        {
            "pr_number": pl.col("pull_request_url")
            .str.extract(r"/pulls/(\d+)$")
            .cast(pl.Int64, strict=False),
            "repository": pl.col("scope"),
            "state": pl.col("state").str.to_lowercase(),
        },
    ),
    problems=(
        missing("review"),
        pl.when(pl.col("pr_number").is_null()).then(
            pl.lit("review has no pull_request_url ending in /pulls/<number>")
        ),
        # Pending reviews have no submitted_at yet: nothing happened, nothing to record.
        pl.when(pl.col("state") != "pending").then(bad_timestamp("submitted_at", "submitted_at")),
    ),
    keep=pl.col("state") != "pending",
    actor=_by("user"),
    entity_type="review",
    entity_id=pl.col("repository") + "#" + _PR_NUMBER + "/reviews/" + pl.col("id"),
    columns={
        "commit_sha": pl.col("commit_id"),
        "url": pl.coalesce(
            "html_url",
            pl.coalesce(
                pl.col("pull_request").struct.field("html_url"),
                pl.col("_links").struct.field("html").struct.field("href"),
                pl.col("repo_url") + "/pull/" + _PR_NUMBER,
            )
            + "#pullrequestreview-"
            + pl.col("id"),
        ),
        "title": pl.when(_PULL_TITLE.is_not_null())
        .then("Review of " + _PULL_TITLE)
        .otherwise("Review " + pl.col("state").str.replace_all("_", " ")),
        "ticket_keys": NO_KEYS,
        "attributes": pl.struct(pl.col("id").alias("review_id")).struct.json_encode(),
    },
    happenings=(Happening("reviewed", utc(pl.col("submitted_at"))),),
)
reviews = polled(REVIEWS, "github", "Reviews: one ``reviewed`` event each.")


COMMIT = pl.Struct(
    {
        "sha": S,
        "url": S,
        "html_url": S,
        "commit": pl.Struct(
            {
                "author": pl.Struct({"name": S, "email": S, "date": S}),
                "committer": pl.Struct({"name": S, "email": S, "date": S}),
                "message": S,
            }
        ),
        "author": USER,
        "parents": pl.List(pl.Struct({"sha": S})),
        # Only the commit-detail endpoint (``GET /repos/{o}/{r}/commits/{sha}``) lists files.
        "files": pl.List(pl.Struct({"filename": S})),
    }
)


def _commit_attributes() -> pl.Expr:
    """``parents`` and, when the record lists them (the commit-detail endpoint), ``files``."""
    return commit_attributes(
        pl.col("parents").list.len(),
        pl.col("files").list.eval(pl.element().struct.field("filename")),
        listed=pl.col("files").is_not_null(),
    )


_GIT_COMMIT = pl.col("commit").struct.field
COMMITS = PolledKind(
    dtype=COMMIT,
    json_types=presence("author"),
    prepare=_repo_url_from("url"),
    derived=(
        {
            "committed_at": _GIT_COMMIT("committer").struct.field("date"),
            "authored_at": _GIT_COMMIT("author").struct.field("date"),
            "author_name": _GIT_COMMIT("author").struct.field("name"),
            "author_email": _GIT_COMMIT("author").struct.field("email"),
            "message": _GIT_COMMIT("message"),
            "login": pl.col("author").struct.field("login"),
        },
        {
            "actor_kind": pl.when(pl.col("login").is_not_null())
            .then(_actor_kind("author"))
            .when(pl.col("author_email").is_not_null())
            .then(pl.lit("human"))
            .otherwise(pl.lit("unknown"))
        },
    ),
    problems=(
        missing("commit", "sha"),
        pl.when(utc(pl.col("authored_at")).is_null()).then(
            bad_timestamp("committed_at", "commit.committer.date")
        ),
    ),
    # A commit whose email is linked to no GitHub account (``author: null``) is attributed to
    # the pseudonym of its author email, which identity resolution can join.
    actor=accounts_by(
        Account("github", "login", pl.col("login").is_not_null(), "author_name", "author_email"),
        Account("email", "author_email", pl.col("login").is_null(), "author_name", "author_email"),
    ),
    entity_type="commit",
    entity_id=pl.col("scope") + "@" + pl.col("sha"),
    columns={
        **fallback_columns(
            ("commit.committer.date", pl.col("committed_at")),
            ("commit.author.date", pl.col("authored_at")),
        ),
        "repository": pl.col("scope"),
        "commit_sha": pl.col("sha"),
        "title": pl.col("message").str.split("\n").list.first(),
        "ticket_keys": pl.col("message").fill_null("").str.extract_all(TICKET_KEY).list.unique(),
        "url": pl.coalesce("html_url", pl.col("repo_url") + "/commit/" + pl.col("sha")),
        "attributes": _commit_attributes(),
    },
    happenings=(Happening("committed"),),
)
commits = polled(
    COMMITS,
    "github",
    """One ``committed`` event per commit, at the committer date (when it joined history).

    A commit whose email is linked to no GitHub account has ``author: null``; it is attributed
    to the pseudonym of its author email instead, which identity resolution can later join.
    A malformed committer date falls back to the author date; a commit without ``html_url``
    links to ``<repository web address>/commit/<sha>``.
    """,
)


RUN = pl.Struct(
    {
        "id": S,
        "name": S,
        "head_branch": S,
        "head_sha": S,
        "event": S,
        "status": S,
        "conclusion": S,
        "run_attempt": S,
        "html_url": S,
        "created_at": S,
        "updated_at": S,
        "run_started_at": S,
        "pull_requests": pl.List(pl.Struct({"number": S})),
        "url": S,
        "triggering_actor": USER,
        "actor": USER,
    }
)


DEPLOYMENT = pl.Struct(
    {
        "id": S,
        "sha": S,
        "ref": S,
        "environment": S,
        "description": S,
        "created_at": S,
        "updated_at": S,
        "creator": USER,
        "url": S,
        "repository_url": S,
    }
)
DEPLOYMENT_STATUS = pl.Struct(
    {
        "id": S,
        "state": S,
        "environment": S,
        "created_at": S,
        "updated_at": S,
        "deployment_url": S,
        "repository_url": S,
        "target_url": S,
        "log_url": S,
        "environment_url": S,
        "creator": USER,
    }
)


RELEASE = pl.Struct(
    {
        **text("id", "tag_name", "name", "target_commitish", "html_url", "url"),
        **text("created_at", "published_at", "draft", "prerelease"),
        "author": USER,
    }
)


WORKFLOW_RUNS = PolledKind(
    dtype=RUN,
    json_types=presence("triggering_actor", "actor"),
    prepare=_repo_url_from("url"),
    derived=(
        {
            **fallback_columns(
                ("run_started_at", pl.col("run_started_at")), ("created_at", pl.col("created_at"))
            ),
            # The newest field present names who ran it; an explicit null there is deleted.
            "runner": pl.when(pl.col("triggering_actor_json").is_not_null())
            .then(pl.col("triggering_actor"))
            .otherwise(pl.col("actor")),
            "runner_json": pl.coalesce("triggering_actor_json", "actor_json"),
        },
    ),
    problems=(missing("workflow run"), _no_time("run_started_at / created_at")),
    actor=_by("runner"),
    entity_type="ci_run",
    entity_id=_in_repo("/actions/runs/"),
    columns={
        "repository": pl.col("scope"),
        "commit_sha": pl.col("head_sha"),
        "pr_number": pl.col("pull_requests")
        .list.first()
        .struct.field("number")
        .cast(pl.Int64, strict=False),
        "ticket_keys": pl.col("head_branch").fill_null("").str.extract_all(TICKET_KEY),
        "title": pl.col("name"),
        "url": pl.coalesce("html_url", pl.col("repo_url") + "/actions/runs/" + pl.col("id")),
        "attributes": pl.struct(
            "event",
            "head_branch",
            pl.col("run_attempt").cast(pl.Int64, strict=False),
            pl.col("status"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening("started", state="running"),
        Happening(
            "completed",
            utc(pl.col("updated_at")),
            pl.col("conclusion"),
            when=pl.col("status") == "completed",
            columns={TIME_SOURCE: pl.lit(None, S), TIME_FALLBACK: pl.lit(None, S)},
        ),
    ),
)
workflow_runs = polled(
    WORKFLOW_RUNS,
    "github",
    """GitHub Actions runs: ``started`` and, once finished, ``completed`` (state = conclusion).

    A run is attributed to its ``triggering_actor`` (2022+), else its ``actor`` (2021+); a
    payload with neither field says nothing of who ran it: ``unknown``. ``started`` is at
    ``run_started_at``, falling back to ``created_at`` (recorded in ``attributes``).
    """,
)


# A record's time is ``created_at``, falling back to ``updated_at``; with neither, quarantined.
_CREATED_OR_UPDATED = fallback_columns(
    ("created_at", pl.col("created_at")), ("updated_at", pl.col("updated_at"))
)
_NO_TIME = _no_time("created_at")
_UNNAMED = pl.col("environment").fill_null("unnamed environment")

DEPLOYMENTS = PolledKind(
    dtype=DEPLOYMENT,
    json_types=presence("creator"),
    prepare=_repo_url_from("repository_url", "url"),
    derived=(_CREATED_OR_UPDATED,),
    problems=(missing("deployment"), _NO_TIME),
    actor=_by("creator"),
    entity_type="deployment",
    entity_id=_in_repo("/deployments/"),
    columns={
        "repository": pl.col("scope"),
        "commit_sha": pl.col("sha"),
        "deployment_id": pl.col("id"),
        "ticket_keys": NO_KEYS,
        "url": pl.when(pl.col("sha").str.contains(r"^[0-9a-f]{40}$"))
        .then(pl.col("repo_url") + "/commit/" + pl.col("sha"))
        .otherwise(pl.col("repo_url") + "/deployments"),
        "title": pl.concat_str(
            _UNNAMED,
            pl.lit(" deployment of "),
            _short_sha(pl.coalesce(pl.col("ref").replace("", None), "sha")).fill_null("?"),
        ),
        "attributes": pl.struct("ref").struct.json_encode(),
    },
    happenings=(Happening("created", state="created"),),
)
deployments = polled(
    DEPLOYMENTS,
    "github",
    """A deployment's ``created`` event carries the sha it ships and its environment.

    Its title is ``<environment> deployment of <ref>`` (a sha ref shortened to 7), its link the
    commit it deploys (the repository's deployments page when the sha is not a full one); a
    malformed ``created_at`` falls back to ``updated_at``.
    """,
)

# A status's own link, in order of preference (``attributes.url_is`` names the one used).
_STATUS_LINKS = (("log", "log_url"), ("target", "target_url"), ("environment", "environment_url"))


_PRESENT = {name: pl.col(column).replace("", None) for name, column in _STATUS_LINKS}
_URL_IS = pl.lit("deployments_page")
for _name, _present in reversed(_PRESENT.items()):
    _URL_IS = pl.when(_present.is_not_null()).then(pl.lit(_name)).otherwise(_URL_IS)


DEPLOYMENT_STATUSES = PolledKind(
    dtype=DEPLOYMENT_STATUS,
    json_types=presence("creator"),
    prepare=_repo_url_from("repository_url", "deployment_url"),
    derived=(
        {
            "deployment_id": pl.col("deployment_url").str.extract(r"/deployments/(\d+)$"),
            **_CREATED_OR_UPDATED,
        },
    ),
    problems=(
        pl.when(pl.col("deployment_id").is_null()).then(
            pl.lit("deployment status has no deployment_url ending in /deployments/<id>")
        ),
        _NO_TIME,
    ),
    actor=_by("creator"),
    entity_type="deployment",
    entity_id=_in_repo("/deployments/", "deployment_id"),
    columns={
        "repository": pl.col("scope"),
        "ticket_keys": NO_KEYS,
        "url": pl.coalesce(*_PRESENT.values(), pl.col("repo_url") + "/deployments"),
        "title": pl.concat_str(
            _UNNAMED, pl.lit(" deployment "), pl.col("state").str.replace_all("_", " ")
        ),
        "attributes": pl.struct(
            pl.col("id").alias("status_id"), _URL_IS.alias("url_is")
        ).struct.json_encode(),
    },
    happenings=(Happening("status_" + pl.col("state")),),
)
deployment_statuses = polled(
    DEPLOYMENT_STATUSES,
    "github",
    """Each status of a deployment (``in_progress``, ``success``, ``failure``, ``inactive``…).

    Its link is the status's ``log_url``, else its ``target_url`` (pages of this deployment),
    else its ``environment_url`` (the environment's site), else the repository's deployments
    page; ``attributes.url_is`` says which, so a deployment's citation can prefer a page of its
    own over its commit and its commit over a page shared by every deployment
    (``statements_prepare.sql``). Its title is ``<environment> deployment <state>``. A malformed
    ``created_at`` falls back to ``updated_at``.
    """,
)

RELEASES = PolledKind(
    dtype=RELEASE,
    json_types=presence("author"),
    prepare=_repo_url_from("url"),
    derived=(
        fallback_columns(
            ("published_at", pl.col("published_at")), ("created_at", pl.col("created_at"))
        ),
    ),
    problems=(
        missing("release"),
        pl.when(pl.col("published_at").is_not_null() & pl.col("occurred_at").is_null()).then(
            bad_timestamp("published_at", "published_at")
        ),
    ),
    actor=_by("author"),
    entity_type="release",
    entity_id=_in_repo("/releases/"),
    columns={
        "repository": pl.col("scope"),
        "release": pl.col("tag_name"),
        "title": pl.coalesce("name", "tag_name"),
        "ticket_keys": NO_KEYS,
        "url": pl.coalesce(
            "html_url",
            pl.col("repo_url") + "/releases/tag/" + pl.col("tag_name"),
            pl.col("repo_url") + "/releases",
        ),
        "attributes": pl.struct(
            "target_commitish", (pl.col("prerelease") == "true").alias("prerelease")
        ).struct.json_encode(),
    },
    happenings=(Happening("published", when=pl.col("published_at").is_not_null()),),
)
releases = polled(
    RELEASES,
    "github",
    """``published`` at publication (drafts have none yet and yield no event); a malformed
    ``published_at`` falls back to ``created_at`` (recorded in ``attributes``).""",
)


# -- webhook deliveries that no polled kind covers ----------------------------------------------
# (Pull requests, reviews, workflow runs, deployments and releases arrive as their polled kinds;
# see flowsync_pipelines/webhooks/drain.py.) Each delivery is one event, attributed to its
# ``sender``; where the payload does not say when it happened, the receipt time stands in.
REPO = pl.Struct({"full_name": S, "html_url": S, "pushed_at": S})
COMMENT = pl.Struct(
    {"id": S, "body": S, "html_url": S, "created_at": S, "updated_at": S, "commit_id": S}
)
ISSUE = pl.Struct(
    {
        **text("number", "title", "state", "html_url", "created_at", "updated_at", "closed_at"),
        "labels": pl.List(pl.Struct({"name": S})),
        "pull_request": pl.Struct({"url": S}),
    }
)
CHECK = {
    **text("id", "name", "status", "conclusion", "head_sha", "head_branch", "html_url"),
    **text("created_at", "updated_at", "started_at", "completed_at"),
    "pull_requests": pl.List(pl.Struct({"number": S})),
}
ZERO_SHA = "0" * 40


def _hook(label: str, fields: dict[str, pl.DataType], **parts: object) -> WebhookEvent:
    dtype = pl.Struct({"action": S, "sender": USER, "repository": REPO, **fields})
    return WebhookEvent(label, dtype, **parts)  # type: ignore[arg-type]


def _sender(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _attributed(rows, "sender", key)


def _repo_html() -> pl.Expr:
    """The delivery's ``repository.html_url`` (right for GitHub Enterprise too), else the
    github.com address of the delivery's scope."""
    return pl.coalesce(
        pl.col("repository").struct.field("html_url"), GITHUB_WEB + "/" + pl.col("scope")
    )


def _ref_type(ref: pl.Expr) -> pl.Expr:
    return (
        pl.when(ref.str.starts_with("refs/tags/")).then(pl.lit("tag")).otherwise(pl.lit("branch"))
    )


def _comment_hook(
    label: str,
    fields: dict[str, pl.DataType],
    parent: str,
    paths: tuple[str, str, str],
    **columns: pl.Expr,
) -> WebhookEvent:
    """A comment on the issue or pull request in field ``parent``: the entity
    ``<repo>#<number>/<kind>/<id>``, linked to ``<repo page>/<page>/<number><anchor><id>``
    (``paths`` = kind, page, anchor) when the comment has no ``html_url``."""
    kind, page, anchor = paths
    number = pl.col(parent).struct.field("number")
    comment = pl.col("comment").struct.field
    return _hook(
        label,
        fields,
        entity_type=pl.lit("comment"),
        entity_id=pl.col("scope") + "#" + number + f"/{kind}/" + comment("id"),
        action=_comment_action(),
        time=_comment_time(),
        fallback_times=(("comment's other time", _comment_time(fallback=True)),),
        columns={
            "repository": pl.col("scope"),
            "ticket_keys": _keys(comment("body")),
            "title": _first_line(comment("body")),
            "url": pl.coalesce(
                comment("html_url"), _repo_html() + f"/{page}/" + number + anchor + comment("id")
            ),
            **columns,
        },
    )


def _comment_action() -> pl.Expr:
    return pl.col("action").replace({"created": "commented"})


def _comment_time(*, fallback: bool = False) -> pl.Expr:
    """``created_at`` for a new comment, else ``updated_at``; with ``fallback``, the other."""
    comment = pl.col("comment")
    new = pl.col("action") == "created"
    if fallback:
        new = ~new
    return (
        pl.when(new)
        .then(comment.struct.field("created_at"))
        .otherwise(comment.struct.field("updated_at"))
    )


def _check_event(entity: str, path: str, queued_time: str) -> dict[str, object]:
    """``check_run``/``check_suite``/``workflow_job``: ``completed`` once its status is
    ``completed`` (state = conclusion), ``started`` while it runs, ``queued`` before."""
    check = pl.col(entity)
    status = check.struct.field("status")
    done = status == "completed"
    running = status == "in_progress"
    return {
        "entity_type": pl.lit("ci_run"),
        "entity_id": pl.col("scope") + f"/{path}/" + check.struct.field("id"),
        "action": pl.when(done)
        .then(pl.lit("completed"))
        .when(running)
        .then(pl.lit("started"))
        .otherwise(pl.lit("queued")),
        "time": pl.when(done)
        .then(check.struct.field("completed_at"))
        .when(running)
        .then(check.struct.field("started_at"))
        .otherwise(check.struct.field(queued_time)),
        "fallback_times": (("updated_at", check.struct.field("updated_at")),),
        "columns": {
            "repository": pl.col("scope"),
            "commit_sha": check.struct.field("head_sha"),
            "pr_number": check.struct.field("pull_requests")
            .list.first()
            .struct.field("number")
            .cast(pl.Int64, strict=False),
            "ticket_keys": _keys(check.struct.field("head_branch")),
            "title": check.struct.field("name"),
            "url": pl.coalesce(
                check.struct.field("html_url"),
                _repo_html() + "/commit/" + check.struct.field("head_sha") + "/checks",
                _repo_html(),
            ),
            "state": pl.when(done)
            .then(check.struct.field("conclusion"))
            .otherwise(pl.when(running).then(pl.lit("running")).otherwise(status)),
            "attributes": pl.struct(
                check.struct.field("head_branch"), pl.col("action").alias("webhook_action")
            ).struct.json_encode(),
        },
    }


HOOKS: dict[str, WebhookEvent] = {
    # Issues are tickets: created / closed / reopened, or what else was done to them.
    "issues": _hook(
        "issue",
        {"issue": ISSUE},
        entity_type=pl.lit("ticket"),
        entity_id=pl.col("scope") + "#" + pl.col("issue").struct.field("number"),
        action=pl.col("action").replace({"opened": "created"}),
        time=pl.when(pl.col("action") == "opened")
        .then(pl.col("issue").struct.field("created_at"))
        .when(pl.col("action") == "closed")
        .then(pl.col("issue").struct.field("closed_at"))
        .otherwise(pl.col("issue").struct.field("updated_at")),
        fallback_times=(("issue.updated_at", pl.col("issue").struct.field("updated_at")),),
        columns={
            "repository": pl.col("scope"),
            "ticket_keys": pl.concat_list(
                pl.col("scope") + "#" + pl.col("issue").struct.field("number"),
                _keys(pl.col("issue").struct.field("title")),
            ).list.unique(maintain_order=True),
            "title": pl.col("issue").struct.field("title"),
            "url": pl.coalesce(
                pl.col("issue").struct.field("html_url"),
                _repo_html() + "/issues/" + pl.col("issue").struct.field("number"),
            ),
            # Opening is the issue's first state whatever it is now (a polled snapshot of a
            # closed issue makes its ``created`` event too, the same as the delivery did).
            # (``action`` is the event's here: ``opened`` became ``created``.)
            "state": pl.when(pl.col("action") == "created")
            .then(pl.lit("open"))
            .otherwise(pl.col("issue").struct.field("state")),
            "attributes": pl.struct(
                pl.when(
                    (pl.col("action") != "created")
                    & (pl.col("issue").struct.field("state") == "closed")
                )
                .then(pl.lit("done"))
                .otherwise(pl.lit("new"))
                .alias("status_category"),
                pl.concat_list(pl.col("scope")).alias("components"),
                pl.col("issue")
                .struct.field("labels")
                .list.eval(pl.element().struct.field("name"))
                .alias("labels"),
            ).struct.json_encode(),
        },
        no_event=(
            pl.col("issue").struct.field("pull_request").is_not_null(),
            "issue event about a pull request: the pull request's own events cover it",
        ),
    ),
    # Comments on issues and pull requests (a pull request is an issue to this event).
    "issue_comment": _comment_hook(
        "issue comment",
        {"issue": ISSUE, "comment": COMMENT},
        "issue",
        ("comments", "issues", "#issuecomment-"),
        pr_number=pl.when(pl.col("issue").struct.field("pull_request").is_not_null())
        .then(pl.col("issue").struct.field("number"))
        .cast(pl.Int64, strict=False),
    ),
    "pull_request_review_comment": _comment_hook(
        "review comment",
        {"comment": COMMENT, "pull_request": pl.Struct({"number": S})},
        "pull_request",
        ("review_comments", "pull", "#discussion_r"),
        pr_number=pl.col("pull_request").struct.field("number").cast(pl.Int64, strict=False),
        commit_sha=pl.col("comment").struct.field("commit_id"),
    ),
    "check_run": _hook(
        "check run",
        {"check_run": pl.Struct(CHECK)},
        **_check_event("check_run", "check-runs", "started_at"),
    ),
    "check_suite": _hook(
        "check suite",
        {"check_suite": pl.Struct(CHECK)},
        **_check_event("check_suite", "check-suites", "created_at"),
    ),
    "workflow_job": _hook(
        "workflow job",
        {"workflow_job": pl.Struct({**CHECK, "run_id": S, "workflow_name": S})},
        **_check_event("workflow_job", "actions/jobs", "created_at"),
    ),
    # Commit statuses set by external CI: ``started`` while pending, then ``completed``.
    "status": _hook(
        "commit status",
        {
            **text("id", "sha", "state", "context", "target_url", "created_at", "updated_at"),
            "branches": pl.List(pl.Struct({"name": S})),
        },
        entity_type=pl.lit("ci_run"),
        entity_id=pl.col("scope") + "/statuses/" + pl.col("id"),
        action=pl.when(pl.col("state") == "pending")
        .then(pl.lit("started"))
        .otherwise(pl.lit("completed")),
        time=pl.when(pl.col("state") == "pending")
        .then(pl.col("created_at"))
        .otherwise(pl.col("updated_at")),
        fallback_times=(
            (
                "status's other time",
                pl.when(pl.col("state") == "pending")
                .then(pl.col("updated_at"))
                .otherwise(pl.col("created_at")),
            ),
        ),
        columns={
            "repository": pl.col("scope"),
            "commit_sha": pl.col("sha"),
            "ticket_keys": _keys(
                pl.col("branches").list.eval(pl.element().struct.field("name")).list.join("\n")
            ),
            "title": pl.col("context"),
            "url": pl.coalesce(
                pl.col("target_url").replace("", None),
                _repo_html() + "/commit/" + pl.col("sha"),
                _repo_html(),
            ),
            "state": pl.when(pl.col("state") == "pending")
            .then(pl.lit("running"))
            .otherwise(pl.col("state")),
        },
    ),
    # A push to a branch or tag: one ``pushed`` event on the ref, at the repository's
    # ``pushed_at`` (epoch seconds in this payload, where other payloads send ISO text). Two
    # pushes to one ref in one second are two events: the ``after`` sha discriminates their
    # ids. The commits listed are commit events too (see ``push_webhooks``).
    "push": _hook(
        "push",
        {
            **text("ref", "before", "after", "created", "deleted", "forced", "compare"),
            "commits": pl.List(pl.Struct({"id": S, "message": S})),
            "head_commit": pl.Struct({"id": S, "message": S, "timestamp": S}),
        },
        entity_type=_ref_type(pl.col("ref")),
        entity_id=pl.col("scope") + ":" + pl.col("ref"),
        action=pl.when(pl.col("deleted") == "true")
        .then(pl.lit("deleted"))
        .otherwise(pl.lit("pushed")),
        discriminator=pl.col("after"),
        time=pl.col("repository").struct.field("pushed_at"),
        fallback_times=(
            ("head_commit.timestamp", pl.col("head_commit").struct.field("timestamp")),
        ),
        columns={
            "repository": pl.col("scope"),
            "commit_sha": pl.when(pl.col("after") != ZERO_SHA).then(pl.col("after")),
            "ticket_keys": _keys(
                pl.col("ref"),
                pl.col("commits").list.eval(pl.element().struct.field("message")).list.join("\n"),
            ),
            "title": _first_line(pl.col("head_commit").struct.field("message")),
            "url": pl.coalesce(
                pl.col("compare"),
                pl.when(pl.col("after") != ZERO_SHA).then(
                    _repo_html() + "/commit/" + pl.col("after")
                ),
                _repo_html(),
            ),
            "attributes": pl.struct(
                pl.col("before"),
                pl.col("after"),
                (pl.col("created") == "true").alias("created"),
                (pl.col("forced") == "true").alias("forced"),
                pl.col("commits").list.eval(pl.element().struct.field("id")).alias("commit_shas"),
            ).struct.json_encode(),
        },
    ),
    # Branches and tags created or deleted (the payload carries no time: the receipt time).
    **{
        event: _hook(
            f"{event} event",
            {"ref": S, "ref_type": S},
            entity_type=pl.col("ref_type"),
            entity_id=pl.col("scope")
            + ":refs/"
            + pl.col("ref_type").replace({"branch": "heads", "tag": "tags"})
            + "/"
            + pl.col("ref"),
            action=pl.lit(f"{event}d"),
            time=pl.lit(None, S),
            columns={
                "repository": pl.col("scope"),
                "ticket_keys": _keys(pl.col("ref")),
                "title": pl.col("ref"),
                "url": _repo_html(),
            },
        )
        for event in ("create", "delete")
    },
    # Published releases arrive as ``releases``; what is left here is their deletion.
    "release": _hook(
        "release",
        {"release": pl.Struct({"id": S, "tag_name": S, "name": S, "html_url": S})},
        entity_type=pl.lit("release"),
        entity_id=pl.col("scope") + "/releases/" + pl.col("release").struct.field("id"),
        action=pl.col("action"),
        time=pl.lit(None, S),
        columns={
            "repository": pl.col("scope"),
            "release": pl.col("release").struct.field("tag_name"),
            "title": pl.coalesce(
                pl.col("release").struct.field("name"), pl.col("release").struct.field("tag_name")
            ),
            "url": pl.coalesce(
                pl.col("release").struct.field("html_url"), _repo_html() + "/releases"
            ),
        },
    ),
    # GitHub's hello when a hook is configured: nothing happened in the repository.
    "ping": _hook(
        "ping",
        {"hook_id": S},
        entity_type=pl.lit("hook"),
        entity_id=pl.coalesce(pl.col("hook_id"), pl.lit("")),
        action=pl.lit("ping"),
        time=pl.lit(None, S),
        columns={},
        no_event=(pl.lit(True), "hook configuration ping: no event"),
    ),
}


def _webhook(kind: str) -> Callable[[pl.DataFrame, str], Normalised]:
    def normaliser(landing: pl.DataFrame, key: str) -> Normalised:
        return webhook_events(landing, key, HOOKS[kind], source="github", actor=_sender)

    normaliser.__doc__ = f"GitHub ``{kind}`` webhook deliveries → events (see ``HOOKS``)."
    return normaliser


MERGE_PULL_REQUEST = r"^Merge pull request #(\d+)"


# -- polled records that a webhook also delivers -------------------------------------------------
# A polled issue or check run is what the ``issues`` / ``check_run`` delivery embeds; it is
# normalised by the same ``HOOKS`` entry, as the delivery it stands for, so an object seen both
# ways is the same event (entity, action, time, title, link, state). The REST record is wrapped
# in that delivery's envelope, vectorised on the JSON text: the ``repository`` (its web address,
# from the record's API URLs like the other polled kinds) and, as ``sender``, whoever the record
# says did it.


def _as_delivery(
    landing: pl.DataFrame, entity: str, action: pl.Expr, sender: pl.Expr | None
) -> pl.DataFrame:
    """``landing`` with each payload wrapped as a webhook delivery's ``entity`` field.

    ``action`` is the delivery's ``action``; ``sender`` the JSON text of the account it names
    (null: the delivery has no ``sender``, so the actor is ``unknown``).
    """
    field = pl.col("payload").str.json_path_match
    web = pl.coalesce(
        _repo_web_url(field("$.repository_url")),
        _repo_web_url(field("$.url")),
        _repo_web_url(pl.col("request")),
        GITHUB_WEB + "/" + pl.col("scope"),
    )
    envelope = pl.struct(
        action.alias("action"),
        pl.struct(pl.col("scope").alias("full_name"), web.alias("html_url")).alias("repository"),
    ).struct.json_encode()
    head = envelope.str.strip_suffix("}")
    with_sender = (
        pl.lit(",")
        if sender is None
        else pl.when(sender.is_not_null()).then(',"sender":' + sender + ",").otherwise(pl.lit(","))
    )
    return landing.with_columns(
        pl.concat_str(head, with_sender, pl.lit(f'"{entity}":'), "payload", pl.lit("}")).alias(
            "payload"
        )
    )


def issues(landing: pl.DataFrame, key: str) -> Normalised:
    """Polled issues: ``created`` by the author and, for a closed issue, ``closed`` by its
    ``closed_by`` (``unknown`` when the record does not say), as the ``opened`` and ``closed``
    deliveries of the same issue are (see ``HOOKS["issues"]``). What happened in between
    (reopened, labelled, edited…) is only known from deliveries. A pull request in the issues
    list is a reference (the connector skips them: they are polled as pulls)."""
    field = pl.col("payload").str.json_path_match
    opened = _as_delivery(landing, "issue", pl.lit("opened"), field("$.user"))
    closed = _as_delivery(
        landing.filter(field("$.state") == "closed"),
        "issue",
        pl.lit("closed"),
        field("$.closed_by"),
    )
    return webhook_events(
        pl.concat([opened, closed]), key, HOOKS["issues"], source="github", actor=_sender
    )


def check_runs(landing: pl.DataFrame, key: str) -> Normalised:
    """Polled check runs (``/commits/{sha}/check-runs``): ``queued``, ``started`` or
    ``completed`` as the record's status says, exactly as a ``check_run`` delivery holding the
    same record (``HOOKS["check_run"]``, delivery action ``created`` or ``completed``). The REST
    record names no person: the actor is ``unknown``."""
    completed = pl.col("payload").str.json_path_match("$.status") == "completed"
    action = pl.when(completed).then(pl.lit("completed")).otherwise(pl.lit("created"))
    return webhook_events(
        _as_delivery(landing, "check_run", action, None),
        key,
        HOOKS["check_run"],
        source="github",
        actor=_sender,
    )


def push_webhooks(landing: pl.DataFrame, key: str) -> Normalised:
    """``push`` deliveries: the ref's ``pushed`` (or ``deleted``) event, by the sender, and a
    ``committed`` event per listed commit, the same entity and action as the polled commit
    (``<repo>@<sha>``), by its author's login (or, without one, the author's email), with the
    changed ``files`` and the ``committer`` in ``attributes``. A delivery quarantined for its
    ref yields no commits either."""
    ref = webhook_events(landing, key, HOOKS["push"], source="github", actor=_sender)
    return with_pushed_commits(
        ref,
        landing,
        key,
        source="github",
        login_source="github",
        fields={"repository": REPO},
        web_url=pl.col("repository").struct.field("html_url"),
        merge_request_ref=MERGE_PULL_REQUEST,
    )


WEBHOOKS = {f"webhook:{kind}": _webhook(kind) for kind in HOOKS}
WEBHOOKS["webhook:push"] = push_webhooks
