"""Internal timeline records. Renderers turn these into each tool's API JSON.

Records hold the *whole* history of a thing (every status change, push, review, attempt) so
any instant can be rendered by filtering that history; nothing here is tool-formatted.
The simulation mutates these while it builds the world; afterwards they are read-only.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- tickets -------------------------------------------------------------------------------


@dataclass
class Change:
    """One field change on a ticket; Jira groups changes at the same instant into a history."""

    at: datetime
    actor: str
    field: str  # "status" | "assignee" | "sprint" | "resolution" | "points" | "priority"
    old: Any
    new: Any


@dataclass
class Ticket:
    tracker: str  # "jira" | "linear"
    key: str
    number: int
    uid: str  # Jira numeric id (as str) or Linear uuid
    team: str
    kind: str  # Story | Bug | Task | Epic
    title: str
    description: list[str] | None  # paragraphs; renderers produce ADF / markdown
    reporter: str
    created_at: datetime
    priority: int  # 1 (highest/urgent) .. 4 (low); 0 = none (Linear only)
    labels: list[str]
    parent_key: str | None  # Jira epic key or Linear project id
    initial_status: str
    initial_assignee: str | None = None
    initial_points: float | None = None
    slug: str = ""
    # An epic's due date (Jira's ``duedate``, ISO date) and when its owner planned it.
    due_date: str | None = None
    planned_at: datetime | None = None
    changes: list[Change] = field(default_factory=list)
    # Set by the work simulation so two engineers never pick the same ticket.
    taken: bool = False

    def current(self, field_name: str, default: Any) -> Any:
        """Latest value written so far (used while the simulation appends changes)."""
        for change in reversed(self.changes):
            if change.field == field_name:
                return change.new
        return default

    def default_of(self, field_name: str) -> Any:
        return {
            "status": self.initial_status,
            "assignee": self.initial_assignee,
            "points": self.initial_points,
        }.get(field_name)

    def record(self, at: datetime, actor: str, field_name: str, new: Any) -> None:
        """Insert a change at ``at`` (any order), keeping later ``old`` values consistent."""
        at = max(at, self.created_at)  # nothing happens to a ticket before it exists
        old = self.value_at(field_name, at, self.default_of(field_name))
        if old == new:
            return
        pos = bisect_right(self.changes, at, key=lambda c: c.at)
        self.changes.insert(pos, Change(at, actor, field_name, old, new))
        for later in self.changes[pos + 1 :]:
            if later.field == field_name:
                later.old = new
                break

    def value_at(self, field_name: str, as_of: datetime, default: Any) -> Any:
        value = default
        for change in self.changes:
            if change.at > as_of:
                break
            if change.field == field_name:
                value = change.new
        return value

    def status_at(self, as_of: datetime) -> str:
        return self.value_at("status", as_of, self.initial_status)

    def assignee_at(self, as_of: datetime) -> str | None:
        return self.value_at("assignee", as_of, self.initial_assignee)

    def first_time(self, field_name: str, values: tuple[Any, ...]) -> datetime | None:
        for change in self.changes:
            if change.field == field_name and change.new in values:
                return change.at
        return None

    def last_time(
        self, field_name: str, values: tuple[Any, ...], as_of: datetime
    ) -> datetime | None:
        found = None
        for change in self.changes:
            if change.at > as_of:
                break
            if change.field == field_name and change.new in values:
                found = change.at
        return found

    def updated_at(self, as_of: datetime) -> datetime:
        last = self.created_at
        for change in self.changes:
            if change.at > as_of:
                break
            last = change.at
        return last


@dataclass
class Sprint:
    """A Jira sprint or a Linear cycle."""

    id: int | str
    number: int
    name: str
    created_at: datetime
    starts_at: datetime
    ends_at: datetime
    completed_at: datetime
    goal: str = ""

    def state_at(self, as_of: datetime) -> str:
        if as_of >= self.completed_at:
            return "closed"
        if as_of >= self.starts_at:
            return "active"
        return "future"


@dataclass
class LinearProject:
    id: str
    name: str
    slug_id: str
    description: str
    lead: str
    created_at: datetime
    start_date: str
    target_date: str
    planned_at: datetime | None = None  # when its lead set the target date (sim_plans)


@dataclass
class TicketComment:
    id: str
    ticket_key: str
    author: str
    at: datetime
    body: str


# --- code ----------------------------------------------------------------------------------


@dataclass
class Commit:
    sha: str
    repo: str
    author: str  # person id
    author_name: str
    author_email: str
    authored_at: datetime
    committer: str  # person id, or "web-flow" for GitHub's web merge identity
    committer_name: str
    committer_email: str
    committed_at: datetime
    message: str
    kind: str = "branch"  # branch | merge
    parents: list[str] = field(default_factory=list)
    on_main_at: datetime | None = None
    pr_key: str | None = None
    tree_sha: str = ""
    # Paths this commit changed (a merge commit: its diff against the first parent).
    files: list[str] = field(default_factory=list)


@dataclass
class Push:
    at: datetime
    actor: str
    commits: list[Commit]
    ci_outcome: str  # success | failure | flaky

    @property
    def head_sha(self) -> str:
        return self.commits[-1].sha


@dataclass
class ReviewRequest:
    at: datetime
    reviewer: str
    by: str


@dataclass
class Review:
    key: str
    reviewer: str
    at: datetime
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED
    body: str
    commit_sha: str
    id: int = 0


@dataclass
class PullRequest:
    key: str  # stable internal key; numbers are assigned once all PRs exist
    host: str
    repo: str
    author: str
    title: str
    body: str | None
    head_ref: str
    created_at: datetime
    kind: str  # feature | fix | chore | deps
    ticket_key: str | None
    link_where: str  # title | branch | body | commit | none
    labels: list[str] = field(default_factory=list)
    draft_until: datetime | None = None  # draft from creation until this instant
    starts_draft: bool = False
    pushes: list[Push] = field(default_factory=list)
    requests: list[ReviewRequest] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    merged_at: datetime | None = None
    merged_by: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    merge_commit: Commit | None = None
    base_sha: str = ""
    number: int = 0
    id: int = 0

    def is_open(self, as_of: datetime) -> bool:
        if self.created_at > as_of:
            return False
        if self.merged_at is not None and self.merged_at <= as_of:
            return False
        return not (self.closed_at is not None and self.closed_at <= as_of)

    def pushes_at(self, as_of: datetime) -> list[Push]:
        return [p for p in self.pushes if p.at <= as_of]

    def head_sha_at(self, as_of: datetime) -> str:
        pushed = self.pushes_at(max(as_of, self.created_at))
        return pushed[-1].head_sha if pushed else self.pushes[0].head_sha

    def is_draft_at(self, as_of: datetime) -> bool:
        if not self.starts_draft:
            return False
        return self.draft_until is None or as_of < self.draft_until

    def updated_at(self, as_of: datetime) -> datetime:
        times = [self.created_at]
        times += [p.at for p in self.pushes if self.created_at <= p.at <= as_of]
        times += [r.at for r in self.reviews if r.at <= as_of]
        times += [r.at for r in self.requests if r.at <= as_of]
        for t in (self.merged_at, self.closed_at, self.draft_until):
            if t is not None and t <= as_of:
                times.append(t)
        return max(times)

    def first_human_review_at(self, bots: set[str]) -> datetime | None:
        times = [r.at for r in self.reviews if r.reviewer not in bots and r.reviewer != self.author]
        return min(times) if times else None


@dataclass
class CiAttempt:
    started_at: datetime
    finished_at: datetime
    conclusion: str  # success | failure
    actor: str


@dataclass
class CiRun:
    """One GitHub Actions workflow run, GitLab pipeline or Jenkins build."""

    key: str
    system: str  # actions | gitlab | jenkins | circleci
    repo: str
    job: str  # workflow name or Jenkins job name
    sha: str
    branch: str
    event: str  # push | pull_request
    actor: str
    created_at: datetime
    attempts: list[CiAttempt]
    pr_key: str | None
    commits: list[Commit]  # the commits this push brought (Jenkins changeSet)
    flaky: bool = False
    retry_of: str | None = None  # Jenkins re-run of an earlier build with the same sha
    id: int = 0
    number: int = 0

    def attempts_at(self, as_of: datetime) -> list[CiAttempt]:
        return [a for a in self.attempts if a.started_at <= as_of] or self.attempts[:1]

    def green_at(self) -> datetime | None:
        """When this run's final attempt turned green, if it did."""
        last = self.attempts[-1]
        return last.finished_at if last.conclusion == "success" else None


