"""CircleCI workflows and jobs → ``ci_run`` signals; its webhooks → the same events.

A workflow is the CI run (``circleci:workflow/<id>``): ``started`` at its ``created_at`` and,
once finished, ``completed`` at ``stopped_at`` with its status as the state (``success``,
``failed``, ``error``, ``canceled``, ``unauthorized``, ``not_run``). A job that ran is a run of
its own (``circleci:job/<id>``), started and completed alike; a job that has not run (blocked,
queued behind an approval) holds no event. A re-run of a workflow is a new workflow of the same
pipeline, so a new run, as CircleCI shows it.

What was built comes from the pipeline each record carries (the connector lands workflows and
jobs with it; webhooks embed it): the commit is ``vcs.revision``, the branch ``vcs.branch``
(``attributes.head_branch``), the repository the path of ``vcs.origin_repository_url`` or else
of the project slug (``gh/acme/api`` → ``acme/api``), the pull request a ``pull/<n>`` branch (a
fork's) or ``vcs.review_id``. Who triggered it is the pipeline's ``trigger.actor.login`` — the
VCS login (a ``github`` account for GitHub projects, the pseudonym GitHub's own records give), or
a GitLab trigger's ``trigger_parameters.gitlab.user_username``; a pipeline that names nobody (a
schedule, a webhook payload without the actor) is ``unknown``. Pipelines themselves are
references: their workflows are the runs.
"""

from __future__ import annotations

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Happening,
    Normalised,
    PolledKind,
    WebhookEvent,
    accounts,
    actor_columns,
    checked,
    missing,
    once_set,
    optional_timestamp,
    polled,
    reference_rows,
    text,
    timestamps,
    utc,
    webhook,
)

S = pl.String
SOURCE = "circleci"
APP = "https://app.circleci.com"
# ``https://github.com/acme/api`` or ``git@github.com:acme/api.git`` → ``acme/api``.
REMOTE_PATH = r"^(?:[a-z][a-z0-9+.-]*://[^/]+/|[^@/]+@[^:/]+:)(.+?)(?:\.git)?/?$"
# ``gh/acme/api``, ``github/acme/api``, ``bb/…``, ``bitbucket/…``, ``gl/…`` → ``acme/api``.
SLUG_PATH = r"^(?:gh|github|bb|bitbucket|gl|gitlab)/(.+/.+)$"
FORK_PR = r"^pull/(\d+)(?:/|$)"
# Terminal states (CircleCI API v2): everything else can still change.
WORKFLOW_DONE = ("success", "failed", "error", "canceled", "unauthorized", "not_run")
JOB_DONE = (
    "success", "failed", "canceled", "infrastructure_fail", "timedout", "unauthorized",
    "terminated-unknown", "not_run",
)  # fmt: skip
# Which tool a trigger actor's login belongs to, by the project's VCS.
LOGIN_SOURCES = {"github": "github", "bitbucket": "bitbucket", "gitlab": "gitlab"}

PIPELINE = pl.Struct(
    {
        **text("id", "number", "project_slug", "created_at", "state"),
        "trigger": pl.Struct({"type": S, "actor": pl.Struct(text("login"))}),
        "trigger_parameters": pl.Struct({"gitlab": pl.Struct(text("user_username"))}),
        "vcs": pl.Struct(
            text(
                "provider_name",
                "origin_repository_url",
                "target_repository_url",
                "revision",
                "branch",
                "tag",
                "review_id",
            )
        ),
    }
)
_PIPELINE = pl.col("pipeline").struct.field
_VCS = _PIPELINE("vcs").struct.field


def _repository(slug: pl.Expr) -> pl.Expr:
    return pl.coalesce(
        _VCS("origin_repository_url").str.extract(REMOTE_PATH),
        slug.str.extract(SLUG_PATH),
    )


def _pr_number() -> pl.Expr:
    return pl.coalesce(
        _VCS("branch").str.extract(FORK_PR), _VCS("review_id").str.extract(r"^(\d+)$")
    ).cast(pl.Int64, strict=False)


def _ticket_keys() -> pl.Expr:
    return _VCS("branch").fill_null("").str.extract_all(TICKET_KEY).list.unique(maintain_order=True)


def _workflow_url(slug: pl.Expr, number: pl.Expr, workflow_id: pl.Expr) -> pl.Expr:
    return pl.lit(APP + "/pipelines/") + slug + "/" + number + "/workflows/" + workflow_id


def _run_attributes(**extra: pl.Expr) -> pl.Expr:
    return pl.struct(
        _VCS("branch").alias("head_branch"),
        _PIPELINE("trigger").struct.field("type").alias("event"),
        _PIPELINE("number").cast(pl.Int64, strict=False).alias("pipeline_number"),
        _VCS("tag").alias("tag"),
        *(expr.alias(name) for name, expr in extra.items()),
    ).struct.json_encode()


