"""The webhook deliveries a simulated organisation's tools would send, in the order they happened.

Polled renderers answer "what does the API return at instant t"; this module answers "what did
each tool push to its webhook, and when". Every delivery's payload is built from the same
renderers as the REST shapes (a webhook's ``pull_request`` object is the REST pull plus the
fields only the single-pull endpoint and webhooks carry), so a delivery and a poll of the same
entity version agree field for field.

Rendered (GitHub, ``X-GitHub-Event``):

- ``push`` to a pull request's branch for every push (the first one creates the branch), and to
  the default branch for every group of commits that reached it at one instant (a merge: the
  pull request's commits, ``distinct`` false, and the merge commit);
- ``pull_request`` ``opened``, ``synchronize`` (a push to an open pull request),
  ``ready_for_review``, ``review_requested``, ``closed`` (``merged`` true or false);
- ``pull_request_review`` ``submitted``;
- ``deployment`` ``created`` and ``deployment_status`` ``created`` (in_progress, success, failure).

Jira (``webhookEvent``): ``jira:issue_created``; ``jira:issue_updated`` for each changelog
history (status, assignee, sprint, resolution… items); ``comment_created``.

Sentry Integration Platform (``Sentry-Hook-Resource: issue``): ``created`` at first seen,
``resolved`` and ``ignored``.

Not rendered: ``installation`` objects (a repository webhook sends none), GitHub ``reopened``
(the simulator never reopens a pull request), branch deletion after a merge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from .clock import epoch_ms, iso_z, jira_ts
from .ids import int_from, legacy_node_id, uuid_from
from .model import Commit, Deployment, PullRequest, Review, SentryIssue, Ticket, TicketComment
from .org import ORG_SLUG, Repo
from .render_github import API, WEB, WEB_FLOW_LOGIN, GithubRenderer
from .render_jira import BASE as JIRA_BASE
from .render_jira import JiraRenderer
from .render_sentry import WEB as SENTRY_WEB
from .render_sentry import SentryRenderer

if TYPE_CHECKING:
    from .world import World

ROUTES = ("github", "jira", "sentry")
ZERO_SHA = "0" * 40
# Sentry itself as the actor of what no person did (an issue first seen).
SENTRY_APPLICATION = {"type": "application", "id": "sentry", "name": "Sentry"}
# Among deliveries at the same instant, the order a tool sends them in.
_RANK = {
    ("github", "push"): 0,
    ("github", "pull_request.opened"): 1,
    ("github", "pull_request.synchronize"): 2,
    ("github", "pull_request.ready_for_review"): 3,
    ("github", "pull_request.review_requested"): 4,
    ("github", "pull_request_review.submitted"): 5,
    ("github", "pull_request.closed"): 6,
    ("github", "deployment.created"): 7,
    ("github", "deployment_status.created"): 8,
    ("jira", "jira:issue_created"): 0,
    ("jira", "jira:issue_updated"): 1,
    ("jira", "comment_created"): 2,
    ("sentry", "issue.created"): 0,
    ("sentry", "issue.resolved"): 1,
    ("sentry", "issue.ignored"): 1,
}


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: when the tool sent it, where, under which event name, and what.

    ``event`` is the value of the tool's event header (GitHub ``X-GitHub-Event``, Sentry
    ``Sentry-Hook-Resource``) or, for Jira, the body's ``webhookEvent``. ``delivery_id`` is
    deterministic: the same world renders the same ids, so a replay is recognised as one.
    """

    delivered_at: datetime
    route: str
    event: str
    payload: dict[str, Any]
    delivery_id: str

    @property
    def action(self) -> str | None:
        action = self.payload.get("action")
        return action if isinstance(action, str) else None

    @property
    def kind(self) -> str:
        """``<event>.<action>`` (``pull_request.opened``, ``issue.resolved``), or the event."""
        return f"{self.event}.{self.action}" if self.action else self.event


