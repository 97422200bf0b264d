"""GitLab REST v4 records → signals, named the way GitHub's are so views treat both alike.

Merge requests are ``pull_request`` entities (``<path>!<iid>``, ``opened`` / ``merged`` /
``closed``); reviews come from the system notes GitLab writes when someone approves, unapproves
or requests changes, because those carry the time and the reviewer, while the approvals record
only lists who approves *now* (it is reference data). Pipelines and jobs are ``ci_run``s,
deployments ``deployment``s (``created`` + ``status_<status>``), issues ``ticket``s and
default-branch commits ``commit``s attributed to the author email, as from ``git log``.

GitLab writes one instant several ways (``…T14:13:35Z``, ``….000+03:00``, ``… 14:13:35 UTC``);
:func:`flowsync_pipelines.landing.parse_utc` reads them all. Accounts: the ``ghost`` user is
``deleted`` (no pseudonym; blocked accounts keep theirs); ``bot: true``, ``*-bot``, ``*[bot]``
and project/group access-token users are bots.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.normalise.common import (
    TICKET_KEY,
    Attribution,
    Happening,
    Normalised,
    PolledKind,
    WebhookEvent,
    as_actor,
    bad_timestamp,
    checked,
    commit_attributes,
    decode,
    email_author,
    happened,
    missing,
    once_set,
    optional_timestamp,
    people_by,
    person_columns,
    polled,
    polled_events,
    quarantine_rows,
    reference_rows,
    run_action,
    text,
    utc,
    vault_rows,
    webhook_events,
    with_pushed_commits,
)

S = pl.String
SOURCE = "gitlab"
DEFAULT_WEB_ROOT = "https://gitlab.com"
GHOST_USERNAME = "ghost"
# A blocked or banned account still has its username: only GitLab's ghost user is gone.
DELETED_STATES: tuple[str, ...] = ()
# A draft is marked by a title prefix; the title without it is what the change is called.
DRAFT_PREFIX = r"(?i)^\s*(?:\[draft\]|\(draft\)|draft:|draft\s+-|\[wip\]|wip:)\s*"
# What GitLab's "See merge request group/project!12" line in a merge commit message names.
MERGE_REQUEST_REF = r"See merge request \S+!(\d+)"
# Review system notes: body prefix → review state, in GitHub's vocabulary.
REVIEW_NOTES = {
    "approved this merge request": "approved",
    "unapproved this merge request": "dismissed",
    "requested changes": "changes_requested",
}
PIPELINE_DONE = ("success", "failed", "canceled", "skipped")
JOB_DONE = ("success", "failed", "canceled")
# Deployment statuses recorded as ``status_<status>`` when the deploy job ended (or, for
# ``blocked``, waiting for an approval, when the deployment was last updated).
DEPLOYMENT_DONE = ("success", "failed", "canceled", "blocked", "skipped")
TITLE_CHARS = 200

USER = pl.Struct({"id": S, "username": S, "name": S, "state": S, "bot": S})


def first_line(expr: pl.Expr, *, max_chars: int = TITLE_CHARS) -> pl.Expr:
    """The first non-blank line of free text (CRLF-safe), cut to ``max_chars``: a title.

    Shared by the normalisers that title events with what people wrote (GitLab notes, Linear
    comments). ``@mentions`` and email addresses in titles are pseudonymised centrally, by
    :func:`flowsync_pipelines.normalise.normalise`.
    """
    line = expr.str.replace_all("\r", "", literal=True).str.strip_chars().str.split("\n")
    line = line.list.first().str.strip_chars()
    return (
        pl.when(line.str.len_chars() > max_chars)
        .then(line.str.slice(0, max_chars) + "…")
        .otherwise(line)
    )


def _user_kind(user: str) -> pl.Expr:
    struct = pl.col(user)
    username = struct.struct.field("username")
    return (
        pl.when(struct.is_null() | username.is_null())
        .then(pl.lit("unknown"))
        .when((username == GHOST_USERNAME) | struct.struct.field("state").is_in(DELETED_STATES))
        .then(pl.lit("deleted"))
        .when(
            (struct.struct.field("bot") == "true")
            | username.str.ends_with("-bot")
            | username.str.ends_with("[bot]")
            | username.str.contains(r"^(?:project|group)_\d+_bot")
        )
        .then(pl.lit("bot"))
        .otherwise(pl.lit("human"))
    )


# Adds ``<prefix>_actor`` / ``<prefix>_kind`` for a user struct column (see person_columns).
_person = partial(person_columns, field="username", kind=_user_kind, source=SOURCE)


def _people(*people: tuple[str, str]) -> Attribution:
    """Attribution to each ``(user struct column, prefix)``; vault rows of every person."""
    return people_by(_person, _vault, *people)


def _is_true(column: str) -> pl.Expr:
    """A JSON boolean decoded as text (absent counts as false)."""
    return pl.col(column).fill_null("") == "true"


def _vault(users: list[pl.Series], key: str) -> pl.DataFrame:
    """Vault rows for every GitLab account in ``users`` (series of :data:`USER` structs)."""
    return vault_rows(users, key, SOURCE, _user_kind, "username", "name", None, USER)


def _with_web_root(decoded: pl.DataFrame, landing: pl.DataFrame) -> pl.DataFrame:
    """Add ``web_root``: the instance URL the record was read from (``…/api/v4`` stripped)."""
    roots = landing.select(
        "landing_ref",
        pl.coalesce(
            pl.col("request").str.extract(r"^(https?://.*?)/api/v4(?:/|$)"),
            pl.lit(DEFAULT_WEB_ROOT),
        ).alias("web_root"),
    ).unique("landing_ref")
    return decoded.join(roots, on="landing_ref", how="left")


def _ticket_keys(*texts: pl.Expr) -> pl.Expr:
    return (
        pl.concat_str([t.fill_null("") for t in texts], separator="\n")
        .str.extract_all(TICKET_KEY)
        .list.unique(maintain_order=True)
    )


def _iid_from_ref(ref: pl.Expr) -> pl.Expr:
    """``refs/merge-requests/<iid>/head`` (a merge request pipeline) → the iid."""
    return ref.str.extract(r"^refs/merge-requests/(\d+)/").cast(pl.Int64, strict=False)


def _branch(ref: pl.Expr) -> pl.Expr:
    """The branch a pipeline ran on; a merge request pipeline's ref is not one."""
    return pl.when(~ref.str.starts_with("refs/")).then(ref)


