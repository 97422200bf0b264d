"""Jira Cloud REST v3 and Agile 1.0 shapes (acme.atlassian.net) rendered as of an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import iso_ms_z, jira_ts
from .ids import int_from
from .model import Change, Sprint, Ticket, Timeline
from .org import JIRA_PROJECT_KEY, Organisation, Person

BASE = "https://acme.atlassian.net"
AVATARS = f"{BASE}/rest/api/2/universal_avatar/view/type"
BOARD_ID = 1
SPRINT_FIELD = "customfield_10020"
POINTS_FIELD = "customfield_10016"
PROJECT_ID = "10001"
PROJECT_NAME = "Acme Platform"

STATUS_IDS = {"To Do": "10000", "In Progress": "3", "In Review": "10001", "Done": "10002"}
# status -> (category id, key, colour, name). Keys are Jira's real ones: new/indeterminate/done.
STATUS_CATEGORIES = {
    "To Do": (2, "new", "blue-gray", "To Do"),
    "In Progress": (4, "indeterminate", "yellow", "In Progress"),
    "In Review": (4, "indeterminate", "yellow", "In Progress"),
    "Done": (3, "done", "green", "Done"),
}
RESOLUTIONS = {
    "Done": ("10000", "Work has been completed on this issue."),
    "Won't Do": ("10001", "This issue won't be actioned."),
}
ISSUE_TYPES = {
    "Epic": ("10000", 1, "Epics track collections of related bugs, stories, and tasks."),
    "Story": ("10001", 0, "Stories track functionality or features expressed as user goals."),
    "Task": ("10002", 0, "A small, distinct piece of work."),
    "Bug": ("10004", 0, "Bugs track problems or errors."),
}
PRIORITIES = {1: "Highest", 2: "High", 3: "Medium", 4: "Low"}


def _initials(name: str) -> str:
    return "".join(part[0] for part in name.split()[:2]).upper()


class JiraRenderer:
    def __init__(self, org: Organisation, timeline: Timeline, seed: int) -> None:
        self.org = org
        self.seed = seed
        self.tickets = sorted(
            (t for t in timeline.tickets if t.tracker == "jira"), key=lambda t: int(t.uid)
        )
        self.by_key = {t.key: t for t in self.tickets}
        self.sprints = {s.id: s for s in timeline.sprints}
        self.sprint_list = timeline.sprints
        self.component_ids = {
            team.jira_component: str(10100 + i)
            for i, team in enumerate(org.teams)
            if team.jira_component
        }
        # Changes at the same instant by the same actor form one history; ids increase with time.
        groups: list[tuple[datetime, str, str, list[Change]]] = []
        for ticket in self.tickets:
            current: list[Change] = []
            for change in ticket.changes:
                if current and (change.at, change.actor) != (current[0].at, current[0].actor):
                    groups.append((current[0].at, ticket.key, current[0].actor, current))
                    current = []
                current.append(change)
            if current:
                groups.append((current[0].at, ticket.key, current[0].actor, current))
        groups.sort(key=lambda g: (g[0], g[1]))
        first_id = int_from(40_000, 90_000, seed, "jira-history-id")
        self.histories: dict[str, list[tuple[int, datetime, str, list[Change]]]] = {}
        for n, (at, key, actor, changes) in enumerate(groups):
            history_id = first_id + n * 3 + int_from(0, 2, seed, "history-gap", n)
            self.histories.setdefault(key, []).append((history_id, at, actor, changes))

    # --- shared objects -------------------------------------------------------------------

    def user(self, person_id: str | None, as_of: datetime) -> dict[str, Any] | None:
        if person_id is None:
            return None
        person: Person = self.org.person(person_id)
        account = person.accounts.get("jira")
        if account is None:
            return None
        avatar = (
            "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/"
            f"{_initials(person.name)}-{int_from(0, 5, account)}.png"
        )
        out: dict[str, Any] = {
            "self": f"{BASE}/rest/api/3/user?accountId={account}",
            "accountId": account,
        }
        if person.jira_email_visible and not person.is_bot:
            out["emailAddress"] = person.email_for("jira")
        out.update(
            {
                "avatarUrls": {
                    size: f"{avatar}?size={size.split('x')[0]}&s={size.split('x')[0]}"
                    for size in ("48x48", "24x24", "16x16", "32x32")
                },
                "displayName": person.name if not person.is_bot else "Acme CI Bot",
                "active": not person.has_left(as_of),
                "timeZone": person.tz if not person.is_bot else "Etc/UTC",
                "accountType": "app" if person.is_bot else "atlassian",
            }
        )
        return out

    def status(self, name: str) -> dict[str, Any]:
        cat_id, cat_key, colour, cat_name = STATUS_CATEGORIES[name]
        return {
            "self": f"{BASE}/rest/api/3/status/{STATUS_IDS[name]}",
            "description": "",
            "iconUrl": f"{BASE}/",
            "name": name,
            "id": STATUS_IDS[name],
            "statusCategory": {
                "self": f"{BASE}/rest/api/3/statuscategory/{cat_id}",
                "id": cat_id,
                "key": cat_key,
                "colorName": colour,
                "name": cat_name,
            },
        }

    def issue_type(self, kind: str) -> dict[str, Any]:
        type_id, level, description = ISSUE_TYPES[kind]
        return {
            "self": f"{BASE}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "description": description,
            "iconUrl": f"{AVATARS}/issuetype/avatar/{10300 + int(type_id) % 100}?size=medium",
            "name": kind,
            "subtask": False,
            "avatarId": 10300 + int(type_id) % 100,
            "hierarchyLevel": level,
        }

    def priority(self, level: int) -> dict[str, Any]:
        name = PRIORITIES.get(level, "Medium")
        return {
            "self": f"{BASE}/rest/api/3/priority/{level}",
            "iconUrl": f"{BASE}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": str(level),
        }

    def project(self) -> dict[str, Any]:
        return {
            "self": f"{BASE}/rest/api/3/project/{PROJECT_ID}",
            "id": PROJECT_ID,
            "key": JIRA_PROJECT_KEY,
            "name": PROJECT_NAME,
            "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": {
                size: f"{AVATARS}/project/avatar/10411?size={label}"
                for size, label in (
                    ("48x48", "large"),
                    ("24x24", "small"),
                    ("16x16", "xsmall"),
                    ("32x32", "medium"),
                )
            },
        }

    def sprint_field(self, sprint: Sprint, as_of: datetime) -> dict[str, Any]:
        state = sprint.state_at(as_of)
        out: dict[str, Any] = {
            "id": sprint.id,
            "name": sprint.name,
            "state": state,
            "boardId": BOARD_ID,
            "goal": sprint.goal,
        }
        if state != "future":
            out["startDate"] = iso_ms_z(sprint.starts_at)
            out["endDate"] = iso_ms_z(sprint.ends_at)
        if state == "closed":
            out["completeDate"] = iso_ms_z(sprint.completed_at)
        return out

    def description(self, ticket: Ticket) -> dict[str, Any] | None:
        """Atlassian Document Format; a few tickets get lists and @mentions for variety."""
        if ticket.description is None:
            return None
        content: list[dict[str, Any]] = []
        for paragraph in ticket.description:
            if paragraph.startswith("Acceptance criteria:"):
                content.append(
                    {
                        "type": "heading",
                        "attrs": {"level": 3},
                        "content": [{"type": "text", "text": "Acceptance criteria"}],
                    }
                )
                items = (
                    paragraph.removeprefix("Acceptance criteria:")
                    .strip()
                    .rstrip(".")
                    .split(" and ")
                )
                content.append(
                    {
                        "type": "bulletList",
                        "content": [
                            {
                                "type": "listItem",
                                "content": [
                                    {
                                        "type": "paragraph",
                                        "content": [{"type": "text", "text": item}],
                                    }
                                ],
                            }
                            for item in items
                        ],
                    }
                )
            else:
                content.append(
                    {"type": "paragraph", "content": [{"type": "text", "text": paragraph}]}
                )
        reporter = self.org.person(ticket.reporter)
        if ticket.number % 4 == 0 and "jira" in reporter.accounts and not reporter.is_bot:
            content.append(
                {
                    "type": "paragraph",
                    "content": [
                        {"type": "text", "text": "Questions to "},
                        {
                            "type": "mention",
                            "attrs": {
                                "id": reporter.accounts["jira"],
                                "text": f"@{reporter.name}",
                                "accessLevel": "",
                            },
                        },
                        {"type": "text", "text": " "},
                    ],
                }
            )
        return {"type": "doc", "version": 1, "content": content}

    # --- changelog ------------------------------------------------------------------------

    def _item(self, change: Change) -> dict[str, Any]:
        if change.field == "status":
            return {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": STATUS_IDS[change.old],
                "fromString": change.old,
                "to": STATUS_IDS[change.new],
                "toString": change.new,
            }
        if change.field == "assignee":
            old = self.org.person(change.old) if change.old else None
            new = self.org.person(change.new) if change.new else None
            old_id = old.accounts.get("jira") if old else None
            new_id = new.accounts.get("jira") if new else None
            return {
                "field": "assignee",
                "fieldtype": "jira",
                "fieldId": "assignee",
                "from": old_id,
                "fromString": old.name if old else None,
                "to": new_id,
                "toString": new.name if new else None,
                "tmpFromAccountId": old_id,
                "tmpToAccountId": new_id,
            }
        if change.field == "resolution":
            return {
                "field": "resolution",
                "fieldtype": "jira",
                "fieldId": "resolution",
                "from": RESOLUTIONS[change.old][0] if change.old else None,
                "fromString": change.old,
                "to": RESOLUTIONS[change.new][0] if change.new else None,
                "toString": change.new,
            }
        if change.field == "sprint":

            def ids(value: Any) -> str | None:
                return ", ".join(str(i) for i in value) if value else None

            def names(value: Any) -> str | None:
                return ", ".join(self.sprints[i].name for i in value) if value else None

            return {
                "field": "Sprint",
                "fieldtype": "custom",
                "fieldId": SPRINT_FIELD,
                "from": ids(change.old),
                "fromString": names(change.old),
                "to": ids(change.new),
                "toString": names(change.new),
            }
        return {
            "field": change.field,
            "fieldtype": "jira",
            "fieldId": change.field,
            "from": None,
            "fromString": None if change.old is None else str(change.old),
            "to": None,
            "toString": None if change.new is None else str(change.new),
        }

    def changelog(self, key: str, as_of: datetime) -> list[dict[str, Any]]:
        out = []
        for history_id, at, actor, changes in self.histories.get(key, []):
            if at > as_of:
                break
            out.append(
                {
                    "id": str(history_id),
                    "author": self.user(actor, as_of),
                    "created": jira_ts(at),
                    "items": [self._item(c) for c in changes],
                }
            )
        return out

    # --- issues ---------------------------------------------------------------------------

    def issue(self, ticket: Ticket, as_of: datetime) -> dict[str, Any]:
        status = ticket.status_at(as_of)
        resolution = ticket.value_at("resolution", as_of, None)
        category_changed = ticket.created_at
        for change in ticket.changes:
            if change.at > as_of:
                break
            if (
                change.field == "status"
                and STATUS_CATEGORIES[change.old][1] != STATUS_CATEGORIES[change.new][1]
            ):
                category_changed = change.at
        resolved_at = (
            ticket.last_time("resolution", tuple(RESOLUTIONS), as_of) if resolution else None
        )
        sprint_ids = ticket.value_at("sprint", as_of, None) or ()
        parent = self.by_key.get(ticket.parent_key or "")
        histories = self.changelog(ticket.key, as_of)
        fields: dict[str, Any] = {
            "statuscategorychangedate": jira_ts(category_changed),
            "issuetype": self.issue_type(ticket.kind),
            "timespent": None,
            "project": self.project(),
            "fixVersions": [],
            "aggregatetimespent": None,
            "resolution": (
                {
                    "self": f"{BASE}/rest/api/3/resolution/{RESOLUTIONS[resolution][0]}",
                    "id": RESOLUTIONS[resolution][0],
                    "description": RESOLUTIONS[resolution][1],
                    "name": resolution,
                }
                if resolution
                else None
            ),
            "resolutiondate": jira_ts(resolved_at) if resolved_at else None,
            "workratio": -1,
            "watches": {
                "self": f"{BASE}/rest/api/3/issue/{ticket.key}/watchers",
                "watchCount": 1 + ticket.number % 3,
                "isWatching": False,
            },
            "lastViewed": None,
            "created": jira_ts(ticket.created_at),
            SPRINT_FIELD: [self.sprint_field(self.sprints[i], as_of) for i in sprint_ids] or None,
            POINTS_FIELD: ticket.value_at("points", as_of, ticket.initial_points),
            "customfield_10019": f"0|i{ticket.number:05d}:",
            "priority": self.priority(ticket.priority),
            "labels": list(ticket.labels),
            "versions": [],
            "assignee": self.user(ticket.assignee_at(as_of), as_of),
            "updated": jira_ts(ticket.updated_at(as_of)),
            "status": self.status(status),
            "components": [
                {
                    "self": f"{BASE}/rest/api/3/component/{self.component_ids[component]}",
                    "id": self.component_ids[component],
                    "name": component,
                }
                for component in [self.org.team(ticket.team).jira_component]
                if component
            ],
            "description": self.description(ticket),
            "summary": ticket.title,
            "creator": self.user(ticket.reporter, as_of),
            "subtasks": [],
            "reporter": self.user(ticket.reporter, as_of),
            "duedate": ticket.due_date,
            "votes": {
                "self": f"{BASE}/rest/api/3/issue/{ticket.key}/votes",
                "votes": 0,
                "hasVoted": False,
            },
        }
        if parent is not None and parent.created_at <= as_of:
            fields["parent"] = {
                "id": parent.uid,
                "key": parent.key,
                "self": f"{BASE}/rest/api/3/issue/{parent.uid}",
                "fields": {
                    "summary": parent.title,
                    "status": self.status(parent.status_at(as_of)),
                    "priority": self.priority(parent.priority),
                    "issuetype": self.issue_type(parent.kind),
                },
            }
        return {
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": ticket.uid,
            "self": f"{BASE}/rest/api/3/issue/{ticket.uid}",
            "key": ticket.key,
            "fields": fields,
            "changelog": {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(histories),
                "histories": histories,
            },
        }

    def issues(self, as_of: datetime) -> list[dict[str, Any]]:
        return [self.issue(t, as_of) for t in self.tickets if t.created_at <= as_of]

    def issue_changelog(self, key: str, as_of: datetime) -> list[dict[str, Any]]:
        ticket = self.by_key.get(key)
        if ticket is None or ticket.created_at > as_of:
            return []
        return self.changelog(key, as_of)

    # --- agile ----------------------------------------------------------------------------

    def board(self) -> dict[str, Any]:
        return {
            "id": BOARD_ID,
            "self": f"{BASE}/rest/agile/1.0/board/{BOARD_ID}",
            "name": f"{JIRA_PROJECT_KEY} board",
            "type": "scrum",
            "location": {
                "projectId": int(PROJECT_ID),
                "displayName": f"{PROJECT_NAME} ({JIRA_PROJECT_KEY})",
                "projectName": PROJECT_NAME,
                "projectKey": JIRA_PROJECT_KEY,
                "projectTypeKey": "software",
                "avatarURI": f"{AVATARS}/project/avatar/10411?size=small",
                "name": f"{PROJECT_NAME} ({JIRA_PROJECT_KEY})",
            },
        }

    def sprints_at(self, as_of: datetime) -> list[dict[str, Any]]:
        out = []
        for sprint in sorted(self.sprint_list, key=lambda s: int(s.id)):
            if sprint.created_at > as_of:
                continue
            state = sprint.state_at(as_of)
            item: dict[str, Any] = {
                "id": sprint.id,
                "self": f"{BASE}/rest/agile/1.0/sprint/{sprint.id}",
                "state": state,
                "name": sprint.name,
            }
            if state != "future":
                item["startDate"] = iso_ms_z(sprint.starts_at)
                item["endDate"] = iso_ms_z(sprint.ends_at)
            if state == "closed":
                item["completeDate"] = iso_ms_z(sprint.completed_at)
            item["createdDate"] = iso_ms_z(sprint.created_at)
            item["originBoardId"] = BOARD_ID
            item["goal"] = sprint.goal
            out.append(item)
        return out

    def epics_at(self, as_of: datetime) -> list[dict[str, Any]]:
        return [
            {
                "id": int(t.uid),
                "key": t.key,
                "self": f"{BASE}/rest/agile/1.0/epic/{t.uid}",
                "name": t.title,
                "summary": t.title,
                "color": {"key": f"color_{1 + t.number % 9}"},
                "done": t.status_at(as_of) == "Done",
            }
            for t in self.tickets
            if t.kind == "Epic" and t.created_at <= as_of
        ]

    def users(self, as_of: datetime) -> list[dict[str, Any]]:
        people = [p for p in self.org.people if "jira" in p.accounts]
        people.sort(key=lambda p: p.accounts["jira"])
        return [u for p in people if (u := self.user(p.person_id, as_of)) is not None]
