"""PagerDuty REST API v2 and V3 webhook shapes (account ``acme``) rendered as of an instant.

Acme pages its on-call engineers for production errors: every Sentry issue of level ``error``
or ``fatal`` raises a PagerDuty incident on the service of the same name a minute or a few after
it is first seen. The on-call member of the service's team is assigned; sometimes they hand it
to a teammate, then acknowledge it, sometimes add a note, and resolve it when Sentry's issue is
resolved or ignored (else within a few hours).

Everything here is derived from hashes of the seed and stable ids (:mod:`.ids`), never from the
simulation's random streams, so adding PagerDuty changes no other tool's simulated data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .clock import iso_z
from .ids import base36, hex_id, int_from, uuid_from
from .model import SentryIssue, Timeline
from .org import Organisation, Person, Repo

WEB = "https://acme.pagerduty.com"
API = "https://api.pagerduty.com"
PAGED_LEVELS = ("error", "fatal")
NOTES = (
    "Rolled back the last deploy; error rate is dropping.",
    "Mitigated by restarting the workers; root cause still open.",
    "Fix is being reviewed, keeping an eye on the dashboard.",
)


def _pd_id(prefix: str, length: int, *parts: object) -> str:
    """A PagerDuty-shaped id: a capital letter and upper-case base-36 characters."""
    return prefix + base36(int_from(36 ** (length - 1), 36**length - 1, *parts))


@dataclass(frozen=True)
class Step:
    """One thing that happened to an incident: what, when, by whom, to whom."""

    at: datetime
    kind: str  # trigger | assign | notify | acknowledge | annotate | resolve
    agent: str | None  # person id; None for the service (PagerDuty itself)
    assignee: str | None = None
    note: str | None = None


@dataclass
class Page:
    """One PagerDuty incident of the simulated account."""

    id: str
    number: int
    repo: Repo
    issue: SentryIssue
    key: str
    created: datetime
    steps: list[Step] = field(default_factory=list)

    def steps_at(self, as_of: datetime) -> list[Step]:
        return [s for s in self.steps if s.at <= as_of]


class PagerdutyRenderer:
    """Renders the incidents of every service, their log entries and their V3 webhooks."""

    def __init__(
        self, org: Organisation, timeline: Timeline, seed: int, *, enabled: bool = True
    ) -> None:
        self.org = org
        self.enabled = enabled  # False: an account with no services, incidents or webhooks
        self.seed = seed
        self.repos = {r.service: r for r in org.repos}
        self.teams = {t.key: t for t in org.teams}
        self.service_ids = {s: _pd_id("P", 6, seed, "pd-service", s) for s in self.repos}
        self.by_service_id = {i: s for s, i in self.service_ids.items()}
        paged = sorted(
            (
                i
                for i in timeline.sentry_issues
                if enabled and i.level in PAGED_LEVELS and i.project in self.repos
            ),
            key=lambda i: (i.first_seen, i.id),
        )
        first_number = int_from(100, 900, seed, "pd-first-number")
        self.pages: list[Page] = []
        for offset, issue in enumerate(paged):
            page = self._page(issue, first_number + offset)
            if page is not None:
                self.pages.append(page)
        self.pages.sort(key=lambda p: (p.created, p.id))
        self.by_id = {p.id: p for p in self.pages}

    # -- the simulated incidents -------------------------------------------------------------
    def _on_call(self, repo: Repo, at: datetime, salt: str) -> list[Person]:
        members = [self.org.person(pid) for pid in self.teams[repo.team].members]
        people = [p for p in members if not p.is_bot and not p.has_left(at)]
        start = int_from(0, max(len(people) - 1, 0), self.seed, "pd-rota", salt)
        return people[start:] + people[:start]

    def _page(self, issue: SentryIssue, number: int) -> Page | None:
        seed, ident = self.seed, issue.id
        repo = self.repos[issue.project]
        created = issue.first_seen + timedelta(seconds=int_from(40, 240, seed, "pd-alert", ident))
        created = created.replace(microsecond=0)
        rota = self._on_call(repo, created, ident)
        if not rota:
            return None
        page = Page(
            id=_pd_id("Q", 13, seed, "pd-incident", ident),
            number=number,
            repo=repo,
            issue=issue,
            key=hex_id(32, seed, "pd-key", ident),
            created=created,
        )
        on_call = rota[0].person_id
        steps = [
            Step(created, "trigger", None),
            Step(created, "assign", None, assignee=on_call),
            Step(created + timedelta(seconds=5), "notify", None, assignee=on_call),
        ]
        current = on_call
        acked = created + timedelta(seconds=int_from(120, 1500, seed, "pd-ack", ident))
        if len(rota) > 1 and int_from(0, 99, seed, "pd-handover", ident) < 30:
            handed = created + timedelta(seconds=int_from(60, 110, seed, "pd-handover-at", ident))
            current = rota[1].person_id
            steps.append(Step(handed, "assign", on_call, assignee=current))
        steps.append(Step(acked, "acknowledge", current))
        last = acked
        if int_from(0, 99, seed, "pd-note", ident) < 50:
            last = acked + timedelta(seconds=int_from(300, 2400, seed, "pd-note-at", ident))
            note = NOTES[int_from(0, len(NOTES) - 1, seed, "pd-note-text", ident)]
            steps.append(Step(last, "annotate", current, note=note))
        closed = issue.resolved_at or issue.ignored_at
        if closed is None:
            closed = created + timedelta(seconds=int_from(1800, 5 * 3600, seed, "pd-close", ident))
        resolved = max(closed.replace(microsecond=0), last + timedelta(minutes=2))
        steps.append(Step(resolved, "resolve", current))
        page.steps = steps
        return page

    # -- references ---------------------------------------------------------------------------
    def user_id(self, person_id: str) -> str:
        return _pd_id("P", 6, self.seed, "pd-user", person_id)

    def _user(self, person_id: str) -> dict[str, Any]:
        uid = self.user_id(person_id)
        return {
            "id": uid,
            "type": "user_reference",
            "summary": self.org.person(person_id).name,
            "self": f"{API}/users/{uid}",
            "html_url": f"{WEB}/users/{uid}",
        }

    def _service(self, repo: Repo) -> dict[str, Any]:
        sid = self.service_ids[repo.service]
        return {
            "id": sid,
            "type": "service_reference",
            "summary": repo.service,
            "self": f"{API}/services/{sid}",
            "html_url": f"{WEB}/service-directory/{sid}",
        }

    def _team(self, repo: Repo) -> dict[str, Any]:
        tid = _pd_id("P", 6, self.seed, "pd-team", repo.team)
        return {
            "id": tid,
            "type": "team_reference",
            "summary": self.teams[repo.team].name,
            "self": f"{API}/teams/{tid}",
            "html_url": f"{WEB}/teams/{tid}",
        }

    def _policy(self, repo: Repo) -> dict[str, Any]:
        pid = _pd_id("P", 6, self.seed, "pd-policy", repo.team)
        return {
            "id": pid,
            "type": "escalation_policy_reference",
            "summary": f"{self.teams[repo.team].name} on-call",
            "self": f"{API}/escalation_policies/{pid}",
            "html_url": f"{WEB}/escalation_policies/{pid}",
        }

    def _incident_ref(self, page: Page) -> dict[str, Any]:
        return {
            "id": page.id,
            "type": "incident_reference",
            "summary": f"[#{page.number}] {page.issue.title}",
            "self": f"{API}/incidents/{page.id}",
            "html_url": f"{WEB}/incidents/{page.id}",
        }

    def _entry_id(self, page: Page, index: int) -> str:
        return _pd_id("R", 14, self.seed, "pd-log-entry", page.id, index)

    # -- API v2 ---------------------------------------------------------------------------------
    def services(self) -> list[str]:
        """Service ids, one per repository service, sorted (none when not enabled)."""
        return sorted(self.service_ids.values()) if self.enabled else []

    def incidents(self, service_id: str | None, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /incidents`` items created by ``as_of`` (one service, or all), oldest first."""
        service = self.by_service_id.get(service_id) if service_id else None
        return [
            self.incident(page, as_of)
            for page in self.pages
            if page.created <= as_of and (service_id is None or page.repo.service == service)
        ]

    def incident(self, page: Page, as_of: datetime) -> dict[str, Any]:
        steps = page.steps_at(as_of)
        status, changed, changed_by = "triggered", page.created, None
        assignee, assigned_at, acknowledgement = None, page.created, None
        for step in steps:
            if step.kind == "assign":
                assignee, assigned_at = step.assignee, step.at
            elif step.kind == "acknowledge":
                status, changed, changed_by = "acknowledged", step.at, step.agent
                acknowledgement = {"at": iso_z(step.at), "acknowledger": self._user(step.agent)}
            elif step.kind == "resolve":
                status, changed, changed_by = "resolved", step.at, step.agent
        repo = page.repo
        first = self._entry_id(page, 0)
        return {
            "id": page.id,
            "type": "incident",
            "summary": f"[#{page.number}] {page.issue.title}",
            "self": f"{API}/incidents/{page.id}",
            "html_url": f"{WEB}/incidents/{page.id}",
            "incident_number": page.number,
            "title": page.issue.title,
            "description": page.issue.title,
            "created_at": iso_z(page.created),
            "updated_at": iso_z(max(s.at for s in steps)),
            "status": status,
            "incident_key": page.key,
            "service": self._service(repo),
            # PagerDuty clears assignments and acknowledgements when an incident is resolved.
            "assignments": []
            if status == "resolved" or assignee is None
            else [{"at": iso_z(assigned_at), "assignee": self._user(assignee)}],
            "assigned_via": "escalation_policy",
            "acknowledgements": [acknowledgement] if status == "acknowledged" else [],
            "last_status_change_at": iso_z(changed),
            "last_status_change_by": self._user(changed_by) if changed_by else self._service(repo),
            "resolved_at": iso_z(changed) if status == "resolved" else None,
            "first_trigger_log_entry": {
                "id": first,
                "type": "trigger_log_entry_reference",
                "self": f"{API}/log_entries/{first}",
                "html_url": f"{WEB}/incidents/{page.id}/log_entries/{first}",
            },
            "alert_counts": {
                "all": 1,
                "triggered": 0 if status == "resolved" else 1,
                "resolved": 1 if status == "resolved" else 0,
            },
            "is_mergeable": True,
            "escalation_policy": self._policy(repo),
            "teams": [self._team(repo)],
            "pending_actions": [],
            "priority": None,
            "resolve_reason": None,
            "urgency": "high",
            "incident_type": {"name": "incident_default"},
        }

    def log_entries(self, incident_id: str, as_of: datetime) -> list[dict[str, Any]] | None:
        """``GET /incidents/{id}/log_entries`` items by ``as_of``, newest first; None if unknown."""
        page = self.by_id.get(incident_id)
        if page is None or page.created > as_of:
            return None
        entries = [
            self._log_entry(page, index, step)
            for index, step in enumerate(page.steps)
            if step.at <= as_of
        ]
        return list(reversed(entries))

    def _log_entry(self, page: Page, index: int, step: Step) -> dict[str, Any]:
        entry_id = self._entry_id(page, index)
        agent = self._user(step.agent) if step.agent else self._service(page.repo)
        entry: dict[str, Any] = {
            "id": entry_id,
            "type": f"{step.kind}_log_entry",
            "self": f"{API}/log_entries/{entry_id}",
            "html_url": f"{WEB}/incidents/{page.id}/log_entries/{entry_id}",
            "created_at": iso_z(step.at),
            "agent": agent,
            "channel": {"type": "api"},
            "service": self._service(page.repo),
            "incident": self._incident_ref(page),
            "teams": [self._team(page.repo)],
            "contexts": [],
        }
        name = agent["summary"]
        if step.kind == "trigger":
            entry["summary"] = "Triggered through the API."
            entry["event_details"] = {"description": page.issue.title}
        elif step.kind == "assign":
            assignee = self._user(step.assignee or "")
            entry["summary"] = f"Assigned to {assignee['summary']} by {name}."
            entry["assignees"] = [assignee]
            entry["channel"] = {"type": "web_ui" if step.agent else "auto"}
        elif step.kind == "notify":
            user = self._user(step.assignee or "")
            entry["summary"] = f"Notified {user['summary']} by push notification."
            entry["user"] = user
            entry["channel"] = {"type": "push_notification"}
        elif step.kind == "acknowledge":
            entry["summary"] = f"Acknowledged by {name}."
            entry["channel"] = {"type": "mobile"}
            entry["acknowledgement_timeout"] = 1800
        elif step.kind == "annotate":
            entry["summary"] = f"Note added by {name}."
            entry["channel"] = {"type": "note", "summary": step.note}
        elif step.kind == "resolve":
            entry["summary"] = f"Resolved by {name}."
            entry["channel"] = {"type": "web_ui"}
        return entry

    # -- V3 webhooks --------------------------------------------------------------------------
    def webhook_events(self, as_of: datetime) -> list[dict[str, Any]]:
        """V3 webhook bodies (``{"event": {...}}``) of every change by ``as_of``, in time order.

        A trigger, an acknowledgement, a hand-over (``incident.reassigned``), a note
        (``incident.annotated``) and a resolution each send one; notifications send none.
        """
        kinds = {
            "trigger": "incident.triggered",
            "acknowledge": "incident.acknowledged",
            "annotate": "incident.annotated",
            "resolve": "incident.resolved",
        }
        bodies = []
        for page in self.pages:
            for index, step in enumerate(page.steps):
                if step.at > as_of:
                    continue
                event_type = kinds.get(step.kind)
                if step.kind == "assign" and step.agent is not None:
                    event_type = "incident.reassigned"
                if event_type is None:
                    continue
                if step.kind == "annotate":
                    data: dict[str, Any] = {
                        "incident": self._incident_ref(page),
                        "id": _pd_id("P", 6, self.seed, "pd-note-id", page.id, index),
                        "content": step.note,
                        "trimmed": False,
                        "type": "incident_note",
                    }
                else:
                    data = self._hook_incident(page, step.at)
                bodies.append(
                    (
                        step.at,
                        {
                            "event": {
                                "id": uuid_from(self.seed, "pd-event", page.id, index),
                                "event_type": event_type,
                                "resource_type": "incident",
                                "occurred_at": iso_z(step.at),
                                "agent": self._user(step.agent) if step.agent else None,
                                "client": None,
                                "data": data,
                            }
                        },
                    )
                )
        return [body for _, body in sorted(bodies, key=lambda b: (b[0], b[1]["event"]["id"]))]

    def _hook_incident(self, page: Page, at: datetime) -> dict[str, Any]:
        """The ``incident`` object a V3 webhook carries, as of the change it reports."""
        full = self.incident(page, at)
        assignees = [a["assignee"] for a in full["assignments"]]
        if full["status"] == "resolved":  # the webhook still names who had it
            assignees = [full["last_status_change_by"]]
        return {
            "id": page.id,
            "type": "incident",
            "self": full["self"],
            "html_url": full["html_url"],
            "number": page.number,
            "status": full["status"],
            "incident_key": page.key,
            "created_at": full["created_at"],
            "title": full["title"],
            "service": full["service"],
            "assignees": assignees,
            "escalation_policy": full["escalation_policy"],
            "teams": full["teams"],
            "priority": None,
            "urgency": "high",
            "conference_bridge": None,
            "resolve_reason": None,
        }
