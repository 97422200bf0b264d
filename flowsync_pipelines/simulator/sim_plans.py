"""Plans and their outcomes: what each sprint / cycle commits to, the scope added to it after it
started, the due dates of epics and projects, and whether each was met.

The work itself (who picks which ticket, when it is done) is simulated before, without regard
to plans. A plan is a team's bet on that work, made from what the team knew then:

- At each iteration's planning every team commits a share of what it finished in the last two
  iterations (its optimism of the day): the new work it goes on to start first (a team works
  its sprint backlog top down), then the top of the rest of the backlog by priority and age.
  Work already under way outside a plan stays outside it; carried-over tickets (work in
  flight at the end) count against the commitment; work not started, or started long ago and
  still not done, goes back to the backlog.
- During the iteration, some urgent tickets (priority 1, or a priority-2 bug) are added when
  filed, and some unplanned work started in its first half is pulled in. Urgent work filed late
  is rarely finished in time, and the engineers it takes are not on the committed work: sprints
  with scope added mid-sprint, or committed above what the team finishes, miss more often.
- Work someone put down (back to To Do after it started) is mostly taken out of the sprint, and
  so is work stuck in review at the mid-sprint check; what stays stuck makes the sprint miss.
  A sprint's scope is what it holds at its end (Jira's sprint report).
- An epic's (a Linear project's) due date is set when it is created, from how much work the
  team expects it to hold; children filed later grow its scope past the estimate.

Every draw comes from this module's own streams: planning changes tickets' sprint fields (and
moves planned Linear issues from Backlog to Todo), nothing else in the world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .model import LinearProject, Sprint, Ticket
from .org import ROLE_ENGINEER, ROLE_MANAGER, Organisation

JIRA_DONE = ("Done",)
LINEAR_DONE = ("Done", "Canceled")
# The manager's first guess of a two-week iteration's throughput per engineer, before the
# board has a finished iteration to go by.
TICKETS_PER_ENGINEER = 2.0
URGENT_ADD_RATE = 0.08  # share of urgent tickets (priority 1, or a priority-2 bug) added when filed
PULL_IN_RATE = 0.05  # share of unplanned work started in an iteration's first half pulled into it
OPTIMISM = (0.05, 0.35)  # share of the recent throughput a team commits to
DESCOPE_RATE = 0.8  # share of put-down work (back to To Do after it started) taken out
PUT_DOWN = ("To Do", "Todo", "Backlog")
STALE = timedelta(days=10)
STUCK = timedelta(days=4)  # in review this long at the mid-sprint check: taken out
FAR = datetime.max.replace(tzinfo=UTC)


def done_values(tracker: str) -> tuple[str, ...]:
    return JIRA_DONE if tracker == "jira" else LINEAR_DONE


def _is_done(ticket: Ticket, at: datetime) -> bool:
    return ticket.status_at(at) in done_values(ticket.tracker)


def _started_at(ticket: Ticket) -> datetime | None:
    return ticket.first_time("status", ("In Progress", "In Review", "Done"))


def _stale(ticket: Ticket, at: datetime) -> bool:
    """Started long ago and still not done: the team no longer plans around it."""
    started = _started_at(ticket)
    return started is not None and started < at - STALE and not _is_done(ticket, at)


def _in_flight(ticket: Ticket, at: datetime) -> bool:
    """Started, not long ago: a team carries this into the next iteration."""
    started = _started_at(ticket)
    return started is not None and started < at and not _stale(ticket, at)


def _stuck(ticket: Ticket, at: datetime) -> bool:
    """In review, unmoved for STUCK: the mid-sprint check takes it out of the sprint."""
    last = next((c for c in reversed(ticket.changes) if c.field == "status" and c.at <= at), None)
    return last is not None and last.new == "In Review" and last.at < at - STUCK


def _urgent(ticket: Ticket) -> bool:
    return ticket.priority == 1 or (ticket.priority == 2 and ticket.kind == "Bug")


def plan_iterations(
    org: Organisation,
    tickets: list[Ticket],
    sprints: list[Sprint],
    cycles: list[Sprint],
    seed: int,
    end: datetime,
) -> None:
    """Record each ticket's sprint / cycle membership as the plans above make it.

    Jira keeps a carried-over ticket's closed sprints in its sprint field; Linear moves the
    ticket to the next cycle.
    """
    rng = random.Random(f"{seed}:iteration-plans")
    for tracker, iterations in (("jira", sprints), ("linear", cycles)):
        board = sorted(
            (t for t in tickets if t.tracker == tracker and t.kind != "Epic"),
            key=lambda t: (t.created_at, t.key),
        )
        if board:
            _plan_board(org, board, iterations, rng, end)


def _plan_board(
    org: Organisation,
    board: list[Ticket],
    iterations: list[Sprint],
    rng: random.Random,
    end: datetime,
) -> None:
    jira = board[0].tracker == "jira"
    teams = sorted({t.team for t in board})
    managers = {team: org.members_with_role(team, ROLE_MANAGER)[0].person_id for team in teams}
    membership: dict[str, tuple] = {}
    current: dict[str, int | str] = {}  # the iteration a ticket is in now
    throughput: dict[str, list[int]] = {}
    joined: dict[str, datetime] = {}  # when a ticket joined the iteration it is in now
    previous: Sprint | None = None

    def join(ticket: Ticket, iteration: Sprint, at: datetime) -> None:
        ids = (*membership.get(ticket.key, ()), iteration.id) if jira else (iteration.id,)
        membership[ticket.key] = ids
        current[ticket.key] = iteration.id
        manager = managers[ticket.team]
        ticket.record(at, manager, "sprint", ids)
        joined[ticket.key] = at
        if not jira and ticket.status_at(at) == "Backlog":
            ticket.record(at, manager, "status", "Todo")

    def leave(ticket: Ticket, iteration: Sprint, at: datetime) -> None:
        if at >= min(iteration.ends_at, end):
            return
        ids = tuple(i for i in membership.get(ticket.key, ()) if i != iteration.id)
        membership[ticket.key] = ids
        current[ticket.key] = ""
        ticket.record(at, managers[ticket.team], "sprint", ids if jira else ())

    for iteration in iterations:
        if iteration.starts_at >= end:
            break
        plan_at = iteration.starts_at - timedelta(hours=rng.uniform(1, 20))
        carried: list[Ticket] = []
        if previous is not None and previous.completed_at < end:
            carried = [
                t
                for t in board
                if current.get(t.key) == previous.id
                and not _is_done(t, previous.completed_at)
                and _in_flight(t, previous.completed_at)
            ]
            # Work not started, or stalled, goes back to the backlog (Linear: out of the cycle).
            for t in board:
                if current.get(t.key) == previous.id and t not in carried:
                    current[t.key] = ""
                    if not jira and not _is_done(t, previous.completed_at):
                        t.record(previous.completed_at, managers[t.team], "sprint", ())
        for ticket in carried:
            join(ticket, iteration, previous.completed_at)  # type: ignore[union-attr]
        # Each team commits as much as it finished lately, times its optimism of the day: the
        # work it goes on to start first (the team works its sprint backlog top down), and
        # when that runs short, the top of the rest of the backlog.
        for team in teams:
            engineers = sum(
                1
                for p in org.members_with_role(team, ROLE_ENGINEER)
                if not p.has_left(iteration.starts_at)
            )
            recent = throughput.get(team, [])[-2:]
            estimate = sum(recent) / len(recent) if recent else engineers * TICKETS_PER_ENGINEER
            kept = sum(1 for t in carried if t.team == team)
            commit = max(0, round(estimate * rng.uniform(*OPTIMISM)) - kept)
            # Work already under way outside a plan stays outside it: a plan is new work.
            backlog = [
                t
                for t in board
                if t.team == team
                and not current.get(t.key)
                and t.created_at < plan_at
                and ((s := _started_at(t)) is None or s >= plan_at)
                and not _is_done(t, plan_at)
            ]
            backlog.sort(
                key=lambda t: (_started_at(t) or FAR, t.priority or 3, t.created_at, t.key)
            )
            for ticket in backlog[:commit]:
                at = max(plan_at, ticket.created_at + timedelta(minutes=5))
                join(ticket, iteration, at)
        # Scope added after the start: urgent tickets when they are filed, some unplanned work
        # when it starts in the first half.
        half = iteration.starts_at + (iteration.ends_at - iteration.starts_at) / 2
        for ticket in board:
            if current.get(ticket.key) or _is_done(ticket, iteration.starts_at):
                continue
            started = _started_at(ticket)
            if (
                iteration.starts_at <= ticket.created_at < min(iteration.ends_at, end)
                and _urgent(ticket)
                and rng.random() < URGENT_ADD_RATE
            ):
                join(ticket, iteration, ticket.created_at + timedelta(minutes=rng.uniform(5, 90)))
            elif (
                started is not None
                and iteration.starts_at <= started < min(half, end)
                and rng.random() < PULL_IN_RATE
            ):
                join(ticket, iteration, started)
        # Work someone put down (back to To Do after it started) is taken out of the sprint
        # by its manager, most of the time, within a working day.
        for ticket in board:
            if current.get(ticket.key) != iteration.id:
                continue
            put_down = next(
                (
                    c.at
                    for c in ticket.changes
                    if c.field == "status"
                    and c.new in PUT_DOWN
                    and c.old not in PUT_DOWN
                    and max(iteration.starts_at, joined[ticket.key]) < c.at < iteration.ends_at
                ),
                None,
            )
            if put_down is not None and rng.random() < DESCOPE_RATE:
                leave(ticket, iteration, put_down + timedelta(hours=rng.uniform(1, 24)))
            elif _stuck(ticket, half) and rng.random() < DESCOPE_RATE:
                leave(ticket, iteration, half + timedelta(hours=rng.uniform(1, 24)))
        finished = min(iteration.ends_at, end)
        for team in teams:
            throughput.setdefault(team, []).append(
                sum(
                    1
                    for t in board
                    if t.team == team
                    and _is_done(t, finished)
                    and not _is_done(t, iteration.starts_at)
                )
            )
        previous = iteration


def set_due_dates(
    org: Organisation,
    tickets: list[Ticket],
    projects: list[LinearProject],
    seed: int,
    start: datetime,
    end: datetime,
) -> None:
    """Give two of each team's three epics (Linear: projects) a due date inside the period.

    The owner sizes the epic by the children it holds a week after its creation and the
    team's pace (about one child done per working day), with the owner's optimism of the day;
    the children filed later are what the estimate did not foresee.
    """
    rng = random.Random(f"{seed}:due-dates")
    days = (end - start).days
    children: dict[str, list[Ticket]] = {}
    for t in tickets:
        if t.parent_key:
            children.setdefault(t.parent_key, []).append(t)
    linear_team = next((tm.key for tm in org.teams if tm.tracker == "linear"), "")
    epics: list[tuple[str, datetime, Ticket | LinearProject]] = [
        (t.team, t.created_at, t) for t in tickets if t.kind == "Epic"
    ]
    epics += [(linear_team, p.created_at, p) for p in projects]
    seen: dict[str, int] = {}
    for team, created, epic in sorted(epics, key=lambda e: (e[0], e[1], _epic_id(e[2]))):
        index = seen.get(team, 0)
        seen[team] = index + 1
        roll = rng.random()
        if index % 3 == 2:
            continue  # the third has no due date (most epics in real trackers have none)
        known = [
            c for c in children.get(_epic_id(epic), []) if c.created_at < created + timedelta(7)
        ]
        pace = rng.uniform(0.7, 1.3)  # children done per working day, as the owner believes
        span = 7 + len(known) / pace * 7 / 5
        low = min(14, max(days // 3, 1))
        due_days = min(max(span, low), max(days - 2, low + 1)) + 3 * (roll - 0.5)
        due = (created + timedelta(days=due_days)).date().isoformat()
        if isinstance(epic, Ticket):
            epic.due_date = due
        elif isinstance(epic, LinearProject):
            epic.target_date = due


def _epic_id(epic: Ticket | LinearProject) -> str:
    return epic.key if isinstance(epic, Ticket) else epic.id


@dataclass(frozen=True)
class PlanOutcome:
    """Whether a plan (an iteration's scope, an epic's children) was all done when due."""

    subject_id: str  # the id statements use: "sprint/<id>", an epic's key, "project/<uuid>"
    kind: str  # sprint | epic
    tracker: str
    team: str | None
    starts_at: datetime
    due_at: datetime
    scope: int
    added: int  # joined after the start (sprints) / filed after the due date was set (epics)
    not_done: int
    missed: bool | None  # None while the due instant is after the simulated period


def sprint_outcomes(
    tickets: list[Ticket], sprints: list[Sprint], cycles: list[Sprint], end: datetime
) -> list[PlanOutcome]:
    """Each started iteration: its scope (tickets in it at any time before its end date,
    created before then), how much joined after its start, and whether all was done by then."""
    out = []
    for tracker, iterations in (("jira", sprints), ("linear", cycles)):
        board = [t for t in tickets if t.tracker == tracker and t.kind != "Epic"]
        for it in iterations:
            if it.starts_at >= end:
                continue
            scope, added, not_done = 0, 0, 0
            teams: dict[str, int] = {}
            for t in board:
                joined = next(
                    (
                        c.at
                        for c in t.changes
                        if c.field == "sprint" and c.new and it.id in c.new and c.at < it.ends_at
                    ),
                    None,
                )
                # Scope is what the sprint holds at its end (Jira's sprint report): work taken
                # out before then was descoped, not missed.
                held = next(
                    (
                        c.new
                        for c in reversed(t.changes)
                        if c.field == "sprint" and c.at < it.ends_at
                    ),
                    (),
                )
                if joined is None or t.created_at >= it.ends_at or it.id not in (held or ()):
                    continue
                scope += 1
                added += joined > it.starts_at
                not_done += not _is_done(t, it.ends_at)
                teams[t.team] = teams.get(t.team, 0) + 1
            out.append(
                PlanOutcome(
                    subject_id=f"sprint/{it.id}",
                    kind="sprint",
                    tracker=tracker,
                    team=min(teams, key=lambda k: (-teams[k], k)) if teams else None,
                    starts_at=it.starts_at,
                    due_at=it.ends_at,
                    scope=scope,
                    added=added,
                    not_done=not_done,
                    missed=(not_done > 0) if it.ends_at <= end else None,
                )
            )
    return out


def epic_outcomes(
    tickets: list[Ticket], projects: list[LinearProject], end: datetime
) -> list[PlanOutcome]:
    """Each epic / project with a due date: its children filed before the due date (the end
    of that day, UTC), and whether all were done by then."""
    children: dict[str, list[Ticket]] = {}
    for t in tickets:
        if t.parent_key:
            children.setdefault(t.parent_key, []).append(t)
    plans: list[tuple[str, str, str, str | None, datetime, str]] = [
        (t.key, t.key, t.tracker, t.team, t.created_at, t.due_date)
        for t in tickets
        if t.kind == "Epic" and t.due_date
    ]
    plans += [
        (p.id, f"project/{p.id}", "linear", None, p.created_at, p.target_date) for p in projects
    ]
    out = []
    for key, subject, tracker, owner, created, due_date in plans:
        due = datetime.fromisoformat(due_date).replace(tzinfo=created.tzinfo) + timedelta(days=1)
        scope = [c for c in children.get(key, []) if c.created_at < due]
        team = owner or (scope[0].team if scope else None)
        out.append(
            PlanOutcome(
                subject_id=subject,
                kind="epic",
                tracker=tracker,
                team=team,
                starts_at=created,
                due_at=due,
                scope=len(scope),
                added=sum(1 for c in scope if c.created_at >= created + timedelta(days=7)),
                not_done=sum(1 for c in scope if not _is_done(c, due)),
                missed=(any(not _is_done(c, due) for c in scope)) if due <= end else None,
            )
        )
    return out