@dataclass
class Deployment:
    key: str
    host: str
    repo: str
    service: str
    environment: str
    sha: str
    created_at: datetime
    creator: str
    statuses: list[tuple[datetime, str]]  # (at, in_progress | success | failure)
    id: int = 0
    status_ids: list[int] = field(default_factory=list)
    shipped_shas: list[str] = field(default_factory=list)
    pr_keys: list[str] = field(default_factory=list)
    iid: int = 0

    @property
    def succeeded_at(self) -> datetime | None:
        final_at, final = self.statuses[-1]
        return final_at if final == "success" else None

    @property
    def release_version(self) -> str:
        return f"{self.service}@{self.sha[:12]}"

    def state_at(self, as_of: datetime) -> str | None:
        state = None
        for at, s in self.statuses:
            if at <= as_of:
                state = s
        return state


@dataclass
class GithubRelease:
    key: str
    repo: str
    tag: str
    name: str
    sha: str
    author: str
    created_at: datetime
    published_at: datetime
    body: str
    prerelease: bool = False
    id: int = 0


@dataclass
class GithubIssue:
    """A native GitHub issue (a bug report filed against a repository, outside Jira)."""

    key: str
    repo: str
    title: str
    body: str
    author: str
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    labels: list[str]
    number: int = 0  # from the repository's one sequence, shared with pull requests
    id: int = 0


