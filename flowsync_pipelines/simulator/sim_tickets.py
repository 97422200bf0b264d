"""Ticket pools (Jira PLAT + Linear MOB), sprints, cycles, epics/projects and the
bookkeeping passes that run after the code simulation (won't-do, epic progress); what sprints
commit to and carry over is :mod:`.sim_plans`."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

from .clock import align_to_work, with_ms, work_delay, zone
from .ids import hex_id, int_from, uuid_from
from .model import (
    GithubIssue,
    GitlabIssue,
    LinearProject,
    PullRequest,
    Sprint,
    Ticket,
    TicketComment,
)
from .org import (
    CI_BOT_ID,
    JIRA_PROJECT_KEY,
    LINEAR_TEAM_KEY,
    ROLE_DESIGNER,
    ROLE_ENGINEER,
    ROLE_MANAGER,
    ROLE_PRODUCT,
    Organisation,
)

JIRA_STATUSES = ("To Do", "In Progress", "In Review", "Done")
JIRA_IN_PROGRESS = ("In Progress", "In Review")
LINEAR_STARTED = ("In Progress", "In Review")
LINEAR_DONE = ("Done", "Canceled")
SPRINT_DAYS = 14
INITIAL_BACKLOG = 0.25  # of a 60-day history's tickets, filed in its first 40 hours
GROOMED = 0.25  # of tickets, filed in the day before a sprint starts
FIRST_EPICS = timedelta(days=60)  # what a team's first three epics plan
EPIC_EVERY = timedelta(days=20)  # between a team's later epics

_SUBJECTS = {
    "payments": [
        "refund flow",
        "3DS challenge screen",
        "invoice PDF export",
        "currency rounding",
        "webhook retries",
        "payout reconciliation",
        "SEPA mandate storage",
        "idempotency keys",
        "chargeback handling",
        "VAT calculation",
        "card vault tokens",
        "€/£ amount formatting",
    ],
    "platform": [
        "rate limiter",
        "service mesh TLS",
        "OAuth token refresh",
        "session store",
        "gateway timeouts",
        "audit log pipeline",
        "JWKS rotation",
        "request tracing",
        "canary routing",
        "health checks",
        "secrets rotation",
    ],
    "mobile": [
        "onboarding carousel",
        "push notification opt-in",
        "offline cart",
        "biometric login",
        "deep links",
        "dark mode",
        "app start time",
        "crash on Android 15",
        "image caching",
        "in-app review prompt",
        "résumé upload screen",
    ],
    "growth": [
        "pricing page experiment",
        "referral codes",
        "signup funnel events",
        "landing page hero",
        "UTM attribution",
        "email capture modal",
        "A/B bucketing",
        "newsletter double opt-in",
        "SEO sitemap",
        "trial extension banner",
    ],
}
_STORY_VERBS = [
    "Add",
    "Support",
    "Improve",
    "Refactor",
    "Migrate",
    "Speed up",
    "Redesign",
    "Clean up",
]
_BUG_TEMPLATES = [
    "{s} fails for some customers",
    "{s} returns 500 after deploy",
    "Crash in {s}",
    "{s} shows wrong values",
    "Timeout in {s}",
]
_TASK_TEMPLATES = [
    "Document {s}",
    "Spike: {s} options",
    "Upgrade dependencies for {s}",
    "Add alerts for {s}",
]
_EPIC_NAMES = {
    "payments": ["Checkout v3", "Invoicing revamp", "PCI hardening"],
    "platform": ["Zero-trust gateway", "Auth service v2", "Observability"],
    "mobile": ["Onboarding 2026", "Performance push", "Offline mode"],
    "growth": ["Pricing experiments", "Referral programme", "Attribution"],
}
_LABELS = ["tech-debt", "customer-reported", "security", "quick-win", "needs-design"]


def slugify(text: str, words: int = 5) -> str:
    ascii_text = text.encode("ascii", "ignore").decode().lower()
    parts = re.findall(r"[a-z0-9]+", ascii_text)
    return "-".join(parts[:words]) or "change"


def _title(rng: random.Random, team: str, kind: str) -> str:
    subject = rng.choice(_SUBJECTS[team])
    if kind == "Bug":
        text = rng.choice(_BUG_TEMPLATES).format(s=subject)
    elif kind == "Task":
        text = rng.choice(_TASK_TEMPLATES).format(s=subject)
    else:
        text = f"{rng.choice(_STORY_VERBS)} {subject}"
    return text[0].upper() + text[1:]


def _description(rng: random.Random, title: str, kind: str) -> list[str] | None:
    if rng.random() < 0.15:
        return None
    paragraphs = [f"{title}."]
    if kind == "Bug":
        paragraphs.append(
            "Steps to reproduce: open the screen, submit the form, observe the error."
        )
        paragraphs.append("Expected: the request succeeds. Actual: it fails intermittently.")
    else:
        paragraphs.append("Acceptance criteria: behaviour is covered by tests and documented.")
    return paragraphs


def build_sprints(seed: int, start: datetime, end: datetime) -> tuple[list[Sprint], list[Sprint]]:
    """Two-week Jira sprints (board 1) and Linear cycles covering the period plus one ahead."""
    rng = random.Random(f"{seed}:sprints")
    count = (end - start).days // SPRINT_DAYS + 2
    jira_first_number = rng.randint(18, 40)
    jira_first_id = rng.randint(40, 200)
    cycle_first_number = rng.randint(10, 30)
    sprints: list[Sprint] = []
    cycles: list[Sprint] = []
    for i in range(count):
        begin = start + timedelta(days=SPRINT_DAYS * i, hours=8)  # 10:00 in Berlin (CEST)
        finish = begin + timedelta(days=SPRINT_DAYS)
        sprints.append(
            Sprint(
                id=jira_first_id + i,
                number=jira_first_number + i,
                name=f"{JIRA_PROJECT_KEY} Sprint {jira_first_number + i}",
                created_at=start
                if i < 2
                else start + timedelta(days=SPRINT_DAYS * (i - 1), hours=9),
                starts_at=begin,
                ends_at=finish,
                completed_at=with_ms(finish + timedelta(minutes=rng.randint(5, 240)), rng),
                goal=rng.choice(["Ship checkout v3 beta", "Stabilise auth", "Burn down bugs", ""]),
            )
        )
        # Linear cycles start at local midnight in the mobile team's zone.
        local_midnight = datetime.combine(
            (start + timedelta(days=SPRINT_DAYS * i)).date(),
            datetime.min.time(),
            zone("Asia/Kolkata"),
        ).astimezone(UTC)
        cycles.append(
            Sprint(
                id=uuid_from(seed, "cycle", i),
                number=cycle_first_number + i,
                name="",
                created_at=start if i < 2 else local_midnight - timedelta(days=SPRINT_DAYS),
                starts_at=local_midnight,
                ends_at=local_midnight + timedelta(days=SPRINT_DAYS),
                completed_at=local_midnight + timedelta(days=SPRINT_DAYS),
            )
        )
    return sprints, cycles


def _epics(team: str, start: datetime, end: datetime) -> list[tuple[int, str, datetime]]:
    """A team's epics and when each is filed: the three that plan its first FIRST_EPICS, then a
    new one every EPIC_EVERY (the next phase of one of the three)."""
    later = max(0, -(-((end - start) - FIRST_EPICS) // EPIC_EVERY))
    names = _EPIC_NAMES[team]
    return [(i, names[i], start + timedelta(hours=2 + i)) for i in range(3)] + [
        (i, f"{names[i % 3]}: phase {i // 3 + 1}", start + FIRST_EPICS + EPIC_EVERY * (i - 3))
        for i in range(3, 3 + later)
    ]


def _open_epics(parents: list[tuple[datetime, str]], at: datetime) -> list[str]:
    """The epics a ticket filed at ``at`` can go under: the team's three latest by then."""
    made = [p for created, p in parents if created <= at]
    return (made if len(made) >= 3 else [p for _, p in parents[:3]])[-3:]


