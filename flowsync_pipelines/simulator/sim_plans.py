"""Plans and their outcomes: what each sprint / cycle commits to, the scope added to it after it
started, the due dates of epics and projects, and whether each was met.

The work itself (who picks which ticket, when it is done) is simulated before, without regard
to plans. A plan is a team's bet on that work, made from what the team knew then:

- At each iteration's planning every team commits a share of what it finished in the last two
  iterations (its optimism of the day): the new work it goes on to start first (a team works
  its sprint backlog top down), then the top of the rest of the backlog by priority and age.
  Work already under way outside a plan stays outside it; carried-over tickets count against
  the commitment. Jira teams carry the work in flight at the end (the complete-sprint dialog),
  Linear rolls every unfinished issue over; work started long ago and still not done goes
  back to the backlog.
- During the iteration, some urgent tickets (priority 1, or a priority-2 bug) are added when
  filed, and some unplanned work started in its first half is pulled in. Urgent work filed late
  is rarely finished in time, and the engineers it takes are not on the committed work: sprints
  with scope added mid-sprint, or committed above what the team finishes, miss more often.
- Work someone put down (back to To Do after it started) is mostly taken out of the sprint, and
  so is work stuck in review at the mid-sprint check; what stays stuck makes the sprint miss.
  A sprint's scope is what it holds at its end (Jira's sprint report).
- A team's first three epics (Linear projects) plan its first two months, then it files one
  every 20 days; two in three are deliverables, each planned three weeks after it is filed
  (:func:`set_due_dates`): a scope of the known children the team is about to take up, a due
  date from it and the owner's belief in the team's pace; children filed later grow the scope
  (scope creep).

Every draw comes from this module's own streams: planning changes tickets' sprint fields (and
moves planned Linear issues from Backlog to Todo), epics' due dates and which epic a child is
filed under, nothing else in the world.
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
URGENT_ADD_RATE = 0.05  # share of urgent tickets (priority 1, or a priority-2 bug) added when filed
PULL_IN_RATE = 0.05  # share of unplanned work started in an iteration's first half pulled into it
OPTIMISM = (0.05, 0.3)  # share of the recent throughput a team commits to
DESCOPE_RATE = 0.8  # share of put-down work (back to To Do after it started) taken out
PUT_DOWN = ("To Do", "Todo", "Backlog")
STALE = timedelta(days=10)
EPIC_SCOPE = (4, 14)  # children an epic's owner plans into it
EPIC_CREEP = (0.0, 0.05)  # share of later children of the epic that join its scope
EPIC_BREAKDOWN = timedelta(days=21)  # an epic is planned once its children are filed
EPIC_HORIZON = timedelta(days=30)  # its scope: the children the team takes up by then
EPIC_PACE = (0.05, 0.2)  # an epic's children done per working day, as its owner believes
STUCK = timedelta(days=3)  # in review this long at the mid-sprint check: taken out
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
                and (
                    _in_flight(t, previous.completed_at)
                    or (not jira and not _stale(t, previous.completed_at))
                )
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
    """Plan two in three of each team's epics (Linear: projects) as deliverables with a due
    date; the third stays open-ended and holds the rest of the team's epic work.

    Each deliverable is planned EPIC_BREAKDOWN after its creation: its owner takes the most
    pressing of the children filed so far that the team takes up within EPIC_HORIZON (by when
    they start, then priority and age: the order the team picks work in) as its scope, and sets
    the due date from that scope and the team's pace as the owner believes it that day (often
    optimistic). Children filed after the planning grow its scope at the epic's own creep
    rate; the others, and the known children left out, are filed under the team's open-ended
    epic of the day. Run after the work is simulated (the work never reads a plan): an epic
    misses when the team does not finish its scope by the due date -- an optimistic estimate,
    or scope creep it did not foresee.
    """
    rng = random.Random(f"{seed}:due-dates")
    epics: list[tuple[str, datetime, Ticket | LinearProject]] = [
        (t.team, t.created_at, t) for t in tickets if t.kind == "Epic"
    ]
    linear_team = next((tm.key for tm in org.teams if tm.tracker == "linear"), "")
    epics += [(linear_team, p.created_at, p) for p in projects]
    by_team: dict[str, list[Ticket | LinearProject]] = {}
    for team, _, epic in sorted(epics, key=lambda e: (e[0], e[1], _epic_id(e[2]))):
        by_team.setdefault(team, []).append(epic)
    children: dict[str, list[Ticket]] = {}
    for t in sorted(tickets, key=lambda t: (t.created_at, t.key)):
        if t.parent_key:
            children.setdefault(t.parent_key, []).append(t)
    for team in sorted(by_team):
        team_epics = by_team[team]
        open_ended = [e for i, e in enumerate(team_epics) if i % 3 == 2]
        for index, epic in enumerate(team_epics):
            plan_at = _created(epic) + EPIC_BREAKDOWN
            if index % 3 == 2 or plan_at >= end:
                continue  # the third has no due date (most epics in real trackers have none)
            mine = children.get(_epic_id(epic), [])
            # Its scope: children filed by then that the team takes up within EPIC_HORIZON
            # (the owner plans what the team is about to work on, not its whole backlog).
            known = [
                c
                for c in mine
                if c.created_at < plan_at
                and (s := _started_at(c)) is not None
                and s < plan_at + EPIC_HORIZON
                and not _is_done(c, plan_at)
            ]
            size = rng.randint(*EPIC_SCOPE)
            known.sort(key=lambda c: (_started_at(c) or FAR, c.priority or 3, c.created_at, c.key))
            creep = rng.uniform(*EPIC_CREEP)
            pace = rng.uniform(*EPIC_PACE)  # children done per working day, as believed
            span = 5 + min(size, len(known)) / pace * 7 / 5
            due = plan_at + timedelta(days=span + rng.uniform(-2, 2))
            kept = {c.key for c in known[:size]}
            kept |= {c.key for c in mine if c.created_at >= plan_at and rng.random() < creep}
            for c in mine:
                if c.key not in kept and open_ended:
                    # The team's open-ended epic of the day holds the rest.
                    home = [e for e in open_ended if _created(e) <= c.created_at]
                    c.parent_key = _epic_id((home or open_ended)[-1])
            epic.planned_at = plan_at
            if isinstance(epic, Ticket):
                epic.due_date = due.date().isoformat()
            elif isinstance(epic, LinearProject):
                epic.target_date = due.date().isoformat()


def _created(epic: Ticket | LinearProject) -> datetime:
    return epic.created_at


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
    added: int  # joined after the start (sprints) / filed after the epic was planned (epics)
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
    plans: list[tuple[str, str, str, str | None, datetime, datetime | None, str]] = [
        (t.key, t.key, t.tracker, t.team, t.created_at, t.planned_at, t.due_date)
        for t in tickets
        if t.kind == "Epic" and t.due_date
    ]
    plans += [
        (p.id, f"project/{p.id}", "linear", None, p.created_at, p.planned_at, p.target_date)
        for p in projects
    ]
    out = []
    for key, subject, tracker, owner, created, planned, due_date in plans:
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
                added=sum(1 for c in scope if c.created_at >= (planned or created)),
                not_done=sum(1 for c in scope if not _is_done(c, due)),
                missed=(any(not _is_done(c, due) for c in scope)) if due <= end else None,
            )
        )
    return out
