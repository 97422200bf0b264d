"""Linear GraphQL node shapes (``issues { nodes { ... } }`` etc.) rendered as of an instant."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .clock import iso_ms_z
from .ids import uuid_from
from .model import LinearProject, Sprint, Ticket, TicketComment, Timeline
from .org import Organisation
from .sim_code import linear_display_name
from .sim_tickets import slugify

WEB = "https://linear.app/acme"
# name -> (workflow state type, colour)
STATES = {
    "Backlog": ("backlog", "#bec2c8"),
    "Todo": ("unstarted", "#e2e2e2"),
    "In Progress": ("started", "#f2c94c"),
    "In Review": ("started", "#5e6ad2"),
    "Done": ("completed", "#5e6ad2"),
    "Canceled": ("canceled", "#95a2b3"),
}
HISTORY_PAGE = 50  # the connector asks for history(first: 50)
PRIORITY_LABELS = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}
_LABEL_COLOURS = {"Bug": "#eb5757", "Feature": "#bb87fc", "Improvement": "#4ea7fc"}


class LinearRenderer:
    def __init__(self, org: Organisation, timeline: Timeline, seed: int) -> None:
        self.org = org
        self.seed = seed
        self.team = next(t for t in org.teams if t.linear_team_key)
        self.team_id = uuid_from(seed, "linear-team", self.team.linear_team_key)
        self.tickets = sorted(
            (t for t in timeline.tickets if t.tracker == "linear"), key=lambda t: t.number
        )
        self.cycles = {c.id: c for c in timeline.cycles}
        self.cycle_list = timeline.cycles
        self.projects = {p.id: p for p in timeline.linear_projects}
        self.comments = timeline.ticket_comments
        self.tickets_by_key = {t.key: t for t in self.tickets}
        self._unfinished: dict[str, list[Ticket]] = {}  # closed cycle id -> its unfinished issues

    # --- shared objects -------------------------------------------------------------------

    def user(self, person_id: str | None) -> dict[str, Any] | None:
        if person_id is None:
            return None
        person = self.org.person(person_id)
        if "linear" not in person.accounts:
            return None
        return {
            "id": person.accounts["linear"],
            "name": person.name,
            "displayName": linear_display_name(person),
            "email": person.email_for("linear"),
        }

    def team_ref(self) -> dict[str, Any]:
        return {"id": self.team_id, "key": self.team.linear_team_key, "name": self.team.name}

    def state(self, name: str) -> dict[str, Any]:
        kind, colour = STATES[name]
        return {
            "id": uuid_from(self.seed, "linear-state", name),
            "name": name,
            "type": kind,
            "color": colour,
        }

    # --- issues ---------------------------------------------------------------------------

    def _branch_name(self, ticket: Ticket, assignee: str | None) -> str:
        slug = ticket.slug
        if assignee is None:
            return f"{ticket.key.lower()}-{slug}"
        return f"{linear_display_name(self.org.person(assignee))}/{ticket.key.lower()}-{slug}"

    def _label(self, ticket: Ticket) -> list[dict[str, Any]]:
        name = {"Bug": "Bug", "Story": "Feature", "Task": "Improvement"}.get(ticket.kind)
        if name is None:
            return []
        return [
            {
                "id": uuid_from(self.seed, "linear-label", name),
                "name": name,
                "color": _LABEL_COLOURS[name],
            }
        ]

    def issue(self, ticket: Ticket, as_of: datetime) -> dict[str, Any]:
        status = ticket.status_at(as_of)
        started = ticket.first_time("status", ("In Progress", "In Review"))
        started = started if started and started <= as_of else None
        completed = ticket.last_time("status", ("Done",), as_of) if status == "Done" else None
        canceled = (
            ticket.last_time("status", ("Canceled",), as_of) if status == "Canceled" else None
        )
        assignee = ticket.assignee_at(as_of)
        cycle_ids = ticket.value_at("sprint", as_of, None)
        cycle: Sprint | None = self.cycles.get(cycle_ids[-1]) if cycle_ids else None
        project: LinearProject | None = self.projects.get(ticket.parent_key or "")
        if project is not None and project.created_at > as_of:
            project = None
        url = f"{WEB}/issue/{ticket.key}/{ticket.slug}"
        description = "\n\n".join(ticket.description) if ticket.description else None
        return {
            "id": ticket.uid,
            "identifier": ticket.key,
            "number": ticket.number,
            "title": ticket.title,
            "description": description,
            "url": url,
            "priority": ticket.priority,
            "priorityLabel": PRIORITY_LABELS[ticket.priority],
            "estimate": ticket.value_at("points", as_of, ticket.initial_points),
            "state": self.state(status),
            "assignee": self.user(assignee),
            "creator": self.user(ticket.reporter),
            "team": self.team_ref(),
            "cycle": {
                "id": cycle.id,
                "number": cycle.number,
                "startsAt": iso_ms_z(cycle.starts_at),
                "endsAt": iso_ms_z(cycle.ends_at),
            }
            if cycle
            else None,
            "project": {"id": project.id, "name": project.name} if project else None,
            "labels": {"nodes": self._label(ticket)},
            "createdAt": iso_ms_z(ticket.created_at),
            "updatedAt": iso_ms_z(ticket.updated_at(as_of)),
            "startedAt": iso_ms_z(started) if started else None,
            "completedAt": iso_ms_z(completed) if completed else None,
            "canceledAt": iso_ms_z(canceled) if canceled else None,
            "archivedAt": None,
            "dueDate": None,
            "branchName": self._branch_name(ticket, assignee),
            "history": self._history(ticket, as_of),
        }

    def _history(self, ticket: Ticket, as_of: datetime) -> dict[str, Any]:
        """The issue's state changes, newest first, as ``history(first: 50)`` pages them."""
        changes = [c for c in ticket.changes if c.field == "status" and c.at <= as_of]
        nodes = [
            {
                "id": uuid_from(self.seed, "linear-history", ticket.key, n),
                "createdAt": iso_ms_z(change.at),
                "fromState": self.state(change.old),
                "toState": self.state(change.new),
                "actor": {"id": user["id"]} if (user := self.user(change.actor)) else None,
            }
            for n, change in enumerate(changes)
        ][::-1]
        return {
            "nodes": nodes[:HISTORY_PAGE],
            "pageInfo": {"hasNextPage": len(nodes) > HISTORY_PAGE},
        }

    def issues(self, as_of: datetime) -> list[dict[str, Any]]:
        """Sorted by issue number (Linear ids are uuids, so number is the stable key)."""
        return [self.issue(t, as_of) for t in self.tickets if t.created_at <= as_of]

    def comments_at(self, as_of: datetime) -> list[dict[str, Any]]:
        out = []
        for comment in self.comments:
            if comment.at > as_of:
                continue
            out.append(self._comment(comment))
        return sorted(out, key=lambda c: (c["createdAt"], c["id"]))

    def _comment(self, comment: TicketComment) -> dict[str, Any]:
        ticket = self.tickets_by_key[comment.ticket_key]
        author = self.user(comment.author)
        return {
            "id": comment.id,
            "body": comment.body,
            "createdAt": iso_ms_z(comment.at),
            "updatedAt": iso_ms_z(comment.at),
            "url": f"{WEB}/issue/{ticket.key}/{ticket.slug}#comment-{comment.id[:8]}",
            "user": {k: author[k] for k in ("id", "name", "displayName")} if author else None,
            "issue": {"id": ticket.uid, "identifier": ticket.key},
        }

    # --- cycles, projects, users ----------------------------------------------------------

    def cycles_at(self, as_of: datetime) -> list[dict[str, Any]]:
        """Sorted by cycle number."""
        out = []
        for cycle in sorted(self.cycle_list, key=lambda c: c.number):
            if cycle.created_at > as_of:
                continue
            members = [
                t
                for t in self.tickets
                if t.created_at <= as_of
                and (ids := t.value_at("sprint", as_of, None))
                and ids[-1] == cycle.id
            ]
            done = sum(1 for t in members if t.status_at(as_of) in ("Done", "Canceled"))
            out.append(
                {
                    "id": cycle.id,
                    "number": cycle.number,
                    "name": None,
                    "startsAt": iso_ms_z(cycle.starts_at),
                    "endsAt": iso_ms_z(cycle.ends_at),
                    "completedAt": iso_ms_z(cycle.completed_at)
                    if cycle.completed_at <= as_of
                    else None,
                    "createdAt": iso_ms_z(cycle.created_at),
                    "progress": round(done / len(members), 4) if members else 0,
                    "team": self.team_ref(),
                    "uncompletedIssuesUponClose": {
                        "nodes": [
                            {"id": t.uid, "identifier": t.key}
                            for t in self._unfinished_at_close(cycle)
                        ]
                        if cycle.completed_at <= as_of
                        else [],
                        "pageInfo": {"hasNextPage": False},
                    },
                }
            )
        return out

    def _unfinished_at_close(self, cycle: Sprint) -> list[Ticket]:
        """Issues the cycle held when it ended and not done or canceled by then, by number."""
        if cycle.id not in self._unfinished:
            held_at = cycle.ends_at - timedelta(microseconds=1)  # before the roll-over
            self._unfinished[cycle.id] = [
                t
                for t in self.tickets
                if t.created_at < cycle.ends_at
                and (ids := t.value_at("sprint", held_at, None))
                and ids[-1] == cycle.id
                and t.status_at(cycle.ends_at) not in ("Done", "Canceled")
            ]
        return self._unfinished[cycle.id]

    def projects_at(self, as_of: datetime) -> list[dict[str, Any]]:
        """Sorted by creation time."""
        out = []
        for project in sorted(self.projects.values(), key=lambda p: (p.created_at, p.id)):
            if project.created_at > as_of:
                continue
            children = [
                t for t in self.tickets if t.parent_key == project.id and t.created_at <= as_of
            ]
            starts = [
                s
                for t in children
                if (s := t.first_time("status", ("In Progress",))) and s <= as_of
            ]
            done = sum(1 for t in children if t.status_at(as_of) in ("Done", "Canceled"))
            started_at = min(starts) if starts else None
            lead = self.user(project.lead)
            out.append(
                {
                    "id": project.id,
                    "name": project.name,
                    "description": project.description,
                    "slugId": project.slug_id,
                    "url": f"{WEB}/project/{slugify(project.name)}-{project.slug_id}",
                    "state": "started" if started_at else "planned",
                    "startDate": project.start_date,
                    "targetDate": project.target_date,
                    "createdAt": iso_ms_z(project.created_at),
                    "updatedAt": iso_ms_z(
                        max([project.created_at, *(t.updated_at(as_of) for t in children)])
                    ),
                    "startedAt": iso_ms_z(started_at) if started_at else None,
                    "completedAt": None,
                    "canceledAt": None,
                    "progress": round(done / len(children), 4) if children else 0,
                    "lead": lead,
                    "teams": {"nodes": [self.team_ref()]},
                }
            )
        return out

    def users(self) -> list[dict[str, Any]]:
        """Sorted by id."""
        out = []
        for person in self.org.people:
            if "linear" not in person.accounts:
                continue
            user = self.user(person.person_id)
            assert user is not None
            user.update(
                {
                    "active": person.left_at is None,
                    "admin": person.role == "engineering_manager",
                    "guest": False,
                    "createdAt": "2024-02-05T10:11:12.000Z",
                    "url": f"{WEB}/profiles/{user['displayName']}",
                    "timezone": person.tz,
                }
            )
            out.append(user)
        return sorted(out, key=lambda u: u["id"])