def build_ticket_pool(
    org: Organisation, seed: int, start: datetime, end: datetime
) -> tuple[list[Ticket], list[LinearProject]]:
    """Create every ticket with its creation time; keys/ids increase with creation time."""
    rng = random.Random(f"{seed}:tickets")
    scale = (end - start).days / 60
    drafts: list[dict] = []
    linear_projects: list[LinearProject] = []

    for team in org.teams:
        pms = org.members_with_role(team.key, ROLE_PRODUCT)
        ems = org.members_with_role(team.key, ROLE_MANAGER)
        engineers = org.members_with_role(team.key, ROLE_ENGINEER)
        designers = org.members_with_role(team.key, ROLE_DESIGNER)
        is_linear = team.tracker == "linear"
        parents: list[tuple[datetime, str]] = []  # (created, the epic's draft id)
        for idx, epic_name, filed in _epics(team.key, start, end):
            created = align_to_work(filed, pms[0].tz, rng)
            if is_linear:
                project_id = uuid_from(seed, "linear-project", team.key, idx)
                linear_projects.append(
                    LinearProject(
                        id=project_id,
                        name=epic_name,
                        slug_id=hex_id(12, seed, "linear-project-slug", idx),
                        description=f"{epic_name}: the mobile team's goal for this quarter.",
                        lead=ems[0].person_id,
                        created_at=created,
                        start_date=start.date().isoformat(),
                        target_date=(end + timedelta(days=14 * (idx + 1))).date().isoformat(),
                    )
                )
                parents.append((created, project_id))
            else:
                drafts.append(
                    {
                        "team": team.key,
                        "kind": "Epic",
                        "title": epic_name,
                        "created": created,
                        "reporter": pms[0].person_id,
                        "parent": None,
                        "epic_index": idx,
                    }
                )
                parents.append((created, f"epic:{team.key}:{idx}"))

        count = int((120 if is_linear else 115) * scale)
        # The backlog the team has when the history starts: two weeks' worth of filing,
        # however long the history (a longer one is not a bigger warm-up).
        backlog = INITIAL_BACKLOG / max(1.0, scale)
        sprint_starts = [
            at
            for i in range((end - start).days // SPRINT_DAYS + 1)
            if (at := start + timedelta(days=SPRINT_DAYS * i)) < end
        ] or [start]
        for _ in range(count):
            roll = rng.random()
            if roll < backlog:
                when = start + timedelta(hours=rng.uniform(0, 40))
            elif roll < backlog + GROOMED:
                # Backlog grooming right before a sprint starts.
                anchor = rng.choice(sprint_starts)
                when = anchor - timedelta(hours=rng.uniform(0, 30))
            else:
                when = start + (end - start - timedelta(days=2)) * rng.random()
            reporter_roll = rng.random()
            if reporter_roll < 0.5:
                reporter = pms[0]
            elif reporter_roll < 0.68:
                reporter = ems[0]
            elif reporter_roll < 0.73 and designers:
                reporter = designers[0]
            else:
                reporter = rng.choice(engineers)
            created = align_to_work(max(when, start), reporter.tz, rng)
            kind = rng.choices(["Story", "Bug", "Task"], [55, 30, 15])[0]
            reporter_id = reporter.person_id
            epics = _open_epics(parents, created)
            if not is_linear and rng.random() < 0.05:
                reporter_id = CI_BOT_ID  # automation files dependency/security tickets
                kind = "Task"
            drafts.append(
                {
                    "team": team.key,
                    "kind": kind,
                    "title": "",
                    "created": created,
                    "reporter": reporter_id,
                    "parent": rng.choice(epics) if rng.random() < 0.7 else None,
                    "epic_index": None,
                }
            )

    drafts = [d for d in drafts if d["created"] < end]
    drafts.sort(key=lambda d: (d["created"], d["team"], d["kind"]))
    jira_number = int_from(1180, 1460, seed, "jira-first-key")
    jira_id = int_from(10200, 18000, seed, "jira-first-id")
    linear_number = int_from(300, 700, seed, "linear-first-number")
    tickets: list[Ticket] = []
    epic_keys: dict[str, str] = {}
    for d in drafts:
        team = org.team(d["team"])
        is_linear = team.tracker == "linear"
        kind = d["kind"]
        title = d["title"] or _title(rng, team.key, kind)
        if d["reporter"] == CI_BOT_ID:
            package = rng.choice(["urllib3", "jsonwebtoken", "golang.org/x/net"])
            title = f"Security update: bump {package}"
        if is_linear:
            linear_number += 1
            key = f"{LINEAR_TEAM_KEY}-{linear_number}"
            uid = uuid_from(seed, "linear-issue", linear_number)
            number = linear_number
        else:
            jira_number += 1
            jira_id += int_from(1, 9, seed, "jira-id-gap", jira_number)
            key = f"{JIRA_PROJECT_KEY}-{jira_number}"
            uid = str(jira_id)
            number = jira_number
        parent = d["parent"]
        if parent and parent.startswith("epic:"):
            parent = epic_keys.get(parent)
        if kind == "Epic":
            epic_keys[f"epic:{team.key}:{d['epic_index']}"] = key
        engineers = org.members_with_role(team.key, ROLE_ENGINEER)
        initial_assignee = None
        if kind != "Epic" and rng.random() < 0.25:
            initial_assignee = rng.choice(engineers).person_id
        priority = rng.choices([1, 2, 3, 4], [5, 25, 55, 15])[0]
        if is_linear and rng.random() < 0.1:
            priority = 0
        tickets.append(
            Ticket(
                tracker=team.tracker,
                key=key,
                number=number,
                uid=uid,
                team=team.key,
                kind=kind,
                title=title,
                description=_description(rng, title, kind),
                reporter=d["reporter"],
                created_at=d["created"],
                priority=priority,
                labels=sorted(rng.sample(_LABELS, rng.choice([0, 0, 1, 1, 2]))),
                parent_key=parent,
                initial_status=("Backlog" if rng.random() < 0.6 else "Todo")
                if is_linear
                else "To Do",
                initial_assignee=initial_assignee,
                initial_points=rng.choice([1.0, 2.0, 3.0, 5.0, 8.0, None, None])
                if kind != "Epic"
                else None,
                slug=slugify(title),
            )
        )
    return tickets, linear_projects


def close_untouched_backlog(
    org: Organisation, tickets: list[Ticket], seed: int, end: datetime
) -> None:
    """Managers close a few never-started tickets as Won't Do (Jira) / Canceled (Linear)."""
    rng = random.Random(f"{seed}:wontdo")
    for ticket in tickets:
        if ticket.taken or ticket.kind == "Epic" or rng.random() > 0.07:
            continue
        manager = org.members_with_role(ticket.team, ROLE_MANAGER)[0]
        at = work_delay(ticket.created_at, manager.tz, rng, 48, 400)
        if at >= end:
            continue
        ticket.taken = True
        if ticket.tracker == "jira":
            ticket.record(at, manager.person_id, "status", "Done")
            ticket.record(at, manager.person_id, "resolution", "Won't Do")
        else:
            ticket.record(at, manager.person_id, "status", "Canceled")


def progress_epics(tickets: list[Ticket], end: datetime) -> None:
    """An epic moves to In Progress when its first child starts (done by Jira automation)."""
    children: dict[str, list[Ticket]] = {}
    for t in tickets:
        if t.parent_key:
            children.setdefault(t.parent_key, []).append(t)
    for epic in tickets:
        if epic.kind != "Epic":
            continue
        starts = [
            s for c in children.get(epic.key, []) if (s := c.first_time("status", JIRA_IN_PROGRESS))
        ]
        if starts and min(starts) < end:
            epic.record(min(starts), CI_BOT_ID, "status", "In Progress")


def add_ticket_comments(
    org: Organisation, tickets: list[Ticket], seed: int, end: datetime
) -> list[TicketComment]:
    """Discussion on Linear issues (Linear's GraphQL exposes comments as their own nodes)."""
    rng = random.Random(f"{seed}:ticket-comments")
    comments: list[TicketComment] = []
    phrases = [
        "Can we split this into two issues?",
        "Repro'd on a Pixel 8 — happens only with slow network.",
        "Design is ready in Figma, see the onboarding file.",
        "Blocked on the BFF change, picking this up tomorrow.",
        "QA passed on build 2.14.0 ✅",
        "@here any objections to shipping behind a flag?",
    ]
    for ticket in tickets:
        if ticket.tracker != "linear" or rng.random() > 0.55:
            continue
        team_people = [org.person(pid) for pid in org.team(ticket.team).members]
        t = ticket.created_at
        for n in range(rng.randint(1, 3)):
            author = rng.choice(team_people)
            t = work_delay(t, author.tz, rng, 1, 60)
            if t >= end:
                break
            comments.append(
                TicketComment(
                    id=uuid_from(seed, "linear-comment", ticket.key, n),
                    ticket_key=ticket.key,
                    author=author.person_id,
                    at=t,
                    body=rng.choice(phrases),
                )
            )
    comments.sort(key=lambda c: (c.at, c.id))
    return comments


def simulate_gitlab_issues(
    org: Organisation, seed: int, start: datetime, end: datetime
) -> list[GitlabIssue]:
    """GitLab projects have a handful of native issues (ops requests), separate from Jira."""
    rng = random.Random(f"{seed}:gitlab-issues")
    issues: list[GitlabIssue] = []
    titles = [
        "Rotate staging database credentials",
        "Runner cache is full",
        "Document the rollback procedure",
        "Flaky e2e job on main",
        "Upgrade base image to bookworm",
        "Alert when p99 latency > 500ms",
    ]
    for repo in org.repos:
        if repo.host != "gitlab":
            continue
        people = [
            p
            for p in (org.person(pid) for pid in org.team(repo.team).members)
            if "gitlab" in p.accounts
        ]
        iid = int_from(10, 80, seed, "gitlab-issue-iid", repo.full_name)
        for n in range(rng.randint(3, 7)):
            author = rng.choice(people)
            created = align_to_work(start + (end - start) * rng.random(), author.tz, rng)
            if created >= end:
                continue
            closed = work_delay(created, author.tz, rng, 4, 300) if rng.random() < 0.5 else None
            iid += 1
            issues.append(
                GitlabIssue(
                    key=f"{repo.full_name}#{n}",
                    project=repo.full_name,
                    iid=iid,
                    title=rng.choice(titles),
                    description=rng.choice(["", "See the runbook.", "Happens roughly once a day."]),
                    author=author.person_id,
                    assignee=rng.choice(people).person_id if rng.random() < 0.6 else None,
                    created_at=created,
                    closed_at=closed if closed and closed < end else None,
                    labels=sorted(rng.sample(["infra", "bug", "ops", "ci"], rng.randint(0, 2))),
                )
            )
    issues.sort(key=lambda i: (i.created_at, i.key))
    first = int_from(150_000_000, 160_000_000, seed, "gitlab-issue-id")
    for n, issue in enumerate(issues):
        issue.id = first + n * 37 + int_from(0, 30, seed, "gitlab-issue-gap", n)
    # iids must increase with creation time within a project.
    by_project: dict[str, list[GitlabIssue]] = {}
    for issue in issues:
        by_project.setdefault(issue.project, []).append(issue)
    for project_issues in by_project.values():
        iids = sorted(i.iid for i in project_issues)
        for issue, iid in zip(project_issues, iids, strict=True):
            issue.iid = iid
    return issues


def simulate_github_issues(
    org: Organisation, pulls: list[PullRequest], seed: int, start: datetime, end: datetime
) -> list[GithubIssue]:
    """GitHub repositories get a few native bug reports (work is tracked in Jira; these are the
    odd issue someone files on the repository). About half are closed by a team member.

    Numbers continue the repository's one sequence after its pull requests (GitHub numbers
    issues and pull requests together), in order of creation.
    """
    rng = random.Random(f"{seed}:github-issues")
    titles = [
        "Docs: the local setup guide misses a step",
        "Flaky test in CI on main",
        "Error message is unclear when the token expired",
        "Dependency warning on startup",
        "Healthcheck returns 200 while the database is down",
    ]
    issues: list[GithubIssue] = []
    for repo in sorted(org.repos, key=lambda r: r.full_name):
        if repo.host != "github":
            continue
        people = [
            p
            for p in (org.person(pid) for pid in org.team(repo.team).members)
            if "github" in p.accounts and not p.is_bot
        ]
        if not people:
            continue
        for n in range(rng.randint(2, 4)):
            author = rng.choice(people)
            created = align_to_work(start + (end - start) * rng.random(), author.tz, rng)
            closer = rng.choice(people)
            closed = work_delay(created, closer.tz, rng, 2, 200) if rng.random() < 0.5 else None
            if created >= end:
                continue
            closed = closed if closed is not None and closed < end else None
            issues.append(
                GithubIssue(
                    key=f"{repo.full_name}#issue-{n}",
                    repo=repo.full_name,
                    title=rng.choice(titles),
                    body=rng.choice(["", "Seen on main.", "Steps to reproduce in the thread."]),
                    author=author.person_id,
                    created_at=created,
                    closed_at=closed,
                    closed_by=closer.person_id if closed is not None else None,
                    labels=sorted(
                        rng.sample(["bug", "documentation", "enhancement"], rng.randint(0, 2))
                    ),
                )
            )
    issues.sort(key=lambda i: (i.created_at, i.key))
    next_number = {
        repo: max((p.number for p in pulls if p.repo == repo), default=0) + 1
        for repo in {i.repo for i in issues}
    }
    first = int_from(2_000_000_000, 2_100_000_000, seed, "github-issue-id")
    for n, issue in enumerate(issues):
        issue.number = next_number[issue.repo]
        next_number[issue.repo] += 1
        issue.id = first + n * 41 + int_from(0, 30, seed, "github-issue-gap", n)
    return issues