def deliveries(
    world: World,
    *,
    sources: Sequence[str] = ROUTES,
    start: datetime | None = None,
    end: datetime | None = None,
    teams: Iterable[str] | None = None,
) -> list[Delivery]:
    """Every webhook delivery of ``world`` for ``sources``, sorted by the time it happened.

    Args:
        world: the simulated organisation.
        sources: routes to render, any of ``github``, ``jira``, ``sentry``.
        start: only deliveries at or after this instant (timezone-aware).
        end: only deliveries before this instant (timezone-aware).
        teams: only these teams' repositories (GitHub), Jira component (Jira) and services
            (Sentry projects); all teams when None.

    Returns:
        deliveries ordered by time; at one instant, in the order the tool sends them (a push
        before its ``synchronize``, an issue's creation before its first update).

    Raises:
        ValueError: an unknown source or team, or a naive ``start`` / ``end``.
    """
    unknown = sorted(set(sources) - set(ROUTES))
    if unknown:
        raise ValueError(f"no webhook renderer for {unknown}; choose from {list(ROUTES)}")
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    team_keys = {t.key for t in world.teams}
    chosen = set(teams) if teams is not None else team_keys
    if chosen - team_keys:
        raise ValueError(f"unknown teams {sorted(chosen - team_keys)}; the world has {team_keys}")
    renderer = _WebhookRenderer(world, chosen)
    produced: list[tuple[datetime, int, int, Delivery]] = []
    for source in sources:
        for seq, delivery in enumerate(renderer.by_source[source]()):
            if start is not None and delivery.delivered_at < start:
                continue
            if end is not None and delivery.delivered_at >= end:
                continue
            rank = _RANK[(delivery.route, delivery.kind)]
            produced.append((delivery.delivered_at, rank, seq, delivery))
    produced.sort(key=lambda item: (item[0], item[1], item[3].route, item[2]))
    return [item[3] for item in produced]


def _files_of(commit: Commit) -> tuple[list[str], list[str], list[str]]:
    """``(added, removed, modified)`` paths of a commit, if the simulator records them.

    Accepts the shapes a ``files`` list may take: paths (modified), ``(path, status)`` pairs,
    mappings with ``filename``/``path`` and ``status``, or objects with those attributes.
    """
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []
    for item in getattr(commit, "files", None) or []:
        path: Any
        status: Any = "modified"
        if isinstance(item, str):
            path = item
        elif isinstance(item, tuple | list) and len(item) == 2:
            path, status = item
            if str(path) in ("added", "removed", "modified", "deleted", "renamed"):
                path, status = status, path
        elif isinstance(item, dict):
            path = item.get("filename") or item.get("path")
            status = item.get("status", status)
        else:
            path = getattr(item, "filename", None) or getattr(item, "path", None)
            status = getattr(item, "status", None) or getattr(item, "change", None) or status
        if not path:
            continue
        bucket = {"added": added, "removed": removed, "deleted": removed}.get(str(status), modified)
        bucket.append(str(path))
    return added, removed, modified


