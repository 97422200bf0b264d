"""Engineers picking up tickets and shipping them as pull/merge requests.

Engineers are simulated together in time order (a heap of "next free" instants) so that
ticket picking sees exactly the tickets that exist and are still free at that instant.
Each work item produces pushes, CI runs, review requests, reviews and a merge or close,
and drives the ticket through its workflow.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime, timedelta

from .clock import align_to_work, with_ms, work_delay
from .conventions import BRANCH_FORMATS, DEMO, LINK_PLACES, TITLE_FORMATS, Conventions
from .ids import git_sha
from .model import Commit, PullRequest, Push, Review, ReviewRequest, Ticket
from .org import (
    CI_BOT_ID,
    DEPENDABOT_ID,
    ROLE_ENGINEER,
    ROLE_MANAGER,
    ROLE_PRODUCT,
    Organisation,
    Person,
    Repo,
)
from .sim_ci import CiSimulator, roll_outcome
from .sim_tickets import slugify

# Words for PR titles written without looking at the ticket (conventions.title_echo_rate).
_OWN_VERBS = ["Rework", "Handle", "Wire up", "Clean up", "Support", "Harden", "Split", "Add"]
_OWN_OBJECTS = [
    "retry budget",
    "request validation",
    "cache invalidation",
    "error mapping",
    "pagination helper",
    "feature flag plumbing",
    "background job",
    "serializer",
    "timeout handling",
    "metrics labels",
]
COVERAGE_BOT_REPOS = ("acme/payments-api", "acme/api-gateway", "acme/growth-web")
_CHORE_TITLES = [
    "Update CI cache keys",
    "Refactor config loading",
    "Remove dead feature flags",
    "Add structured logging",
    "Tidy up test fixtures",
    "Document local setup",
    "Speed up unit tests",
    "Pin base image digest",
    "Rename handler modules",
    "Fix flaky integration test",
]
_FOLLOW_UP_MESSAGES = [
    "Add tests",
    "Fix lint",
    "Handle edge case",
    "Improve error message",
    "Update snapshots",
    "Tidy up",
    "wip",
    "Rename variables",
]
_REVIEW_BODIES = {
    "APPROVED": ["", "", "LGTM", "Looks good 👍", "Nice cleanup, ship it."],
    "CHANGES_REQUESTED": [
        "Please add a test for the failure path.",
        "This breaks the retry semantics, see inline comments.",
        "Can we avoid the extra query here?",
    ],
    "COMMENTED": [
        "A few nits inline, nothing blocking.",
        "Question about the migration order.",
        "Left some thoughts.",
    ],
}
_DEPENDENCIES = {
    "python": ("pip", ["requests", "urllib3", "pydantic", "sqlalchemy", "boto3"]),
    "typescript": ("npm_and_yarn", ["axios", "react-native", "next", "zod", "lodash"]),
    "go": (
        "go_modules",
        ["golang.org/x/net", "github.com/gin-gonic/gin", "google.golang.org/grpc"],
    ),
}


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    """One of ``options`` by weight, with a single draw (first option below its share)."""
    total = sum(weight for _, weight in options)
    point = rng.random() * total
    for name, weight in options:
        if point < weight:
            return name
        point -= weight
    return options[-1][0]


def linear_display_name(person: Person) -> str:
    """Linear's username-like display name; also the prefix of Linear's branch names."""
    return person.work_email.split("@", 1)[0].split(".", 1)[0]


class CodeSimulation:
    def __init__(
        self,
        org: Organisation,
        tickets: list[Ticket],
        seed: int,
        start: datetime,
        end: datetime,
        conventions: Conventions = DEMO,
    ) -> None:
        self.org = org
        self.seed = seed
        self.conventions = conventions
        # Every decision only a non-demo convention needs draws from its own stream, so the
        # demo's streams (and so the demo world) stay exactly as they were.
        self.habit_rng = random.Random(f"{seed}:habits")
        self._team_index = {t.key: i for i, t in enumerate(org.teams)}
        self.start = start
        self.end = end
        self.rng = random.Random(f"{seed}:code")
        self.ci = CiSimulator(seed)
        self.pulls: list[PullRequest] = []
        # Pull requests each person was asked to review (for their review load).
        self._requested_of: dict[str, list[PullRequest]] = {}
        self._commit_count = 0
        self._branches: dict[str, set[str]] = {}
        self._team_tickets: dict[str, list[Ticket]] = {}
        for t in sorted(tickets, key=lambda t: t.created_at):
            if t.kind != "Epic":
                self._team_tickets.setdefault(t.team, []).append(t)
        self._repos_by_team: dict[str, list[Repo]] = {}
        for repo in org.repos:
            self._repos_by_team.setdefault(repo.team, []).append(repo)
        self.tickets_by_key = {t.key: t for t in tickets}

    # --- helpers ------------------------------------------------------------------------

    def _chance(self, rate: float) -> bool:
        """A habit that holds with probability ``rate`` (no draw when it always / never holds)."""
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        return self.habit_rng.random() < rate

    def _someone_else(self, team: str, author: str) -> str:
        """The PM or lead who moves tickets for others (``author`` when there is none)."""
        others = [
            p.person_id
            for role in (ROLE_PRODUCT, ROLE_MANAGER)
            for p in self.org.members_with_role(team, role)
            if p.person_id != author
        ]
        return self.habit_rng.choice(others) if others else author

    def active(self, person: Person, at: datetime) -> bool:
        return person.left_at is None or at < person.left_at

    def _commit(self, repo: Repo, author: Person, at: datetime, message: str) -> Commit:
        self._commit_count += 1
        email = author.email_for("gitlab" if repo.host == "gitlab" else "git")
        if repo.host == "gitlab" and "gitlab" not in author.tool_emails:
            email = author.email_for("git")
            if email.endswith("users.noreply.github.com"):
                email = author.work_email
        return Commit(
            sha=git_sha(self.seed, repo.full_name, self._commit_count),
            repo=repo.full_name,
            author=author.person_id,
            author_name=author.name,
            author_email=email,
            authored_at=at,
            committer=author.person_id,
            committer_name=author.name,
            committer_email=email,
            committed_at=at,
            message=message,
            tree_sha=git_sha(self.seed, "tree", repo.full_name, self._commit_count),
        )

    def _push(
        self,
        pr: PullRequest,
        repo: Repo,
        author: Person,
        at: datetime,
        messages: list[str],
        outcome: str | None = None,
        rerun_actor: str | None = None,
    ) -> datetime | None:
        """Commit ``messages`` just before ``at``, push, run CI. Returns the green time."""
        gaps = [self.rng.randint(3, 25) for _ in messages]
        commits = []
        for i, message in enumerate(messages):
            commit_at = with_ms(at - timedelta(minutes=sum(gaps[i:])), self.rng)
            commits.append(self._commit(repo, author, commit_at, message))
        push = Push(
            at=at,
            actor=author.person_id,
            commits=commits,
            ci_outcome=outcome or roll_outcome(self.rng, main=False),
        )
        pr.pushes.append(push)
        return self.ci.on_push(
            repo,
            sha=push.head_sha,
            branch=pr.head_ref,
            actor=author.person_id,
            at=at,
            commits=commits,
            pr_key=pr.key,
            outcome=push.ci_outcome,
            rerun_actor=rerun_actor or author.person_id,
        )

    def _push_until_green(
        self,
        pr: PullRequest,
        repo: Repo,
        author: Person,
        at: datetime,
        messages: list[str],
    ) -> tuple[datetime | None, datetime]:
        """Push, and keep pushing fixes while CI is red. Returns (green time, last push)."""
        green = self._push(pr, repo, author, at, messages)
        last = at
        for _ in range(2):
            if green is not None:
                break
            last = work_delay(last + timedelta(minutes=20), author.tz, self.rng, 0.3, 5)
            if not self.active(author, last):
                return None, last
            green = self._push(pr, repo, author, last, ["Fix failing tests"])
        return green, last

    def _pick_ticket(self, person: Person, at: datetime) -> Ticket | None:
        candidates = [
            t
            for t in self._team_tickets.get(person.team or "", [])
            if not t.taken
            and t.created_at <= at
            and t.current("assignee", t.initial_assignee) in (None, person.person_id)
        ]
        if not candidates:
            return None
        mine = [
            t for t in candidates if t.current("assignee", t.initial_assignee) == person.person_id
        ]
        if mine:
            return mine[0]
        candidates.sort(key=lambda t: (t.priority or 3, t.created_at))
        return self.rng.choice(candidates[:4])

    def _ticket_move(self, ticket: Ticket | None, at: datetime, actor: str, status: str) -> None:
        if ticket is None:
            return
        if ticket.tracker == "jira" and status == "Done":
            ticket.record(at, actor, "status", "Done")
            ticket.record(at, actor, "resolution", "Done")
            return
        if (
            ticket.tracker == "jira"
            and ticket.value_at("status", at, ticket.initial_status) == "Done"
        ):
            ticket.record(at, actor, "resolution", None)
        if ticket.tracker == "linear" and status == "To Do":
            status = "Todo"
        ticket.record(at, actor, "status", status)

    # --- the work loop ------------------------------------------------------------------

    def run(self) -> list[PullRequest]:
        queue: list[tuple[datetime, str]] = []
        for person in self.org.people:
            if person.role == ROLE_ENGINEER:
                first = align_to_work(
                    self.start + timedelta(hours=self.rng.uniform(0, 20)), person.tz, self.rng
                )
                queue.append((first, person.person_id))
        heapq.heapify(queue)
        while queue:
            at, pid = heapq.heappop(queue)
            person = self.org.person(pid)
            if at >= self.end:
                continue
            if person.left_at is not None and at >= person.left_at - timedelta(days=1):
                continue
            heapq.heappush(queue, (self._work_item(person, at), pid))
        self._dependabot()
        return self.pulls

    def _work_item(self, person: Person, at: datetime) -> datetime:
        rng = self.rng
        ticket = self._pick_ticket(person, at) if rng.random() < 0.82 else None
        if ticket is not None:
            ticket.taken = True
            ticket.record(at, person.person_id, "assignee", person.person_id)
            self._ticket_move(ticket, at, person.person_id, "In Progress")
            if rng.random() < (0.4 if ticket.kind == "Task" else 0.06):
                done = work_delay(at, person.tz, rng, 3, 40)
                self._ticket_move(ticket, done, person.person_id, "Done")
                return work_delay(at, person.tz, rng, 2, 8)
        repos = self._repos_by_team[person.team or ""]
        repo = rng.choices(repos, [r.weight for r in repos])[0]
        pr = self._pull_request(person, repo, ticket, at)
        # Reviewing, meetings and on-call fill the time between one PR and the next item.
        return work_delay(pr.created_at, person.tz, rng, 26, 92)

    def _naming(
        self, person: Person, repo: Repo, ticket: Ticket | None
    ) -> tuple[str, str, str | None, str, str, str]:
        """Branch, title, body, link style, kind and the summary the PR is written with."""
        rng = self.rng
        conv = self.conventions
        habits = conv.habits(self._team_index.get(repo.team, 0))
        if ticket is not None:
            kind = "fix" if ticket.kind == "Bug" else "feature"
            style = rng.choices(LINK_PLACES, habits.placement)[0]
            summary, slug, key = ticket.title, ticket.slug, ticket.key
            if not self._chance(conv.title_echo_rate):
                # Written without looking at the ticket: no words in common by design.
                summary = (
                    f"{self.habit_rng.choice(_OWN_VERBS)} {self.habit_rng.choice(_OWN_OBJECTS)}"
                )
                slug = slugify(summary)
        else:
            kind = rng.choice(["chore", "refactor", "docs", "test"])
            style = "none"
            summary = rng.choice(_CHORE_TITLES)
            slug, key = slugify(summary), ""
        prefix = {"feature": "feature", "fix": "fix"}.get(kind, "chore")
        keyed_branch = style == "branch" or (
            style == "title" and self._chance(habits.branch_with_title)
        )
        if ticket is not None and keyed_branch:
            if ticket.tracker == "linear" and conv.linear_branch_format is not None:
                form = conv.linear_branch_format
            else:
                form = _weighted(rng, habits.branch_formats)
            branch = BRANCH_FORMATS[form].format(
                prefix=prefix,
                user=linear_display_name(person),
                KEY=key,
                key=key.lower(),
                slug=slug,
                slug_=slug.replace("-", "_"),
            )
        else:
            branch = f"{prefix}/{slug}"
        taken = self._branches.setdefault(repo.full_name, set())
        base_branch, n = branch, 2
        while branch in taken:
            branch, n = f"{base_branch}-{n}", n + 1
        taken.add(branch)

        if style == "title":
            form = rng.choice(habits.title_formats)
            written = key.lower() if self._chance(conv.key_lower_in_title_rate) else key
            title = TITLE_FORMATS[form].format(
                KEY=written,
                summary=summary,
                lsummary=f"{summary[0].lower()}{summary[1:]}",
                type={"feature": "feat"}.get(kind, kind),
            )
        elif rng.random() < conv.conventional_title_rate:
            conventional = {"feature": "feat"}.get(kind, kind)
            title = f"{conventional}: {summary[0].lower()}{summary[1:]}"
        else:
            title = summary

        ticket_url = ""
        if ticket is not None:
            ticket_url = (
                f"https://acme.atlassian.net/browse/{key}"
                if ticket.tracker == "jira"
                else f"https://linear.app/acme/issue/{key}/{slug}"
            )
        if style == "body":
            body: str | None = rng.choice(
                [
                    f"{summary}.\n\nCloses {key}",
                    f"## Summary\n{summary}.\n\nFixes {ticket_url}",
                    f"Part of {key}.\n\n- implementation\n- tests",
                ]
            )
        elif style in ("title", "branch") and rng.random() < 0.3:
            body = f"## Summary\n{summary}.\n\nTicket: {ticket_url}"
        elif rng.random() < 0.3:
            body = None  # GitHub returns null for a PR opened without a description
        else:
            body = rng.choice(
                [
                    f"## Summary\n{summary}.\n\n## Testing\nUnit tests.",
                    f"{summary}. Reviewers: please check the migration.",
                    "",
                ]
            )
        return branch, title, body, style, kind, summary

    def _commit_messages(
        self, ticket: Ticket | None, style: str, title: str, summary: str, count: int
    ) -> list[str]:
        rng = self.rng
        key = ticket.key if ticket else ""
        first = title if style != "title" else (summary if ticket else title)
        messages = [first] + [rng.choice(_FOLLOW_UP_MESSAGES) for _ in range(count - 1)]
        if style == "commit" and ticket is not None:
            # the key lives only in one commit message
            slot = rng.randrange(count)
            messages[slot] = f"{key} {messages[slot] if slot else summary}"
        elif style in ("title", "branch"):
            rate = self.conventions.commit_key_prefix_rate
            messages = [f"{key}: {m}" if rng.random() < rate else m for m in messages]
        return messages

    def _pull_request(
        self, author: Person, repo: Repo, ticket: Ticket | None, started: datetime
    ) -> PullRequest:
        rng = self.rng
        branch, title, body, style, kind, summary = self._naming(author, repo, ticket)
        pr = PullRequest(
            key=f"{repo.full_name}@{len(self.pulls):05d}",
            host=repo.host,
            repo=repo.full_name,
            author=author.person_id,
            title=title,
            body=body,
            head_ref=branch,
            created_at=started,  # replaced below once the first pushes exist
            kind=kind,
            ticket_key=ticket.key if ticket else None,
            link_where=style,
            labels=self._labels(kind, rng),
        )
        self.pulls.append(pr)

        # Work before opening the PR: one to three pushes.
        opened = work_delay(started, author.tz, rng, 4, 48)
        n_commits = rng.choices([1, 2, 3, 4, 5], [18, 30, 25, 15, 12])[0]
        messages = self._commit_messages(ticket, style, title, summary, n_commits)
        n_pushes = 1 if n_commits == 1 else rng.randint(1, min(3, n_commits))
        cuts = sorted(rng.sample(range(1, n_commits), n_pushes - 1)) if n_pushes > 1 else []
        groups = [messages[a:b] for a, b in zip([0, *cuts], [*cuts, n_commits], strict=True)]
        span = max((opened - started).total_seconds(), 3600)
        push_times = sorted(
            align_to_work(
                started + timedelta(seconds=span * (i + 1) / (n_pushes + 0.5)),
                author.tz,
                rng,
                day_start=author.day_start,
            )
            for i in range(n_pushes)
        )
        green: datetime | None = None
        for group, at in zip(groups, push_times, strict=True):
            green = self._push(pr, repo, author, at, group)
        pr.created_at = with_ms(push_times[-1] + timedelta(minutes=rng.randint(2, 15)), rng)
        last_push = push_times[-1]
        if green is None:
            fix_at = work_delay(pr.created_at, author.tz, rng, 0.3, 4)
            if self.active(author, fix_at):
                green, last_push = self._push_until_green(
                    pr, repo, author, fix_at, ["Fix failing tests"]
                )

        ready = pr.created_at
        if rng.random() < 0.12:
            pr.starts_draft = True
            ready = work_delay(pr.created_at, author.tz, rng, 2, 30)
            pr.draft_until = ready
        conv = self.conventions
        if ticket is not None and self._chance(conv.review_move_rate):
            automated = ticket.tracker == "jira" and rng.random() < conv.review_move_by_automation
            mover = CI_BOT_ID if automated else author.person_id
            if not automated and self._chance(conv.moved_by_other_rate):
                mover = self._someone_else(ticket.team, author.person_id)
            self._ticket_move(ticket, ready, mover, "In Review")

        if rng.random() < 0.05:
            self._close_unmerged(
                pr, author, ticket, work_delay(pr.created_at, author.tz, rng, 24, 150)
            )
            return pr

        if repo.full_name in COVERAGE_BOT_REPOS:
            pr.reviews.append(
                Review(
                    key=f"{pr.key}/bot",
                    reviewer=CI_BOT_ID,
                    at=with_ms(pr.created_at + timedelta(minutes=rng.randint(8, 16)), rng),
                    state="COMMENTED",
                    body=f"Coverage: {rng.uniform(71, 93):.2f}% ({rng.uniform(-1, 1):+.2f}%) ✅",
                    commit_sha="",
                )
            )

        approved_at, last_push, green = self._review_cycle(
            pr, repo, author, ticket, ready, last_push, green
        )
        if approved_at is None or green is None:
            self._maybe_abandon(pr, author, ticket)
            return pr
        last_review = max(r.at for r in pr.reviews)
        merge_at = work_delay(max(approved_at, green, last_review), author.tz, rng, 0.1, 6)
        merger = author
        if rng.random() < 0.15 or not self.active(author, merge_at):
            merger = self.org.members_with_role(repo.team, ROLE_MANAGER)[0]
        if not self.active(author, merge_at):
            self._maybe_abandon(pr, author, ticket)
            return pr
        self._merge(pr, repo, merger, merge_at)
        if ticket is not None:
            automated = ticket.tracker == "jira" and rng.random() < conv.done_move_by_automation
            done_actor = CI_BOT_ID if automated else author.person_id
            done_at = with_ms(merge_at + timedelta(minutes=rng.randint(1, 25)), rng)
            if not self._chance(conv.done_move_rate):
                # Nobody moves it on merge; a PM or lead tidies the board later.
                done_actor = self._someone_else(ticket.team, author.person_id)
                done_at = work_delay(done_at, self.org.person(done_actor).tz, self.habit_rng, 2, 72)
            elif not automated and self._chance(conv.moved_by_other_rate):
                done_actor = self._someone_else(ticket.team, author.person_id)
            self._ticket_move(ticket, done_at, done_actor, "Done")
            if ticket.tracker == "jira" and rng.random() < 0.05:
                reopen = work_delay(done_at, author.tz, rng, 20, 90)
                self._ticket_move(ticket, reopen, ticket.reporter, "In Progress")
                self._ticket_move(
                    ticket, work_delay(reopen, author.tz, rng, 4, 40), author.person_id, "Done"
                )
        return pr

    def _labels(self, kind: str, rng: random.Random) -> list[str]:
        labels = {"fix": ["bug"], "feature": ["enhancement"], "docs": ["documentation"]}.get(
            kind, []
        )
        if rng.random() < 0.15:
            labels = [*labels, "needs-qa"]
        return labels

    def review_load(self, person_id: str, at: datetime) -> int:
        """Pull requests open at ``at`` that asked ``person_id`` for a review they have not
        given yet (work items run in order of start, so earlier ones are complete)."""
        load = 0
        for other in reversed(self._requested_of.get(person_id, [])):
            if other.created_at < at - timedelta(days=30):
                break
            if not other.is_open(at) or not any(
                r.reviewer == person_id and r.at <= at for r in other.requests
            ):
                continue
            if not any(r.reviewer == person_id and r.at <= at for r in other.reviews):
                load += 1
        return load

    def _request_review(self, pr: PullRequest, request: ReviewRequest) -> None:
        pr.requests.append(request)
        asked = self._requested_of.setdefault(request.reviewer, [])
        if not asked or asked[-1] is not pr:
            asked.append(pr)

    def _review_cycle(
        self,
        pr: PullRequest,
        repo: Repo,
        author: Person,
        ticket: Ticket | None,
        ready: datetime,
        last_push: datetime,
        green: datetime | None,
    ) -> tuple[datetime | None, datetime, datetime | None]:
        """Request reviewers and play out the review conversation.

        Returns (last approval, last push, green time of the last push).
        """
        rng = self.rng
        team = self.org.team(repo.team)
        pool = [
            self.org.person(pid)
            for pid in team.members
            if pid != author.person_id
            and self.org.person(pid).role in (ROLE_ENGINEER, ROLE_MANAGER)
            and self.active(self.org.person(pid), ready)
            and (self.org.person(pid).role == ROLE_ENGINEER or rng.random() < 0.3)
        ]
        reviewers = rng.sample(pool, min(len(pool), 1 if rng.random() < 0.55 else 2))
        # Causes of slow reviews: the reviewer's open review requests (load) and the pull
        # request's size (commits pushed before review): both make a reviewer answer later or
        # never, and a large change draws more change requests.
        load = {r.person_id: self.review_load(r.person_id, ready) for r in reviewers}
        size = max(sum(len(p.commits) for p in pr.pushes) - 2, 0)
        for reviewer in reviewers:
            self._request_review(
                pr,
                ReviewRequest(ready + timedelta(seconds=3), reviewer.person_id, author.person_id),
            )
        # Each requested reviewer may simply never respond: more likely when loaded or large.
        responders = [
            r
            for r in reviewers
            if rng.random() > min(0.07 + 0.05 * load[r.person_id] + 0.03 * size, 0.6)
        ]
        if not responders and rng.random() < 0.5 and pool:
            # The author pings someone else after a couple of days.
            extra = rng.choice(pool)
            ping = work_delay(ready, author.tz, rng, 40, 70)
            self._request_review(pr, ReviewRequest(ping, extra.person_id, author.person_id))
            responders, ready = [extra], ping
            load.setdefault(extra.person_id, self.review_load(extra.person_id, ping))
        approved_at: datetime | None = None
        for idx, reviewer in enumerate(responders):
            # Each review waiting ahead in the reviewer's queue delays this one by hours.
            queue = 8 * load[reviewer.person_id]
            hours = rng.choice([5, 18, 40]) * (1 + 0.15 * size)
            at = work_delay(ready, reviewer.tz, rng, 0.3 + queue, hours + 1.5 * queue)
            if not self.active(reviewer, at):
                continue
            more = 4 * min(size, 5)  # change requests on large pull requests
            state = rng.choices(
                ["APPROVED", "CHANGES_REQUESTED", "COMMENTED"],
                [60 - more, 25 + more, 15] if idx == 0 else [78, 7, 15],
            )[0]
            self._review(pr, reviewer, at, state)
            if state == "APPROVED":
                approved_at = max(approved_at or at, at)
                continue
            if state == "CHANGES_REQUESTED":
                if ticket is not None and rng.random() < 0.4:
                    # back to In Progress right away; the fix push (>= 30 min later) re-reviews
                    self._ticket_move(
                        ticket,
                        at + timedelta(minutes=rng.randint(1, 20)),
                        author.person_id,
                        "In Progress",
                    )
                fix_at = work_delay(at, author.tz, rng, 0.5, 20)
                if not self.active(author, fix_at):
                    continue
                green, last_push = self._push_until_green(
                    pr, repo, author, fix_at, ["Address review comments"]
                )
                if ticket is not None:
                    self._ticket_move(ticket, fix_at, author.person_id, "In Review")
                self._request_review(
                    pr,
                    ReviewRequest(
                        fix_at + timedelta(seconds=30), reviewer.person_id, author.person_id
                    ),
                )
                again = work_delay(last_push, reviewer.tz, rng, 0.5, 24)
            else:
                if rng.random() < 0.5:
                    reply_at = work_delay(at, author.tz, rng, 0.5, 10)
                    if self.active(author, reply_at):
                        green, last_push = self._push_until_green(
                            pr, repo, author, reply_at, ["Apply suggestions"]
                        )
                again = work_delay(max(at, last_push), reviewer.tz, rng, 1, 30)
            if rng.random() < 0.88 and self.active(reviewer, again):
                self._review(pr, reviewer, again, "APPROVED")
                approved_at = max(approved_at or again, again)
        return approved_at, last_push, green

    def _review(self, pr: PullRequest, reviewer: Person, at: datetime, state: str) -> None:
        pr.reviews.append(
            Review(
                key=f"{pr.key}/{len(pr.reviews)}",
                reviewer=reviewer.person_id,
                at=at,
                state=state,
                body=self.rng.choice(_REVIEW_BODIES[state]),
                commit_sha="",  # resolved once all pushes are known
            )
        )

    def _merge(self, pr: PullRequest, repo: Repo, merger: Person, at: datetime) -> None:
        pr.merged_at = at
        pr.merged_by = merger.person_id
        pr.closed_at = at
        pr.closed_by = merger.person_id
        commit = self._commit(repo, merger, at, "")  # message needs the PR number: finalize
        commit.kind = "merge"
        commit.pr_key = pr.key
        if repo.host == "github":
            # Merging in the web UI attributes the commit to the account's own address.
            if not commit.author_email.endswith("@users.noreply.github.com"):
                commit.author_email = merger.work_email
            commit.committer = "web-flow"
            commit.committer_name = "GitHub"
            commit.committer_email = "noreply@github.com"
        pr.merge_commit = commit
        outcome = roll_outcome(self.rng, main=True)
        self.ci.on_push(
            repo,
            sha=commit.sha,
            branch="main",
            actor=merger.person_id,
            at=at,
            commits=[c for p in pr.pushes for c in p.commits] + [commit],
            pr_key=pr.key,
            outcome=outcome,
            rerun_actor=merger.person_id,
        )

    def _close_unmerged(
        self, pr: PullRequest, closer: Person, ticket: Ticket | None, at: datetime
    ) -> None:
        pr.closed_at = at
        pr.closed_by = closer.person_id
        if ticket is not None:
            self._ticket_move(ticket, at, closer.person_id, "To Do")
            ticket.record(at, closer.person_id, "assignee", None)

    def _maybe_abandon(self, pr: PullRequest, author: Person, ticket: Ticket | None) -> None:
        """A stalled PR either lingers open or is closed; a leaver's work gets handed over."""
        rng = self.rng
        manager = self.org.members_with_role(self.org.repo(pr.repo).team, ROLE_MANAGER)[0]
        if author.left_at is not None:
            handover = work_delay(author.left_at, manager.tz, rng, 20, 70)
            if rng.random() < 0.5:
                pr.closed_at, pr.closed_by = handover, manager.person_id
            if ticket is not None:
                others = [
                    p
                    for p in self.org.members_with_role(ticket.team, ROLE_ENGINEER)
                    if p.person_id != author.person_id
                ]
                heir = rng.choice(others)
                ticket.record(handover, manager.person_id, "assignee", heir.person_id)
                if rng.random() < 0.5:
                    self._ticket_move(
                        ticket, work_delay(handover, heir.tz, rng, 20, 120), heir.person_id, "Done"
                    )
            return
        if rng.random() < 0.4:
            last_activity = max([pr.created_at, *(r.at for r in pr.reviews)])
            self._close_unmerged(
                pr, author, ticket, work_delay(last_activity, author.tz, rng, 120, 300)
            )

    # --- dependabot ---------------------------------------------------------------------

    def _dependabot(self) -> None:
        rng = self.rng
        bot = self.org.person(DEPENDABOT_ID)
        scale = (self.end - self.start).days / 60
        for repo in self.org.repos:
            if repo.host != "github":
                continue
            ecosystem, packages = _DEPENDENCIES[repo.language]
            for _ in range(round(rng.uniform(3, 6) * scale)):
                package = rng.choice(packages)
                minor = rng.randint(1, 30)
                old, new = f"1.{minor}.{rng.randint(0, 9)}", f"1.{minor + 1}.0"
                at = self.start + (self.end - self.start) * rng.random()
                at = with_ms(at.replace(hour=5, minute=rng.randint(0, 59)), rng)
                if at < self.start:
                    at += timedelta(days=1)
                branch = f"dependabot/{ecosystem}/{package}-{new}"
                pr = PullRequest(
                    key=f"{repo.full_name}@{len(self.pulls):05d}",
                    host=repo.host,
                    repo=repo.full_name,
                    author=DEPENDABOT_ID,
                    title=f"Bump {package} from {old} to {new}",
                    body=(
                        f"Bumps [{package}](https://github.com/advisories) from {old} to {new}.\n\n"
                        "Dependabot will resolve any conflicts with this PR as long as you don't "
                        "alter it yourself."
                    ),
                    head_ref=branch,
                    created_at=at + timedelta(seconds=40),
                    kind="deps",
                    ticket_key=None,
                    link_where="none",
                    labels=[
                        "dependencies",
                        {"pip": "python", "npm_and_yarn": "javascript"}.get(ecosystem, "go"),
                    ],
                )
                self.pulls.append(pr)
                team_engineers = [
                    p
                    for p in self.org.members_with_role(repo.team, ROLE_ENGINEER)
                    if self.active(p, at)
                ]
                # a human re-runs a flaky check on a bot's PR
                self._push(pr, repo, bot, at, [pr.title], rerun_actor=team_engineers[0].person_id)
                roll = rng.random()
                if roll < 0.7:
                    reviewer = rng.choice(team_engineers)
                    approve = work_delay(at, reviewer.tz, rng, 2, 48)
                    self._review(pr, reviewer, approve, "APPROVED")
                    self._merge(
                        pr,
                        repo,
                        reviewer,
                        with_ms(approve + timedelta(minutes=rng.randint(1, 30)), rng),
                    )
                elif roll < 0.85:
                    pr.closed_at = with_ms(at + timedelta(days=rng.uniform(3, 10)), rng)
                    pr.closed_by = DEPENDABOT_ID