def trigger_actor(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``actor`` / ``actor_kind`` of the account that triggered each row's ``pipeline``.

    Returns the rows and the vault rows of those accounts (handle only: CircleCI names no one).
    """
    provider = _VCS("provider_name").str.to_lowercase()
    slug = _PIPELINE("project_slug")
    rows = rows.with_columns(
        pl.coalesce(
            _PIPELINE("trigger").struct.field("actor").struct.field("login"),
            _PIPELINE("trigger_parameters").struct.field("gitlab").struct.field("user_username"),
        ).alias("trigger_login"),
        pl.when(provider.str.contains("github") | slug.str.contains(r"^(?:gh|github)/"))
        .then(pl.lit("github"))
        .when(provider.str.contains("bitbucket") | slug.str.contains(r"^(?:bb|bitbucket)/"))
        .then(pl.lit("bitbucket"))
        .when(
            provider.str.contains("gitlab")
            | _PIPELINE("trigger_parameters").struct.field("gitlab").is_not_null()
        )
        .then(pl.lit("gitlab"))
        .otherwise(pl.lit(SOURCE))
        .alias("login_source"),
    ).with_columns(
        pl.when(pl.col("trigger_login").is_null())
        .then(pl.lit("unknown"))
        .when(pl.col("trigger_login").str.ends_with("[bot]"))
        .then(pl.lit("bot"))
        .otherwise(pl.lit("human"))
        .alias("actor_kind")
    )
    parts, vault = [], []
    for (login_source,), part in rows.partition_by("login_source", as_dict=True).items():
        part = actor_columns(
            part, source=str(login_source), handle="trigger_login", kind="actor_kind", key=key
        )
        parts.append(part)
        vault.append(
            accounts(part, source=str(login_source), handle="trigger_login", name=None, email=None)
        )
    if not parts:
        empty = rows.with_columns(pl.lit(None, S).alias("actor"))
        return empty, schema.empty(schema.ACCOUNTS)
    return pl.concat(parts, how="diagonal_relaxed"), pl.concat(vault)


# -- polled records ------------------------------------------------------------------------------
WORKFLOW = pl.Struct(
    {
        **text("id", "name", "status", "created_at", "stopped_at", "pipeline_number"),
        **text("project_slug"),
        "pipeline": PIPELINE,
    }
)
JOB = pl.Struct(
    {
        **text("id", "job_number", "name", "status", "type", "started_at", "stopped_at"),
        **text("project_slug"),
        "pipeline": PIPELINE,
        "workflow": pl.Struct(text("id", "name")),
    }
)


def _ci_run_columns(slug: pl.Expr) -> dict[str, pl.Expr]:
    return {
        "repository": _repository(slug),
        "commit_sha": _VCS("revision"),
        "pr_number": _pr_number(),
        "ticket_keys": _ticket_keys(),
    }


def _started_and_completed(start: str, stop: str, done: tuple[str, ...]) -> tuple[Happening, ...]:
    return (
        once_set(start, "started", "running"),
        Happening(
            "completed",
            utc(pl.col(stop)),
            pl.col("status"),
            when=pl.col("status").is_in(done) & pl.col(stop).is_not_null(),
        ),
    )


_SLUG = pl.coalesce("project_slug", _PIPELINE("project_slug"), "scope")
_NUMBER = pl.coalesce("pipeline_number", _PIPELINE("number"))
WORKFLOWS = PolledKind(
    dtype=WORKFLOW,
    problems=(
        missing("workflow"),
        *timestamps("created_at", optional=("stopped_at",)),
    ),
    actor=trigger_actor,
    entity_type="ci_run",
    entity_id="circleci:workflow/" + pl.col("id"),
    columns={
        **_ci_run_columns(_SLUG),
        "title": pl.col("name") + " #" + _NUMBER,
        "url": _workflow_url(_SLUG, _NUMBER, pl.col("id")),
        "attributes": _run_attributes(workflow=pl.col("name"), status=pl.col("status")),
    },
    happenings=_started_and_completed("created_at", "stopped_at", WORKFLOW_DONE),
)
workflows = polled(
    WORKFLOWS,
    SOURCE,
    "Each workflow: ``started`` at ``created_at``, ``completed`` at ``stopped_at`` once done.",
)

_WORKFLOW_OF_JOB = pl.col("workflow").struct.field
JOBS = PolledKind(
    dtype=JOB,
    problems=(
        missing("job", "name"),
        pl.when(pl.col("started_at").is_not_null() & pl.col("id").is_null()).then(
            pl.lit("job that started has no id")
        ),
        optional_timestamp("started_at"),
        optional_timestamp("stopped_at"),
    ),
    no_event=(
        pl.col("started_at").is_null(),
        "job has not run (blocked, queued or on hold): nothing has happened yet",
    ),
    actor=trigger_actor,
    entity_type="ci_run",
    entity_id="circleci:job/" + pl.col("id"),
    columns={
        **_ci_run_columns(_SLUG),
        "title": pl.col("name")
        + " ("
        + pl.coalesce(_WORKFLOW_OF_JOB("name"), pl.lit("workflow"))
        + " #"
        + _PIPELINE("number")
        + ")",
        "url": _workflow_url(_SLUG, _PIPELINE("number"), _WORKFLOW_OF_JOB("id"))
        + "/jobs/"
        + pl.col("job_number"),
        "attributes": _run_attributes(
            workflow=_WORKFLOW_OF_JOB("name"),
            workflow_id=_WORKFLOW_OF_JOB("id"),
            job_number=pl.col("job_number").cast(pl.Int64, strict=False),
            status=pl.col("status"),
        ),
    },
    happenings=_started_and_completed("started_at", "stopped_at", JOB_DONE),
)
jobs = polled(
    JOBS,
    SOURCE,
    "Each job that ran: ``started`` and, once done, ``completed``; others are references.",
)


def pipelines(landing: pl.DataFrame, _key: str) -> Normalised:
    """Pipelines are references: the workflows they hold are the CI runs."""
    decoded, quarantine = checked(landing, pl.Struct(text("id")), ())
    return Normalised(
        signals=schema.empty(schema.SIGNALS),
        quarantine=quarantine,
        accounts=schema.empty(schema.ACCOUNTS),
        references=reference_rows(decoded, "pipeline: its workflows are the CI runs"),
    )


# -- webhook deliveries --------------------------------------------------------------------------
_HOOK = {
    **text("id", "type", "happened_at"),
    "project": pl.Struct(text("id", "slug", "name")),
    "pipeline": PIPELINE,
}
_WORKFLOW = pl.col("workflow").struct.field
_JOB = pl.col("job").struct.field
_HOOK_SLUG = pl.coalesce(pl.col("project").struct.field("slug"), _PIPELINE("project_slug"))


def _completed(
    label: str, run: dict[str, pl.DataType], entity_id: pl.Expr, **columns: pl.Expr
) -> WebhookEvent:
    """A ``<label>-completed`` delivery: the run ``entity_id`` ``completed`` at its
    ``stopped_at`` (else when it happened), by the pipeline's trigger; ``run`` adds fields."""
    run_field = pl.col(label).struct.field
    return WebhookEvent(
        f"{label}-completed delivery",
        pl.Struct({**_HOOK, **run}),
        entity_type=pl.lit("ci_run"),
        entity_id=entity_id,
        action=pl.lit("completed"),
        time=run_field("stopped_at"),
        fallback_times=(("happened_at", pl.col("happened_at")),),
        columns={**_ci_run_columns(_HOOK_SLUG), "state": run_field("status"), **columns},
    )


_WORKFLOW_PAGE = pl.coalesce(
    _WORKFLOW("url"), _workflow_url(_HOOK_SLUG, _PIPELINE("number"), _WORKFLOW("id"))
)
WORKFLOW_COMPLETED = _completed(
    "workflow",
    {"workflow": pl.Struct(text("id", "name", "status", "created_at", "stopped_at", "url"))},
    "circleci:workflow/" + _WORKFLOW("id"),
    title=_WORKFLOW("name") + " #" + _PIPELINE("number"),
    url=_WORKFLOW_PAGE,
    attributes=_run_attributes(workflow=_WORKFLOW("name"), status=_WORKFLOW("status")),
)
JOB_COMPLETED = _completed(
    "job",
    {
        "workflow": pl.Struct(text("id", "name", "url")),
        "job": pl.Struct(text("id", "number", "name", "status", "started_at", "stopped_at")),
    },
    "circleci:job/" + _JOB("id"),
    title=_JOB("name") + " (" + _WORKFLOW("name") + " #" + _PIPELINE("number") + ")",
    url=_WORKFLOW_PAGE + "/jobs/" + _JOB("number"),
    attributes=_run_attributes(
        workflow=_WORKFLOW("name"),
        workflow_id=_WORKFLOW("id"),
        job_number=_JOB("number").cast(pl.Int64, strict=False),
        status=_JOB("status"),
    ),
)
PING = WebhookEvent(
    "ping delivery",
    pl.Struct(_HOOK),
    entity_type=pl.lit("webhook"),
    entity_id=pl.coalesce("id", pl.lit("ping")),
    action=pl.lit("ping"),
    time=pl.col("happened_at"),
    no_event=(pl.lit(True), "webhook test ping: no event"),
    columns={},
)


workflow_completed = webhook(WORKFLOW_COMPLETED, source=SOURCE, actor=trigger_actor)
job_completed = webhook(JOB_COMPLETED, source=SOURCE, actor=trigger_actor)
ping = webhook(PING, source=SOURCE, actor=trigger_actor)

WEBHOOKS = {
    "webhook:workflow_completed": workflow_completed,
    "webhook:job_completed": job_completed,
    "webhook:ping": ping,
}