class _WebhookRenderer:
    def __init__(self, world: World, teams: set[str]) -> None:
        self.world = world
        self.seed = world.seed
        self.org = world.organisation
        self.timeline = world.timeline
        self.teams = teams
        self.github = GithubRenderer(self.org, self.timeline, self.seed)
        self.jira = JiraRenderer(self.org, self.timeline, self.seed)
        self.sentry = SentryRenderer(self.org, self.timeline, self.seed)
        self.repos: dict[str, Repo] = {
            r.full_name: r for r in self.org.repos if r.host == "github" and r.team in teams
        }
        self.pulls_by_key = {p.key: p for p in self.timeline.pulls}
        self.by_source: dict[str, Callable[[], Iterator[Delivery]]] = {
            "github": self.github_deliveries,
            "jira": self.jira_deliveries,
            "sentry": self.sentry_deliveries,
        }

    def _delivery(
        self, at: datetime, route: str, event: str, payload: dict[str, Any], *identity: object
    ) -> Delivery:
        delivery_id = uuid_from(self.seed, "webhook-delivery", route, event, *identity)
        return Delivery(at, route, event, payload, delivery_id)

    # --- GitHub -----------------------------------------------------------------------------

    def github_deliveries(self) -> Iterator[Delivery]:
        for pr in sorted(self.timeline.pulls, key=lambda p: (p.repo, p.number)):
            if pr.host == "github" and pr.repo in self.repos:
                yield from self._pull_deliveries(pr)
        for name in sorted(self.repos):
            yield from self._default_branch_pushes(name)
        for dep in sorted(self.timeline.deployments, key=lambda d: (d.repo, d.id)):
            if dep.host == "github" and dep.repo in self.repos:
                yield from self._deployment_deliveries(dep)

    def _organization(self) -> dict[str, Any]:
        api = f"{API}/orgs/{ORG_SLUG}"
        return {
            "login": ORG_SLUG,
            "id": self.github.org_id,
            "node_id": legacy_node_id("Organization", self.github.org_id),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{self.github.org_id}?v=4",
            "description": "",
        }

    def _repository(self, name: str, at: datetime) -> dict[str, Any]:
        return {**self.github.repository(self.repos[name], at), "custom_properties": {}}

    def _envelope(self, name: str, at: datetime, sender: str) -> dict[str, Any]:
        return {
            "repository": self._repository(name, at),
            "organization": self._organization(),
            "sender": self.github.person_user(sender, at),
        }

    def _rest_pull(self, pr: PullRequest, at: datetime) -> dict[str, Any]:
        """The REST pull, its head and base repositories as webhooks show repositories."""
        pull = self.github.pull(pr, at)
        for side in ("head", "base"):
            pull[side] = {**pull[side], "repo": {**pull[side]["repo"], "custom_properties": {}}}
        return pull

    def _pull(self, pr: PullRequest, at: datetime) -> dict[str, Any]:
        """The pull request as webhooks (and ``GET /pulls/{n}``) show it: REST pull + counts."""
        pull = self._rest_pull(pr, at)
        merged = pr.merged_at is not None and pr.merged_at <= at
        closed = pull["state"] == "closed"
        commits = [c for push in pr.pushes_at(max(at, pr.created_at)) for c in push.commits]
        paths: set[str] = set()
        for commit in commits:
            for group in _files_of(commit):
                paths.update(group)
        size = int_from(3, 60, self.seed, "pr-size", pr.key)
        pull.update(
            {
                "merged": merged,
                "mergeable": None if closed else True,
                "rebaseable": None if closed else True,
                "mergeable_state": "unknown" if closed else "clean",
                "merged_by": self.github.person_user(pr.merged_by, at)
                if merged and pr.merged_by
                else None,
                "comments": 0,
                "review_comments": 0,
                "maintainer_can_modify": False,
                "commits": len(commits),
                "additions": size * len(commits),
                "deletions": (size // 3) * len(commits),
                "changed_files": len(paths) or min(len(commits), 1 + size % 7),
            }
        )
        return pull

    def _pull_request(
        self, pr: PullRequest, at: datetime, action: str, sender: str, **extra: Any
    ) -> dict[str, Any]:
        return {
            "action": action,
            "number": pr.number,
            "pull_request": self._pull(pr, at),
            **extra,
            **self._envelope(pr.repo, at, sender),
        }

    def _review(self, pr: PullRequest, review: Review) -> dict[str, Any]:
        listed = self.github.list_reviews(pr.repo, pr.number, review.at)
        [found] = [r for r in listed if r["id"] == review.id]
        return {**found, "state": review.state.lower()}  # webhooks spell states in lower case

    def _pull_deliveries(self, pr: PullRequest) -> Iterator[Delivery]:
        ref = f"refs/heads/{pr.head_ref}"
        ends = [t for t in (pr.merged_at, pr.closed_at) if t is not None]
        ended = min(ends) if ends else None
        before = ZERO_SHA
        for n, push in enumerate(pr.pushes):
            if ended is not None and push.at > ended:
                break
            payload = self._push(
                pr.repo, ref, before, push.commits, push.at, push.actor, distinct=lambda _c: True
            )
            yield self._delivery(push.at, "github", "push", payload, pr.repo, ref, push.head_sha)
            if push.at > pr.created_at:
                sync = self._pull_request(
                    pr, push.at, "synchronize", push.actor, before=before, after=push.head_sha
                )
                yield self._delivery(
                    push.at, "github", "pull_request", sync, pr.key, "synchronize", n
                )
            before = push.head_sha
        opened = self._pull_request(pr, pr.created_at, "opened", pr.author)
        yield self._delivery(pr.created_at, "github", "pull_request", opened, pr.key, "opened")
        if (
            pr.starts_draft
            and pr.draft_until is not None
            and (ended is None or pr.draft_until <= ended)
        ):
            ready = self._pull_request(pr, pr.draft_until, "ready_for_review", pr.author)
            yield self._delivery(pr.draft_until, "github", "pull_request", ready, pr.key, "ready")
        for n, request in enumerate(pr.requests):
            requested = self._pull_request(
                pr,
                request.at,
                "review_requested",
                request.by,
                requested_reviewer=self.github.person_user(request.reviewer, request.at),
            )
            yield self._delivery(
                request.at, "github", "pull_request", requested, pr.key, "requested", n
            )
        for review in pr.reviews:
            payload = {
                "action": "submitted",
                "review": self._review(pr, review),
                "pull_request": self._rest_pull(pr, review.at),
                **self._envelope(pr.repo, review.at, review.reviewer),
            }
            yield self._delivery(review.at, "github", "pull_request_review", payload, review.key)
        if ended is not None:
            closer = (pr.merged_by if pr.merged_at else pr.closed_by) or pr.author
            closed = self._pull_request(pr, ended, "closed", closer)
            yield self._delivery(ended, "github", "pull_request", closed, pr.key, "closed")

    def _git_person(self, person_id: str, name: str, email: str, at: datetime) -> dict[str, Any]:
        """A push commit's author/committer: name and email as in git, the login if linked."""
        out: dict[str, Any] = {"name": name, "email": email}
        if person_id == "web-flow":
            out["username"] = WEB_FLOW_LOGIN
            return out
        person = self.org.person(person_id)
        linked = email == person.work_email or email.endswith("@users.noreply.github.com")
        if linked and "github" in person.accounts and not person.has_left(at):
            out["username"] = person.accounts["github"]
        return out

    def _push_commit(self, commit: Commit, at: datetime, *, distinct: bool) -> dict[str, Any]:
        added, removed, modified = _files_of(commit)
        return {
            "id": commit.sha,
            "tree_id": commit.tree_sha,
            "distinct": distinct,
            "message": commit.message,
            "timestamp": iso_z(commit.committed_at),
            "url": f"{WEB}/{commit.repo}/commit/{commit.sha}",
            "author": self._git_person(commit.author, commit.author_name, commit.author_email, at),
            "committer": self._git_person(
                commit.committer, commit.committer_name, commit.committer_email, at
            ),
            "added": added,
            "removed": removed,
            "modified": modified,
        }

    def _pusher(self, person_id: str, at: datetime) -> dict[str, Any]:
        person = self.org.person(person_id)
        login = person.accounts.get("github", person.name)
        return {"name": login, "email": person.email_for("git") or None}

    def _push(
        self,
        name: str,
        ref: str,
        before: str,
        commits: Sequence[Commit],
        at: datetime,
        pusher: str,
        *,
        distinct: Callable[[Commit], bool],
    ) -> dict[str, Any]:
        after = commits[-1].sha
        branch = ref.removeprefix("refs/heads/")
        compare = (
            f"{WEB}/{name}/compare/{branch}"
            if before == ZERO_SHA
            else f"{WEB}/{name}/compare/{before[:12]}...{after[:12]}"
        )
        rendered = [self._push_commit(c, at, distinct=distinct(c)) for c in commits]
        repository = self._repository(name, at)
        created = datetime.fromisoformat(repository["created_at"].replace("Z", "+00:00"))
        repository.update(
            {
                # A push payload's repository has epoch seconds where other payloads have ISO text.
                "created_at": int(created.timestamp()),
                "pushed_at": int(at.timestamp()),
                "url": f"{WEB}/{name}",
                "stargazers": 0,
                "master_branch": "main",
                "organization": ORG_SLUG,
                "owner": {"name": ORG_SLUG, "email": None, **repository["owner"]},
            }
        )
        return {
            "ref": ref,
            "before": before,
            "after": after,
            "repository": repository,
            "pusher": self._pusher(pusher, at),
            "organization": self._organization(),
            "sender": self.github.person_user(pusher, at),
            "created": before == ZERO_SHA,
            "deleted": False,
            "forced": False,
            "base_ref": None,
            "compare": compare,
            "commits": rendered,
            "head_commit": rendered[-1],
        }

    def _default_branch_pushes(self, name: str) -> Iterator[Delivery]:
        """One push per instant at which commits reached the default branch (a merge)."""
        landed = [c for c in self.timeline.main_commits.get(name, []) if c.on_main_at is not None]
        landed.sort(key=lambda c: c.on_main_at or self.world.start)  # stable: keeps git order
        head: str | None = None
        for at, group in groupby(landed, key=lambda c: c.on_main_at):
            commits = list(group)
            assert at is not None
            tip = commits[-1]
            if head is None:
                head = tip.parents[0] if tip.kind == "merge" else commits[0].parents[0]
            pr = self.pulls_by_key.get(tip.pr_key or "")
            pusher = (pr.merged_by if pr is not None else None) or tip.author
            if pusher == "web-flow":
                pusher = tip.author
            payload = self._push(
                name,
                "refs/heads/main",
                head,
                commits,
                at,
                pusher,
                # Commits already pushed to the pull request's branch are not new to the repo.
                distinct=lambda c: c.kind == "merge" or c.pr_key is None,
            )
            yield self._delivery(at, "github", "push", payload, name, "refs/heads/main", tip.sha)
            head = tip.sha

    def _deployment_deliveries(self, dep: Deployment) -> Iterator[Delivery]:
        created = {
            "action": "created",
            "deployment": self.github.deployment(dep, dep.created_at),
            "workflow": None,
            "workflow_run": None,
            **self._envelope(dep.repo, dep.created_at, dep.creator),
        }
        yield self._delivery(dep.created_at, "github", "deployment", created, dep.key)
        for (at, _state), status_id in zip(dep.statuses, dep.status_ids, strict=True):
            statuses = self.github.list_deployment_statuses(dep.repo, dep.id, at)
            [status] = [s for s in statuses if s["id"] == status_id]
            payload = {
                "action": "created",
                "deployment_status": status,
                "deployment": self.github.deployment(dep, at),
                "check_run": None,
                "workflow": None,
                "workflow_run": None,
                **self._envelope(dep.repo, at, dep.creator),
            }
            yield self._delivery(at, "github", "deployment_status", payload, dep.key, status_id)

    # --- Jira -------------------------------------------------------------------------------

    def _jira_tickets(self) -> list[Ticket]:
        return [t for t in self.jira.tickets if t.team in self.teams]

    def _jira_issue(self, ticket: Ticket, at: datetime) -> dict[str, Any]:
        """The issue as a webhook carries it: id, self, key and fields (no changelog)."""
        issue = self.jira.issue(ticket, at)
        return {k: issue[k] for k in ("id", "self", "key", "fields")}

    def _jira_hook(
        self, event: str, type_name: str | None, at: datetime, actor: str | None, **body: Any
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"timestamp": epoch_ms(at), "webhookEvent": event}
        if type_name:
            out["issue_event_type_name"] = type_name
        user = self.jira.user(actor, at)
        if user is not None:
            out["user"] = user
        return {**out, **body}

    def jira_deliveries(self) -> Iterator[Delivery]:
        tickets = self._jira_tickets()
        for ticket in tickets:
            at = ticket.created_at
            payload = self._jira_hook(
                "jira:issue_created",
                "issue_created",
                at,
                ticket.reporter,
                issue=self._jira_issue(ticket, at),
            )
            yield self._delivery(at, "jira", "jira:issue_created", payload, ticket.key)
            histories = self.jira.histories.get(ticket.key, [])
            rendered = self.jira.changelog(ticket.key, self.world.end)
            for (history_id, at, actor, changes), history in zip(histories, rendered, strict=False):
                fields = {c.field for c in changes}
                type_name = (
                    "issue_generic"
                    if "status" in fields
                    else "issue_assigned"
                    if fields == {"assignee"}
                    else "issue_updated"
                )
                payload = self._jira_hook(
                    "jira:issue_updated",
                    type_name,
                    at,
                    actor,
                    issue=self._jira_issue(ticket, at),
                    changelog={"id": history["id"], "items": history["items"]},
                )
                yield self._delivery(at, "jira", "jira:issue_updated", payload, history_id)
        by_key = {t.key: t for t in tickets}
        for comment in self.timeline.ticket_comments:
            ticket = by_key.get(comment.ticket_key)
            if ticket is not None:
                yield self._jira_comment(ticket, comment)

    def _jira_comment(self, ticket: Ticket, comment: TicketComment) -> Delivery:
        at = comment.at
        comment_id = str(int_from(10_000, 99_999_999, self.seed, "jira-comment", comment.id))
        author = self.jira.user(comment.author, at)
        fields = self._jira_issue(ticket, at)["fields"]
        kept = ("summary", "issuetype", "project", "assignee", "priority", "status")
        payload = self._jira_hook(
            "comment_created",
            "issue_commented",
            at,
            comment.author,
            comment={
                "self": f"{JIRA_BASE}/rest/api/2/issue/{ticket.uid}/comment/{comment_id}",
                "id": comment_id,
                "author": author,
                "body": comment.body,
                "updateAuthor": author,
                "created": jira_ts(at),
                "updated": jira_ts(at),
                "jsdPublic": True,
            },
            issue={
                "id": ticket.uid,
                "self": f"{JIRA_BASE}/rest/api/2/issue/{ticket.uid}",
                "key": ticket.key,
                "fields": {k: fields[k] for k in kept},
            },
        )
        payload.pop("user", None)  # comment events name the author in the comment only
        return self._delivery(at, "jira", "comment_created", payload, comment.id)

    # --- Sentry -----------------------------------------------------------------------------

    def sentry_deliveries(self) -> Iterator[Delivery]:
        services = {r.service for r in self.org.repos if r.team in self.teams}
        installation = {"uuid": uuid_from(self.seed, "sentry-installation")}
        for issue in sorted(self.timeline.sentry_issues, key=lambda i: int(i.id)):
            if issue.project not in services:
                continue
            moments = [("created", issue.first_seen)]
            moments += [("resolved", issue.resolved_at)] if issue.resolved_at else []
            moments += [("ignored", issue.ignored_at)] if issue.ignored_at else []
            for action, at in moments:
                payload = {
                    "action": action,
                    "installation": installation,
                    "data": {"issue": self._sentry_issue(issue, at)},
                    "actor": self._sentry_actor(issue, action),
                }
                yield self._delivery(at, "sentry", "issue", payload, issue.id, action)

    def _sentry_issue(self, issue: SentryIssue, at: datetime) -> dict[str, Any]:
        data = self.sentry.issue(issue, at)
        project_id = data["project"]["id"]
        return {
            **data,
            "permalink": None,  # webhooks leave it null; web_url is the link
            "url": f"{SENTRY_WEB}/api/0/organizations/{ORG_SLUG}/issues/{issue.id}/",
            "web_url": f"{SENTRY_WEB}/organizations/{ORG_SLUG}/issues/{issue.id}/",
            "project_url": f"{SENTRY_WEB}/organizations/{ORG_SLUG}/issues/?project={project_id}",
        }

    def _sentry_actor(self, issue: SentryIssue, action: str) -> dict[str, Any]:
        """Who did it: a person where the simulator records one, else Sentry itself."""
        person_id = getattr(issue, f"{action}_by", None) if action != "created" else None
        if not person_id:
            return dict(SENTRY_APPLICATION)
        person = self.org.person(person_id)
        sentry_id = person.accounts.get("sentry") or str(
            int_from(1_000_000, 9_999_999, self.seed, "sentry-user", person_id)
        )
        return {"type": "user", "id": sentry_id, "name": person.name}