NO_KEYS = pl.lit([], pl.List(S))


# -- merge requests, approvals, notes -----------------------------------------------------------
MERGE_REQUEST = pl.Struct(
    {
        **text("id", "iid", "title", "description", "state"),
        **text("created_at", "updated_at", "merged_at", "closed_at"),
        **text("source_branch", "target_branch", "sha", "merge_commit_sha", "squash_commit_sha"),
        **text("draft", "work_in_progress", "web_url"),
        "labels": pl.List(S),
        **dict.fromkeys(("author", "merged_by", "merge_user", "closed_by"), USER),
    }
)
_IS_DRAFT = (
    _is_true("draft")
    | _is_true("work_in_progress")
    | pl.col("title").fill_null("").str.contains(DRAFT_PREFIX)
)
MERGE_REQUESTS = PolledKind(
    dtype=MERGE_REQUEST,
    derived=(
        {
            "pr_number": pl.col("iid").cast(pl.Int64, strict=False),
            "merger": pl.coalesce("merge_user", "merged_by"),
        },
    ),
    problems=(
        pl.when(pl.col("pr_number").is_null()).then(pl.lit("merge request has no iid")),
        missing("merge request", "web_url"),
        bad_timestamp("created_at", "created_at"),
        optional_timestamp("merged_at"),
        optional_timestamp("closed_at"),
    ),
    actor=_people(("author", "author"), ("merger", "merger"), ("closed_by", "closer")),
    entity_type="pull_request",
    entity_id=pl.col("scope") + "!" + pl.col("pr_number").cast(S),
    columns={
        "repository": pl.col("scope"),
        "commit_sha": pl.coalesce("merge_commit_sha", "squash_commit_sha"),
        "ticket_keys": _ticket_keys(
            pl.col("title"), pl.col("source_branch"), pl.col("description")
        ),
        "title": pl.col("title").str.replace(DRAFT_PREFIX, ""),
        "url": pl.col("web_url"),
        "attributes": pl.struct(
            _IS_DRAFT.alias("draft"),
            pl.col("source_branch").alias("head_ref"),
            pl.col("sha").alias("head_sha"),
            pl.col("target_branch").alias("base_ref"),
            pl.col("labels"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening("opened", utc(pl.col("created_at")), "open", columns=as_actor("author")),
        once_set(
            "merged_at",
            "merged",
            "merged",
            **as_actor("merger"),
        ),
        Happening(
            "closed",
            utc(pl.col("closed_at")),
            "closed",
            when=(pl.col("state") == "closed")
            & pl.col("merged_at").is_null()
            & pl.col("closed_at").is_not_null(),
            columns=as_actor("closer"),
        ),
    ),
)
merge_requests = polled(
    MERGE_REQUESTS,
    SOURCE,
    "``opened`` (by the author), ``merged`` (by the merge user) and ``closed`` (unmerged).",
)


APPROVALS = pl.Struct(
    {
        "iid": S,
        "approved_by": pl.List(pl.Struct({"user": USER})),
    }
)


def approvals(landing: pl.DataFrame, key: str) -> Normalised:
    """Who approves a merge request now: reference data, since it does not say when.

    Each approval (and unapproval) is also a system note with its time and author, which
    :func:`notes` turns into the ``review`` event; counting this record too would count twice.
    The approvers still land in the vault, so identity resolution sees every reviewer.
    """
    approval, quarantine = checked(landing, APPROVALS, (missing("approvals record", "iid"),))
    approvers = (
        approval.select(pl.col("approved_by").list.eval(pl.element().struct.field("user")))
        .explode("approved_by")
        .get_column("approved_by")
    )
    return Normalised(
        signals=schema.empty(schema.SIGNALS),
        quarantine=quarantine,
        accounts=_vault([approvers], key),
        references=reference_rows(
            approval,
            "approvals list: who approves now, not when; review events come from the "
            "'approved this merge request' system notes",
        ),
    )


NOTE = pl.Struct(
    {
        **text("id", "type", "body"),
        "author": USER,
        **text("created_at", "system", "noteable_type", "noteable_iid"),
        **text("internal", "confidential", "resolvable"),
    }
)


def notes(landing: pl.DataFrame, key: str) -> Normalised:
    """Merge request notes: people's comments, and the review decisions among system notes.

    A user note is a ``comment`` (``commented``). A system note saying the merge request was
    approved, unapproved or had changes requested is a ``review`` (``reviewed``, state
    ``approved`` / ``dismissed`` / ``changes_requested``, as GitHub names them). Every other
    system note ("added 2 commits", "requested review from @…", "closed") restates an event
    another record already gives (commits, pipelines, the merge request's own times) or names
    people in its text, so it is recorded as a reference, not an event.
    """
    # The connector reads merge request notes only; a note on anything else is not one of them.
    on_merge_request = pl.col("noteable_type").fill_null("MergeRequest") == "MergeRequest"
    note, quarantine = checked(
        landing,
        NOTE,
        (
            missing("note"),
            pl.when(on_merge_request & pl.col("pr_number").is_null()).then(
                pl.lit("note names no merge request (noteable_iid)")
            ),
            bad_timestamp("created_at", "created_at"),
        ),
        prepare=_with_web_root,
        derived=(
            {
                "pr_number": pl.coalesce(
                    pl.col("noteable_iid"), pl.col("record_id").str.extract(r"!(\d+)/notes/[^/]*$")
                ).cast(pl.Int64, strict=False),
                "system_text": pl.col("body").str.strip_chars().str.to_lowercase(),
            },
            {
                "review_state": pl.when(_is_true("system")).then(
                    pl.coalesce(
                        [
                            pl.when(pl.col("system_text").str.starts_with(text)).then(pl.lit(state))
                            for text, state in REVIEW_NOTES.items()
                        ]
                    )
                )
            },
        ),
    )
    note = _person(note, "author", key=key, prefix="author")
    mr_url = (
        pl.col("web_root")
        + "/"
        + pl.col("scope")
        + "/-/merge_requests/"
        + pl.col("pr_number").cast(S)
    )
    note = note.with_columns(
        pl.lit(SOURCE).alias("source"),
        pl.col("scope").alias("repository"),
        (pl.col("scope") + "!" + pl.col("pr_number").cast(S)).alias("merge_request"),
        utc(pl.col("created_at")).alias("occurred_at"),
        (mr_url + "#note_" + pl.col("id")).alias("url"),
        **as_actor("author"),
    )
    others = note.filter(~on_merge_request)
    note = note.filter(on_merge_request)
    private = _is_true("internal") | _is_true("confidential")
    signals = happened(
        note,
        Happening(
            "reviewed",
            state=pl.col("review_state"),
            when=pl.col("review_state").is_not_null(),
            columns={
                "entity_type": pl.lit("review"),
                "entity_id": pl.col("merge_request") + "/reviews/" + pl.col("id"),
                "ticket_keys": NO_KEYS,
                "attributes": pl.struct(pl.col("id").alias("review_id")).struct.json_encode(),
            },
        ),
        Happening(
            "commented",
            when=~_is_true("system"),
            columns={
                "entity_type": pl.lit("comment"),
                "entity_id": pl.col("merge_request") + "/notes/" + pl.col("id"),
                # An internal note is for project members only: its text stays in GitLab.
                "title": pl.when(private).then(None).otherwise(first_line(pl.col("body"))),
                "ticket_keys": pl.when(private)
                .then(NO_KEYS)
                .otherwise(_ticket_keys(pl.col("body"))),
                "attributes": pl.struct(
                    pl.col("id").alias("note_id"),
                    pl.col("type").alias("note_type"),
                    private.alias("internal"),
                ).struct.json_encode(),
            },
        ),
    )
    return Normalised(
        signals=signals,
        quarantine=quarantine,
        accounts=_vault([note.get_column("author")], key),
        references=pl.concat(
            [
                reference_rows(
                    note.filter(_is_true("system") & pl.col("review_state").is_null()),
                    "system note: restates an event other records give (push, review request, "
                    "close)",
                ),
                reference_rows(others, "note on something other than a merge request"),
            ]
        ),
    )


# -- pipelines and jobs -------------------------------------------------------------------------
PIPELINE = pl.Struct(
    {
        **text("id", "iid", "sha", "ref", "status", "source", "name"),
        **text("created_at", "updated_at", "started_at", "finished_at", "web_url"),
        "user": USER,
    }
)
_RUNNER = _people(("user", "runner"))
PIPELINES = PolledKind(
    dtype=PIPELINE,
    # ``source`` (push, merge_request_event, schedule…) would clash with the landing column.
    renamed={"source": "trigger"},
    problems=(
        missing("pipeline"),
        bad_timestamp("created_at", "created_at"),
        optional_timestamp("started_at"),
        optional_timestamp("finished_at"),
        optional_timestamp("updated_at"),
    ),
    actor=_RUNNER,
    entity_type="ci_run",
    entity_id=pl.col("scope") + "/pipelines/" + pl.col("id"),
    columns={
        **as_actor("runner"),
        "repository": pl.col("scope"),
        "commit_sha": pl.col("sha"),
        "pr_number": _iid_from_ref(pl.col("ref")),
        "ticket_keys": _ticket_keys(pl.col("ref")),
        "title": pl.coalesce("name", pl.lit("pipeline #") + pl.col("iid")),
        "url": pl.col("web_url"),
        "attributes": pl.struct(
            _branch(pl.col("ref")).alias("head_branch"),
            pl.col("ref"),
            pl.col("trigger").alias("event"),
            pl.col("iid").cast(pl.Int64, strict=False).alias("pipeline_iid"),
            pl.col("status"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening("started", utc(pl.coalesce("started_at", "created_at")), "running"),
        Happening(
            "completed",
            utc(pl.coalesce("finished_at", "updated_at")),
            pl.col("status"),
            when=pl.col("status").is_in(PIPELINE_DONE),
        ),
    ),
)
pipelines = polled(PIPELINES, SOURCE, "``started``, then ``completed`` in GitLab's status.")

JOB = pl.Struct(
    {
        **text("id", "name", "stage", "status", "ref", "allow_failure", "failure_reason"),
        **text("created_at", "started_at", "finished_at", "duration", "queued_duration"),
        "web_url": S,
        "user": USER,
        "commit": pl.Struct({"id": S}),
        "pipeline": pl.Struct({"id": S, "sha": S}),
    }
)
JOBS = PolledKind(
    dtype=JOB,
    problems=(
        missing("job"),
        optional_timestamp("started_at"),
        optional_timestamp("finished_at"),
    ),
    actor=_RUNNER,
    references=(
        pl.col("started_at").is_null() & pl.col("finished_at").is_null(),
        "job not started (created, pending, manual or skipped): nothing has happened yet",
    ),
    entity_type="ci_run",
    entity_id=pl.col("scope") + "/jobs/" + pl.col("id"),
    columns={
        **as_actor("runner"),
        "repository": pl.col("scope"),
        "commit_sha": pl.coalesce(
            pl.col("commit").struct.field("id"), pl.col("pipeline").struct.field("sha")
        ),
        "pr_number": _iid_from_ref(pl.col("ref")),
        "ticket_keys": _ticket_keys(pl.col("ref")),
        "title": pl.col("name"),
        "url": pl.col("web_url"),
        "attributes": pl.struct(
            pl.col("pipeline").struct.field("id").cast(pl.Int64, strict=False).alias("pipeline_id"),
            pl.col("stage"),
            pl.col("name"),
            _branch(pl.col("ref")).alias("head_branch"),
            pl.col("ref"),
            pl.col("duration").cast(pl.Float64, strict=False),
            pl.col("queued_duration").cast(pl.Float64, strict=False),
            _is_true("allow_failure").alias("allow_failure"),
            pl.col("failure_reason"),
        ).struct.json_encode(),
    },
    happenings=(
        once_set("started_at", "started", "running"),
        Happening(
            "completed",
            utc(pl.col("finished_at")),
            pl.col("status"),
            when=pl.col("status").is_in(JOB_DONE) & pl.col("finished_at").is_not_null(),
        ),
    ),
)
jobs = polled(
    JOBS,
    SOURCE,
    """Each job run: ``started`` when it started, ``completed`` when it finished.

    A job that has not started (created, pending, manual) or never will (skipped) holds no
    event yet; it is recorded as a reference.
    """,
)


# -- deployments, issues, commits ---------------------------------------------------------------
DEPLOYMENT = pl.Struct(
    {
        **text("id", "iid", "ref", "sha", "status", "created_at", "updated_at"),
        "user": USER,
        "environment": pl.Struct(text("id", "name", "tier")),
        "deployable": pl.Struct(text("id", "name", "started_at", "finished_at", "web_url")),
    }
)
_RUNNING_AT = pl.coalesce(
    "job_started_at", pl.when(pl.col("status") == "running").then(pl.col("updated_at"))
)
DEPLOYMENTS = PolledKind(
    dtype=DEPLOYMENT,
    prepare=_with_web_root,
    derived=(
        {
            "job_started_at": pl.col("deployable").struct.field("started_at"),
            "job_finished_at": pl.col("deployable").struct.field("finished_at"),
        },
    ),
    problems=(
        missing("deployment"),
        bad_timestamp("created_at", "created_at"),
        optional_timestamp("updated_at"),
        optional_timestamp("job_started_at", "deployable.started_at"),
        optional_timestamp("job_finished_at", "deployable.finished_at"),
    ),
    actor=_people(("user", "deployer")),
    entity_type="deployment",
    entity_id=pl.col("scope") + "/deployments/" + pl.col("id"),
    columns={
        **as_actor("deployer"),
        "environment": pl.col("environment").struct.field("name"),
        "deployment_id": pl.col("id"),
        "repository": pl.col("scope"),
        "commit_sha": pl.col("sha"),
        "ticket_keys": NO_KEYS,
        # its deploy job's page, else the commit it deploys, else its environment's page
        "url": pl.coalesce(
            pl.col("deployable").struct.field("web_url"),
            pl.when(pl.col("sha").str.contains(r"^[0-9a-f]{40}$")).then(
                pl.col("web_root") + "/" + pl.col("scope") + "/-/commit/" + pl.col("sha")
            ),
            pl.col("web_root")
            + "/"
            + pl.col("scope")
            + "/-/environments"
            + pl.concat_str(pl.lit("/"), pl.col("environment").struct.field("id")).fill_null(""),
        ),
        "attributes": pl.struct(
            pl.col("ref"),
            pl.col("iid").cast(pl.Int64, strict=False).alias("deployment_iid"),
            pl.col("deployable").struct.field("name").alias("job"),
            pl.col("environment").struct.field("tier").alias("tier"),
        ).struct.json_encode(),
    },
    happenings=(
        Happening("created", utc(pl.col("created_at")), "created"),
        Happening(
            "status_running",
            utc(_RUNNING_AT),
            "running",
            when=pl.col("status").is_in(["running", "success", "failed", "canceled"])
            & _RUNNING_AT.is_not_null(),
        ),
        Happening(
            "status_" + pl.col("status"),
            utc(pl.coalesce("job_finished_at", "updated_at")),
            pl.col("status"),
            when=pl.col("status").is_in(DEPLOYMENT_DONE),
        ),
    ),
)
deployments = polled(
    DEPLOYMENTS,
    SOURCE,
    """``created``, then ``status_running`` when its deploy job started and ``status_<status>``
    (``success``, ``failed``, ``canceled``…) when it finished; the list shows only the latest
    status, and the deploy job's start and end times are the times of the transitions.""",
)


ISSUE = pl.Struct(
    {
        **text("id", "iid", "title", "description", "state", "created_at", "closed_at"),
        **text("issue_type", "web_url"),
        "labels": pl.List(S),
        **dict.fromkeys(("author", "closed_by", "assignee"), USER),
        "assignees": pl.List(USER),
    }
)


def _issue_attributes(category: str) -> dict[str, pl.Expr]:
    return {
        "attributes": pl.struct(
            pl.lit(category).alias("status_category"),
            pl.concat_list(pl.col("scope")).alias("components"),
            pl.col("assignee_actor").alias("assignee"),
            pl.coalesce("issue_type", pl.lit("issue")).alias("issue_type"),
            pl.col("labels"),
        ).struct.json_encode()
    }


ISSUES = PolledKind(
    dtype=ISSUE,
    derived=({"assigned": pl.coalesce(pl.col("assignee"), pl.col("assignees").list.first())},),
    problems=(
        missing("issue", "iid"),
        bad_timestamp("created_at", "created_at"),
        optional_timestamp("closed_at"),
    ),
    actor=_people(("author", "author"), ("closed_by", "closer"), ("assigned", "assignee")),
    entity_type="ticket",
    entity_id=pl.col("scope") + "#" + pl.col("iid"),
    columns={
        "ticket_keys": pl.concat_list(
            pl.col("scope") + "#" + pl.col("iid"),
            _ticket_keys(pl.col("title"), pl.col("description")),
        ).list.unique(maintain_order=True),
        "url": pl.col("web_url"),
    },
    happenings=(
        Happening(
            "created",
            utc(pl.col("created_at")),
            "opened",
            columns={**as_actor("author"), **_issue_attributes("new")},
        ),
        Happening(
            "closed",
            utc(pl.col("closed_at")),
            "closed",
            when=(pl.col("state") == "closed") & pl.col("closed_at").is_not_null(),
            columns={**as_actor("closer"), **_issue_attributes("done")},
        ),
    ),
)
issues = polled(
    ISSUES,
    SOURCE,
    """Issues as tickets: ``created`` (status category ``new``) and ``closed`` (``done``).

    ``components`` holds the project path: a GitLab issue belongs to its project the way a Jira
    issue belongs to its component, which is how a team's tickets are found.
    """,
)


COMMIT = pl.Struct(
    {
        "id": S,
        "title": S,
        "message": S,
        "author_name": S,
        "author_email": S,
        "committed_date": S,
        "created_at": S,
        "parent_ids": pl.List(S),
        "web_url": S,
        # The connector attaches ``GET …/repository/commits/:sha/diff`` as it is served.
        "diff": pl.List(pl.Struct({"new_path": S, "old_path": S})),
    }
)


def _commit_attributes() -> pl.Expr:
    """``parents`` and, when the record carries its diff, ``files``, old and new paths."""
    paths = pl.element().struct.field("new_path"), pl.element().struct.field("old_path")
    return commit_attributes(
        pl.col("parent_ids").list.len(),
        pl.concat_list(pl.col("diff").list.eval(paths[0]), pl.col("diff").list.eval(paths[1])),
        listed=pl.col("diff").is_not_null(),
    )


def commits(landing: pl.DataFrame, key: str) -> Normalised:
    """One ``committed`` event per default-branch commit, at its committer date, attributed to
    the pseudonym of its author email (as ``git log`` commits are); a merge commit's
    "See merge request …!<iid>" line gives its merge request number."""
    return polled_events(landing, key, COMMITS, source=SOURCE)


_MESSAGE = pl.coalesce("message", "title").fill_null("")
COMMITS = PolledKind(
    dtype=COMMIT,
    derived=(
        {"committed_at": pl.coalesce("committed_date", "created_at")},
        {
            "actor_kind": pl.when(
                pl.col("author_email").str.contains(r"\[bot\]@")
                | pl.col("author_name").str.ends_with("[bot]")
            )
            .then(pl.lit("bot"))
            .when(pl.col("author_email").is_not_null())
            .then(pl.lit("human"))
            .otherwise(pl.lit("unknown"))
        },
    ),
    problems=(missing("commit"), bad_timestamp("committed_at", "committed_date")),
    actor=email_author,
    entity_type="commit",
    entity_id=pl.col("scope") + "@" + pl.col("id"),
    columns={
        "repository": pl.col("scope"),
        "commit_sha": pl.col("id"),
        "pr_number": _MESSAGE.str.extract(MERGE_REQUEST_REF).cast(pl.Int64, strict=False),
        "title": _MESSAGE.str.replace_all("\r", "", literal=True).str.split("\n").list.first(),
        "ticket_keys": _MESSAGE.str.extract_all(TICKET_KEY).list.unique(maintain_order=True),
        "url": pl.col("web_url"),
        "attributes": _commit_attributes(),
    },
    happenings=(Happening("committed", utc(pl.col("committed_at"))),),
)


# -- webhook deliveries --------------------------------------------------------------------------
# One event per delivery, named as the polled records' events are, attributed to the hook's
# ``user``. GitLab hooks carry fewer times than the API (no ``merged_at``, no push time): the
# entity's ``updated_at`` or, failing that, the receipt time stands in.
PROJECT = pl.Struct({"path_with_namespace": S, "web_url": S})
ZERO_SHA = "0" * 40
ATTRS = pl.col("object_attributes")


def _attr(name: str) -> pl.Expr:
    return ATTRS.struct.field(name)


def _project_page(kind: str) -> pl.Expr:
    """``<project web_url>/-/<kind>/<iid>``: the page of a hook's object that names no url."""
    return pl.col("project").struct.field("web_url") + f"/-/{kind}/" + _attr("iid")


def _hook(label: str, fields: dict[str, pl.DataType], **parts: object) -> WebhookEvent:
    dtype = pl.Struct({"user": USER, "project": PROJECT, **fields})
    return WebhookEvent(label, dtype, **parts)  # type: ignore[arg-type]


def _hook_user(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = _person(rows, "user", key=key, prefix="hook").with_columns(**as_actor("hook"))
    return rows, _vault([rows.get_column("user")], key)


# ``object_attributes.action`` → the action polled records name (or GitLab's own word).
MERGE_REQUEST_ACTIONS = {
    "open": "opened",
    "merge": "merged",
    "close": "closed",
    "reopen": "reopened",
    "update": "updated",
    "approval": "approved",
    "unapproval": "unapproved",
}
ISSUE_ACTIONS = {"open": "created", "close": "closed", "reopen": "reopened", "update": "updated"}


def _push(label: str) -> WebhookEvent:
    """Pushes to a branch (``Push Hook``) or tag (``Tag Push Hook``): ``pushed``, or ``deleted``
    when ``after`` is all zeros, the event id ending in ``:<after>``. The user is given as flat
    ``user_*`` fields. The commits listed are commit events too (see ``_with_commits``)."""
    return WebhookEvent(
        label,
        pl.Struct(
            {
                "project": PROJECT,
                "ref": S,
                "before": S,
                "after": S,
                "checkout_sha": S,
                "user_id": S,
                "user_username": S,
                "user_name": S,
                "total_commits_count": S,
                "commits": pl.List(pl.Struct({"id": S, "message": S, "title": S})),
            }
        ),
        derived={
            "user": pl.struct(
                pl.col("user_id").alias("id"),
                pl.col("user_username").alias("username"),
                pl.col("user_name").alias("name"),
                pl.lit(None, S).alias("state"),
                pl.lit(None, S).alias("bot"),
            )
        },
        entity_type=pl.when(pl.col("ref").str.starts_with("refs/tags/"))
        .then(pl.lit("tag"))
        .otherwise(pl.lit("branch")),
        entity_id=pl.col("scope") + ":" + pl.col("ref"),
        action=pl.when(pl.col("after") == ZERO_SHA)
        .then(pl.lit("deleted"))
        .otherwise(pl.lit("pushed")),
        # Pushes carry no time (the receipt time stands in): ``after`` tells two apart.
        discriminator=pl.col("after"),
        time=pl.lit(None, S),
        columns={
            "repository": pl.col("scope"),
            "commit_sha": pl.when(pl.col("after") != ZERO_SHA).then(
                pl.coalesce("checkout_sha", "after")
            ),
            "ticket_keys": _ticket_keys(
                pl.col("ref"),
                pl.col("commits").list.eval(pl.element().struct.field("message")).list.join("\n"),
            ),
            "title": pl.col("commits").list.last().struct.field("title"),
            "url": pl.col("project").struct.field("web_url"),
            "attributes": pl.struct(
                pl.col("before"),
                pl.col("after"),
                pl.col("total_commits_count").cast(pl.Int64, strict=False).alias("commits"),
                pl.col("commits").list.eval(pl.element().struct.field("id")).alias("commit_shas"),
            ).struct.json_encode(),
        },
    )


# What merge request and pipeline hooks say of their object (``object_attributes``).
MERGE_REQUEST_HOOK = pl.Struct(
    {
        **text("iid", "title", "description", "state", "action", "created_at", "updated_at"),
        **text("source_branch", "target_branch", "merge_commit_sha", "url"),
        "last_commit": pl.Struct({"id": S}),
    }
)
PIPELINE_HOOK = pl.Struct(
    text("id", "iid", "name", "ref", "sha", "status", "source", "created_at", "finished_at")
)

HOOKS: dict[str, WebhookEvent] = {
    "merge_request": _hook(
        "merge request",
        {"object_attributes": MERGE_REQUEST_HOOK},
        entity_type=pl.lit("pull_request"),
        entity_id=pl.col("scope") + "!" + _attr("iid"),
        # Older hooks have no action: they report an update.
        action=_attr("action").replace(MERGE_REQUEST_ACTIONS).fill_null("updated"),
        time=pl.when(_attr("action") == "open")
        .then(_attr("created_at"))
        .otherwise(_attr("updated_at")),
        columns={
            "repository": pl.col("scope"),
            "pr_number": _attr("iid").cast(pl.Int64, strict=False),
            "commit_sha": pl.when(_attr("action") == "merge")
            .then(_attr("merge_commit_sha"))
            .otherwise(_attr("last_commit").struct.field("id")),
            "ticket_keys": _ticket_keys(
                _attr("title"), _attr("source_branch"), _attr("description")
            ),
            "title": _attr("title").str.replace(DRAFT_PREFIX, ""),
            # System hooks leave the merge request's own url out: built from its project's.
            "url": pl.coalesce(_attr("url"), _project_page("merge_requests")),
            "state": _attr("state"),
            "attributes": pl.struct(
                _attr("source_branch").alias("head_branch"),
                _attr("target_branch").alias("base_branch"),
            ).struct.json_encode(),
        },
    ),
    "pipeline": _hook(
        "pipeline",
        {"object_attributes": PIPELINE_HOOK, "merge_request": pl.Struct({"iid": S})},
        entity_type=pl.lit("ci_run"),
        entity_id=pl.col("scope") + "/pipelines/" + _attr("id"),
        action=run_action(_attr("status").is_in(PIPELINE_DONE), _attr("status") == "running"),
        time=pl.when(_attr("status").is_in(PIPELINE_DONE))
        .then(_attr("finished_at"))
        .otherwise(_attr("created_at")),
        columns={
            "repository": pl.col("scope"),
            "commit_sha": _attr("sha"),
            "pr_number": pl.coalesce(
                pl.col("merge_request").struct.field("iid").cast(pl.Int64, strict=False),
                _iid_from_ref(_attr("ref")),
            ),
            "ticket_keys": _ticket_keys(_attr("ref")),
            "title": pl.coalesce(_attr("name"), pl.lit("pipeline #") + _attr("iid")),
            "url": pl.col("project").struct.field("web_url") + "/-/pipelines/" + _attr("id"),
            "state": pl.when(_attr("status") == "running")
            .then(pl.lit("running"))
            .otherwise(_attr("status")),
            # The polled pipeline's attributes, so either version reads alike.
            "attributes": pl.struct(
                _branch(_attr("ref")).alias("head_branch"),
                _attr("ref").alias("ref"),
                _attr("source").alias("event"),
                _attr("iid").cast(pl.Int64, strict=False).alias("pipeline_iid"),
                _attr("status").alias("status"),
            ).struct.json_encode(),
        },
    ),
    # Job hooks name the project only in ``repository.homepage`` in older payloads.
    "job": _hook(
        "job",
        {
            **text("build_id", "build_name", "build_stage", "build_status", "build_started_at"),
            **text("build_finished_at", "build_failure_reason", "pipeline_id", "ref", "sha"),
            "repository": pl.Struct({"homepage": S}),
        },
        derived={
            "web": pl.coalesce(
                pl.col("project").struct.field("web_url"),
                pl.col("repository").struct.field("homepage"),
            ),
            "scope": pl.coalesce(
                pl.when(pl.col("scope") != "").then(pl.col("scope")),
                pl.col("repository").struct.field("homepage").str.extract(r"^https?://[^/]+/(.+)$"),
            ),
        },
        entity_type=pl.lit("ci_run"),
        entity_id=pl.col("scope") + "/jobs/" + pl.col("build_id"),
        action=pl.when(pl.col("build_status").is_in(JOB_DONE))
        .then(pl.lit("completed"))
        .otherwise(pl.lit("started")),
        time=pl.when(pl.col("build_status").is_in(JOB_DONE))
        .then(pl.col("build_finished_at"))
        .otherwise(pl.col("build_started_at")),
        no_event=(
            ~pl.col("build_status").is_in(JOB_DONE) & (pl.col("build_status") != "running"),
            "job not started (created, pending, manual or skipped): nothing has happened yet",
        ),
        columns={
            "repository": pl.col("scope"),
            "commit_sha": pl.col("sha"),
            "pr_number": _iid_from_ref(pl.col("ref")),
            "ticket_keys": _ticket_keys(pl.col("ref")),
            "title": pl.col("build_name"),
            "url": pl.col("web") + "/-/jobs/" + pl.col("build_id"),
            "state": pl.when(pl.col("build_status") == "running")
            .then(pl.lit("running"))
            .otherwise(pl.col("build_status")),
            "attributes": pl.struct(
                pl.col("pipeline_id").cast(pl.Int64, strict=False),
                pl.col("build_stage").alias("stage"),
                _branch(pl.col("ref")).alias("head_branch"),
                pl.col("build_failure_reason").alias("failure_reason"),
            ).struct.json_encode(),
        },
    ),
    # Comments on merge requests, issues, commits and snippets. System notes (GitLab's own
    # record of a change) are references: the change arrives as its own event.
    "note": _hook(
        "note",
        {
            "object_attributes": pl.Struct(
                text("id", "note", "noteable_type", "created_at", "url", "system", "commit_id")
            ),
            "merge_request": pl.Struct({"iid": S}),
            "issue": pl.Struct({"iid": S}),
            "snippet": pl.Struct({"id": S}),
        },
        derived={
            "noteable": pl.when(_attr("noteable_type") == "MergeRequest")
            .then(pl.col("scope") + "!" + pl.col("merge_request").struct.field("iid"))
            .when(_attr("noteable_type") == "Issue")
            .then(pl.col("scope") + "#" + pl.col("issue").struct.field("iid"))
            .when(_attr("noteable_type") == "Commit")
            .then(pl.col("scope") + "@" + _attr("commit_id"))
            .when(_attr("noteable_type") == "Snippet")
            .then(pl.col("scope") + "/snippets/" + pl.col("snippet").struct.field("id"))
        },
        entity_type=pl.lit("comment"),
        entity_id=pl.col("noteable") + "/notes/" + _attr("id"),
        action=pl.lit("commented"),
        time=_attr("created_at"),
        no_event=(_attr("system") == "true", "system note: the change it records is an event"),
        columns={
            "repository": pl.col("scope"),
            "pr_number": pl.col("merge_request").struct.field("iid").cast(pl.Int64, strict=False),
            "commit_sha": _attr("commit_id"),
            "ticket_keys": pl.concat_list(
                pl.when(_attr("noteable_type") == "Issue")
                .then(pl.concat_list(pl.col("noteable")))
                .otherwise(pl.lit([], pl.List(S))),
                _ticket_keys(_attr("note")),
            ).list.unique(maintain_order=True),
            "title": first_line(_attr("note")),
            "url": _attr("url"),
        },
    ),
    "issue": _hook(
        "issue",
        {
            "object_attributes": pl.Struct(
                {
                    **text("iid", "title", "description", "state", "action", "created_at"),
                    **text("updated_at", "closed_at", "url"),
                    "labels": pl.List(pl.Struct({"title": S})),
                }
            )
        },
        entity_type=pl.lit("ticket"),
        entity_id=pl.col("scope") + "#" + _attr("iid"),
        action=_attr("action").replace(ISSUE_ACTIONS).fill_null("updated"),
        time=pl.when(_attr("action") == "open")
        .then(_attr("created_at"))
        .when(_attr("action") == "close")
        .then(pl.coalesce(_attr("closed_at"), _attr("updated_at")))
        .otherwise(_attr("updated_at")),
        columns={
            "ticket_keys": pl.concat_list(
                pl.col("scope") + "#" + _attr("iid"),
                _ticket_keys(_attr("title"), _attr("description")),
            ).list.unique(maintain_order=True),
            "title": _attr("title"),
            "url": pl.coalesce(_attr("url"), _project_page("issues")),
            "state": _attr("state"),
            "attributes": pl.struct(
                pl.when(_attr("state") == "closed")
                .then(pl.lit("done"))
                .otherwise(pl.lit("new"))
                .alias("status_category"),
                pl.concat_list(pl.col("scope")).alias("components"),
                _attr("labels").list.eval(pl.element().struct.field("title")).alias("labels"),
            ).struct.json_encode(),
        },
    ),
    "deployment": _hook(
        "deployment",
        {
            **text("deployment_id", "status", "status_changed_at", "environment", "ref"),
            **text("commit_url", "commit_title", "deployable_url"),
        },
        entity_type=pl.lit("deployment"),
        entity_id=pl.col("scope") + "/deployments/" + pl.col("deployment_id"),
        action="status_" + pl.col("status"),
        time=pl.col("status_changed_at"),
        columns={
            "repository": pl.col("scope"),
            "commit_sha": pl.col("commit_url").str.extract(r"/commit/([0-9a-f]{40})"),
            "deployment_id": pl.col("deployment_id"),
            "environment": pl.col("environment"),
            "state": pl.col("status"),
            "title": pl.col("commit_title"),
            # its deploy job's page, else the commit it deploys, else the environments page
            "url": pl.coalesce(
                "deployable_url",
                "commit_url",
                pl.col("project").struct.field("web_url") + "/-/environments",
            ),
            "attributes": pl.struct("ref").struct.json_encode(),
        },
    ),
    "release": _hook(
        "release",
        {
            **text("action", "tag", "name", "url", "released_at"),
            "commit": pl.Struct({"id": S}),
        },
        entity_type=pl.lit("release"),
        entity_id=pl.col("scope") + "/releases/" + pl.col("tag"),
        action=pl.col("action").replace({"create": "published", "update": "updated"}) + "",
        time=pl.when(pl.col("action") == "create").then(pl.col("released_at")),
        columns={
            "repository": pl.col("scope"),
            "release": pl.col("tag"),
            "commit_sha": pl.col("commit").struct.field("id"),
            "title": pl.coalesce("name", "tag"),
            "url": pl.col("url"),
        },
    ),
    "push": _push("push"),
    "tag_push": _push("tag push"),
}


def _webhook(kind: str) -> Callable[[pl.DataFrame, str], Normalised]:
    def normaliser(landing: pl.DataFrame, key: str) -> Normalised:
        return webhook_events(landing, key, HOOKS[kind], source=SOURCE, actor=_hook_user)

    normaliser.__doc__ = f"GitLab ``{kind}`` webhook deliveries → events (see ``HOOKS``)."
    return normaliser


SYSTEM_EVENT = pl.Struct({"object_kind": S, "event_name": S})
PROJECT_EVENTS = ("merge_request", "push", "tag_push")


def system_hooks(landing: pl.DataFrame, key: str) -> Normalised:
    """System hooks carry project events in the project hooks' shapes (merge requests, pushes,
    tag pushes), normalised as those; the rest (users, groups, projects created…) is
    administration and recorded as references."""
    decoded, undecodable = decode(landing, SYSTEM_EVENT)
    name = decoded.unnest("doc").select(
        "landing_ref", pl.coalesce("object_kind", "event_name").alias("event")
    )
    empty = Normalised(
        schema.empty(schema.SIGNALS), quarantine_rows(undecodable), schema.empty(schema.ACCOUNTS)
    )
    parts = [empty]
    for event in PROJECT_EVENTS:
        refs = name.filter(pl.col("event") == event).get_column("landing_ref")
        of_event = landing.filter(pl.col("landing_ref").is_in(refs))
        parts.append(WEBHOOKS[f"webhook:{event}"](of_event, key))
    other = name.filter(~pl.col("event").is_in(PROJECT_EVENTS).fill_null(False))
    admin = reference_rows(other, "GitLab system event (administration): no engineering signal")
    return Normalised(
        signals=pl.concat([p.signals for p in parts]),
        quarantine=pl.concat([p.quarantine for p in parts], how="diagonal_relaxed"),
        accounts=pl.concat([p.accounts for p in parts]),
        references=pl.concat([admin, *(p.references for p in parts if p.references is not None)]),
    )


def _with_commits(kind: str) -> Callable[[pl.DataFrame, str], Normalised]:
    def normaliser(landing: pl.DataFrame, key: str) -> Normalised:
        ref = webhook_events(landing, key, HOOKS[kind], source=SOURCE, actor=_hook_user)
        return with_pushed_commits(
            ref,
            landing,
            key,
            source=SOURCE,
            login_source=SOURCE,
            fields={"project": PROJECT},
            web_url=pl.col("project").struct.field("web_url") + "/-",
            merge_request_ref=MERGE_REQUEST_REF,
        )

    normaliser.__doc__ = (
        f"GitLab ``{kind}`` deliveries: the ref's event and a ``committed`` event per listed "
        "commit (``<project>@<sha>``, as polled), by the author's email, with its ``files``."
    )
    return normaliser


WEBHOOKS = {f"webhook:{kind}": _webhook(kind) for kind in HOOKS}
WEBHOOKS.update({f"webhook:{kind}": _with_commits(kind) for kind in ("push", "tag_push")})
WEBHOOKS["webhook:system_hook"] = system_hooks
