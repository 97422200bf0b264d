"""Jenkins builds → ``ci_run`` signals (``jenkins:<job>#<number>``).

A build yields ``started`` at ``timestamp`` (epoch milliseconds) and, once it is no longer
``building``, ``completed`` at ``timestamp + duration`` (milliseconds) with its result in lower
case (``success``, ``failure``, ``unstable``, ``aborted``, ``not_built``). The built commit and
branch come from the git plugin's ``lastBuiltRevision``, the repository from its remote URL.

Who started a build comes from its causes: a Jenkins user (``userId``, pseudonymised as a
``jenkins`` account; ``SYSTEM`` is Jenkins itself, a bot), or the GitHub login of a push (a
``github`` account, the same pseudonym GitHub's own records give). Timers, SCM polling and
upstream builds name nobody (``unknown``). Culprits and change-set authors carry names and
emails, so they are not read.
"""

from __future__ import annotations

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Account,
    Happening,
    Normalised,
    PolledKind,
    WebhookEvent,
    accounts_by,
    missing,
    polled,
    run_action,
    text,
    webhook_events,
)

S = pl.String
SOURCE = "jenkins"
SYSTEM_USERS = ("SYSTEM",)
GITHUB_PUSH = r"^Started by GitHub push by ([A-Za-z0-9][A-Za-z0-9-]*(?:\[bot\])?)$"
MULTIBRANCH_PR = r"(?:^|/)PR-(\d+)$"
BRANCH_PREFIX = r"^(?:refs/remotes/[^/]+/|refs/heads/|origin/)"
# ``git@host:group/repo.git`` or ``https://host/group/repo.git`` → ``group/repo``.
REMOTE_PATH = r"^(?:[a-z][a-z0-9+.-]*://[^/]+/|[^@/]+@[^:/]+:)(.+?)(?:\.git)?/?$"

CAUSE = pl.Struct({"shortDescription": S, "userId": S, "userName": S})
BUILD = pl.Struct(
    {
        **text("number", "url", "fullDisplayName", "result", "building", "timestamp"),
        **text("duration", "estimatedDuration", "queueId", "builtOn"),
        "actions": pl.List(
            pl.Struct(
                {
                    "causes": pl.List(CAUSE),
                    "lastBuiltRevision": pl.Struct(
                        {"SHA1": S, "branch": pl.List(pl.Struct({"SHA1": S, "name": S}))}
                    ),
                    "remoteUrls": pl.List(S),
                }
            )
        ),
    }
)


def _first_in_actions(path: pl.Expr) -> pl.Expr:
    """The first non-null value ``path`` (an expression on one action) finds in ``actions``."""
    return pl.col("actions").list.eval(path).list.drop_nulls().list.first()


def _millis(column: str) -> pl.Expr:
    return (
        pl.col(column).str.strip_chars().cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
    )