@dataclass
class GitlabIssue:
    key: str
    project: str
    iid: int
    title: str
    description: str
    author: str
    assignee: str | None
    created_at: datetime
    closed_at: datetime | None
    labels: list[str]
    id: int = 0


# --- incidents and design --------------------------------------------------------------------


@dataclass
class SentryIssue:
    key: str
    project: str  # the service (repository name); its Sentry slug follows the conventions
    id: str
    short_id: str
    title: str
    culprit: str
    level: str
    error_type: str
    error_value: str
    filename: str
    function: str
    first_seen: datetime
    # (time, events in the burst, distinct users in the burst), sorted by time
    bursts: list[tuple[datetime, int, int]]
    resolved_at: datetime | None
    ignored_at: datetime | None
    cause_deployment: str | None  # Deployment.key
    # In-app frames, outermost first, the raising frame last: (path, function).
    frames: list[tuple[str, str]] = field(default_factory=list)
    # Caused, but first seen only after a later deployment of the same service.
    late_manifest: bool = False

    def bursts_at(self, as_of: datetime) -> list[tuple[datetime, int, int]]:
        return self.bursts[: bisect_right([b[0] for b in self.bursts], as_of)]


@dataclass
class FigmaFile:
    key: str
    name: str
    team: str
    created_at: datetime
    thumbnail_url: str


@dataclass
class FigmaComment:
    id: str
    file_key: str
    parent_id: str  # "" for top-level comments, as Figma returns
    author: str
    at: datetime
    message: str
    resolved_at: datetime | None
    ticket_key: str | None  # ground truth: which ticket a #flowsync comment is about
    order_id: str | None
    client_meta: dict[str, Any]


@dataclass
class Timeline:
    tickets: list[Ticket]
    sprints: list[Sprint]
    cycles: list[Sprint]
    linear_projects: list[LinearProject]
    ticket_comments: list[TicketComment]
    pulls: list[PullRequest]
    main_commits: dict[str, list[Commit]]  # repo -> default-branch commits, oldest first
    ci_runs: list[CiRun]
    deployments: list[Deployment]
    releases: list[GithubRelease]
    gitlab_issues: list[GitlabIssue]
    sentry_issues: list[SentryIssue]
    figma_files: list[FigmaFile]
    figma_comments: list[FigmaComment]
    github_issues: list[GithubIssue] = field(default_factory=list)