_CAUSES = pl.element().struct.field("causes").explode()
_NOT_BUILDING = pl.col("building").str.to_lowercase() == "false"
BUILDS = PolledKind(
    dtype=BUILD,
    derived=(
        {
            "build_number": pl.col("number").cast(pl.Int64, strict=False),
            "started_ms": _millis("timestamp"),
            "duration_ms": _millis("duration"),
            "commit_sha": _first_in_actions(
                pl.element().struct.field("lastBuiltRevision").struct.field("SHA1")
            ),
            "branch": _first_in_actions(
                pl.element()
                .struct.field("lastBuiltRevision")
                .struct.field("branch")
                .explode()
                .struct.field("name")
            ).str.replace(BRANCH_PREFIX, ""),
            "repository": _first_in_actions(
                pl.element().struct.field("remoteUrls").explode()
            ).str.extract(REMOTE_PATH),
            "user_id": _first_in_actions(_CAUSES.struct.field("userId")),
            "user_name": _first_in_actions(_CAUSES.struct.field("userName")),
            "github_login": _first_in_actions(
                _CAUSES.struct.field("shortDescription").str.extract(GITHUB_PUSH)
            ),
        },
        {
            "actor_kind": pl.when(pl.col("user_id").is_in(SYSTEM_USERS))
            .then(pl.lit("bot"))
            .when(pl.col("user_id").is_not_null())
            .then(pl.lit("human"))
            .when(pl.col("github_login").str.ends_with("[bot]"))
            .then(pl.lit("bot"))
            .when(pl.col("github_login").is_not_null())
            .then(pl.lit("human"))
            .otherwise(pl.lit("unknown"))
        },
    ),
    problems=(
        pl.when(pl.col("build_number").is_null()).then(pl.lit("build has no number")),
        missing("build", "timestamp"),
        pl.when(pl.col("started_ms").is_null()).then(
            pl.lit("timestamp is not epoch milliseconds: ") + pl.col("timestamp")
        ),
        pl.when(_NOT_BUILDING & pl.col("duration_ms").is_null()).then(
            pl.lit("finished build has no duration in milliseconds: ")
            + pl.col("duration").fill_null("null")
        ),
    ),
    actor=accounts_by(
        Account(SOURCE, "user_id", pl.col("user_id").is_not_null(), name="user_name"),
        Account("github", "github_login", pl.col("user_id").is_null()),
    ),
    entity_type="ci_run",
    entity_id="jenkins:" + pl.col("scope") + "#" + pl.col("build_number").cast(S),
    columns={
        # Multibranch pipelines build a pull request as branch (and job) "PR-<number>".
        "pr_number": pl.coalesce(
            pl.col("branch").str.extract(MULTIBRANCH_PR),
            pl.col("scope").str.extract(MULTIBRANCH_PR),
        ).cast(pl.Int64, strict=False),
        "ticket_keys": pl.col("branch")
        .fill_null("")
        .str.extract_all(TICKET_KEY)
        .list.unique(maintain_order=True),
        "title": pl.coalesce(
            "fullDisplayName", pl.col("scope") + " #" + pl.col("build_number").cast(S)
        ),
        "attributes": pl.struct(
            pl.col("scope").alias("job"),
            pl.col("build_number").alias("number"),
            pl.col("branch").alias("head_branch"),
            pl.when(pl.col("user_id").is_not_null())
            .then(pl.lit("user"))
            .when(pl.col("github_login").is_not_null())
            .then(pl.lit("push"))
            .alias("event"),
            pl.col("duration_ms"),
            _millis("estimatedDuration").alias("estimated_duration_ms"),
            pl.col("builtOn").alias("built_on"),
            pl.col("queueId").cast(pl.Int64, strict=False).alias("queue_id"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening(
            "started",
            pl.from_epoch("started_ms", time_unit="ms").dt.replace_time_zone("UTC"),
            "running",
        ),
        Happening(
            "completed",
            pl.from_epoch(
                pl.col("started_ms") + pl.col("duration_ms"), time_unit="ms"
            ).dt.replace_time_zone("UTC"),
            pl.col("result").str.to_lowercase(),
            when=_NOT_BUILDING,
        ),
    ),
)
builds = polled(BUILDS, SOURCE, "Builds: ``started`` and, once done, ``completed``.")


# -- webhook deliveries --------------------------------------------------------------------------
# The Notification plugin posts a build at each phase (QUEUED, STARTED, COMPLETED, FINALIZED)
# with no event name (kind ``webhook:unknown``; a sender that names it ``build`` is read alike).
NOTIFICATION = pl.Struct(
    {
        "name": S,
        "build": pl.Struct(
            {
                **text("full_url", "number", "phase", "status", "timestamp", "duration"),
                "scm": pl.Struct(text("url", "branch", "commit")),
            }
        ),
    }
)
BUILD_FIELD = pl.col("build").struct.field
DONE_PHASES = ("COMPLETED", "FINALIZED")


def _nobody(rows: pl.DataFrame, _key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The plugin does not say who started a build."""
    rows = rows.with_columns(pl.lit(None, S).alias("actor"), pl.lit("unknown").alias("actor_kind"))
    return rows, schema.empty(schema.ACCOUNTS)


NOTIFIED_BUILD = WebhookEvent(
    "build notification",
    NOTIFICATION,
    entity_type=pl.lit("ci_run"),
    entity_id="jenkins:" + pl.col("name") + "#" + BUILD_FIELD("number"),
    action=run_action(BUILD_FIELD("phase").is_in(DONE_PHASES), BUILD_FIELD("phase") == "STARTED"),
    # Epoch milliseconds, as the polled builds: start, or start + duration once done.
    time=pl.when(BUILD_FIELD("phase").is_in(DONE_PHASES))
    .then(
        BUILD_FIELD("timestamp").cast(pl.Int64, strict=False)
        + BUILD_FIELD("duration").cast(pl.Int64, strict=False)
    )
    .otherwise(BUILD_FIELD("timestamp").cast(pl.Int64, strict=False))
    .cast(S),
    no_event=(BUILD_FIELD("phase") == "QUEUED", "build queued: nothing has run yet"),
    columns={
        "repository": BUILD_FIELD("scm").struct.field("url").str.extract(REMOTE_PATH),
        "commit_sha": BUILD_FIELD("scm").struct.field("commit"),
        "pr_number": pl.coalesce(
            BUILD_FIELD("scm").struct.field("branch").str.extract(MULTIBRANCH_PR),
            pl.col("name").str.extract(MULTIBRANCH_PR),
        ).cast(pl.Int64, strict=False),
        "ticket_keys": BUILD_FIELD("scm")
        .struct.field("branch")
        .fill_null("")
        .str.extract_all(TICKET_KEY)
        .list.unique(maintain_order=True),
        "title": pl.col("name") + " #" + BUILD_FIELD("number"),
        "url": BUILD_FIELD("full_url"),
        "state": pl.when(BUILD_FIELD("phase").is_in(DONE_PHASES))
        .then(BUILD_FIELD("status").str.to_lowercase())
        .otherwise(pl.lit("running")),
        "attributes": pl.struct(
            pl.col("name").alias("job"),
            BUILD_FIELD("scm")
            .struct.field("branch")
            .str.replace(BRANCH_PREFIX, "")
            .alias("head_branch"),
        ).struct.json_encode(),
    },
)


def build_notifications(landing: pl.DataFrame, key: str) -> Normalised:
    """Notification-plugin deliveries: ``started`` / ``completed`` events of the polled build."""
    return webhook_events(landing, key, NOTIFIED_BUILD, source=SOURCE, actor=_nobody)


WEBHOOKS = {"webhook:unknown": build_notifications, "webhook:build": build_notifications}
