"""Sentry API 0 shapes (sentry.io, organization ``acme``) rendered as of an instant."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

from .clock import iso_us_z
from .conventions import sentry_slug
from .ids import digits, hex_id
from .model import Deployment, SentryIssue, Timeline
from .org import ORG_SLUG, Organisation, Repo
from .sim_files import FRAMEWORK_FRAMES

WEB = "https://sentry.io"
_PLATFORMS = {"python": "python", "go": "go", "typescript": "javascript"}
_SDKS = {
    "python": ("sentry.python", "2.19.2"),
    "go": ("sentry.go", "0.31.1"),
    "node": ("sentry.javascript.node", "8.42.0"),
}


def _platform(repo: Repo) -> str:
    if repo.service == "mobile-app":
        return "react-native"
    if repo.service == "mobile-bff":
        return "node"
    return _PLATFORMS[repo.language]


class SentryRenderer:
    """Renders per service; the API speaks in project slugs (``slug`` / ``service_of``)."""

    def __init__(
        self, org: Organisation, timeline: Timeline, seed: int, slug_style: str = "service"
    ) -> None:
        self.org = org
        self.seed = seed
        self.repos = {r.service: r for r in org.repos}
        self.slugs = {s: sentry_slug(slug_style, s, ORG_SLUG) for s in self.repos}
        self.services = {slug: s for s, slug in self.slugs.items()}
        self.project_ids = {s: digits(7, seed, "sentry-project", s) for s in self.repos}
        self.org_id = digits(6, seed, "sentry-org")
        self.issues: dict[str, list[SentryIssue]] = {s: [] for s in self.repos}
        for issue in timeline.sentry_issues:
            self.issues[issue.project].append(issue)
        for issues in self.issues.values():
            issues.sort(key=lambda i: int(i.id))
        self.issue_by_id = {i.id: i for i in timeline.sentry_issues}
        # Releases are created by the first deploy of a sha (staging or production).
        self.deploys_by_version: dict[str, list[Deployment]] = {}
        for dep in sorted(timeline.deployments, key=lambda d: (d.created_at, d.key)):
            self.deploys_by_version.setdefault(dep.release_version, []).append(dep)
        self.production: dict[str, list[tuple[datetime, str]]] = {}
        for dep in timeline.deployments:
            if dep.environment == "production" and dep.succeeded_at is not None:
                self.production.setdefault(dep.service, []).append(
                    (dep.succeeded_at, dep.release_version)
                )
        for versions in self.production.values():
            versions.sort()

    def slug(self, service: str) -> str:
        return self.slugs[service]

    def _project_ref(self, service: str) -> dict[str, Any]:
        return {
            "id": self.project_ids[service],
            "name": self.slugs[service],
            "slug": self.slugs[service],
            "platform": _platform(self.repos[service]),
        }

    def release_at(self, service: str, at: datetime) -> str | None:
        """The release running in production at ``at`` (what the SDK would tag events with)."""
        versions = self.production.get(service, [])
        idx = bisect_right(versions, (at, "\uffff"))
        return versions[idx - 1][1] if idx else None

    def projects(self) -> list[dict[str, Any]]:
        out = []
        for service in sorted(self.repos, key=lambda s: int(self.project_ids[s])):
            out.append(
                {
                    **self._project_ref(service),
                    "dateCreated": "2023-04-18T09:21:05.118000Z",
                    "isBookmarked": False,
                    "isMember": True,
                    "features": ["releases", "minidump"],
                    "firstEvent": "2023-04-18T10:02:44.530000Z",
                    "firstTransactionEvent": True,
                    "hasAccess": True,
                    "status": "active",
                    "team": {
                        "id": digits(6, self.seed, "sentry-team", self.repos[service].team),
                        "slug": self.repos[service].team,
                        "name": self.repos[service].team.title(),
                    },
                    "organization": {"id": self.org_id, "slug": ORG_SLUG, "name": "Acme"},
                }
            )
        return out

    # --- issues ---------------------------------------------------------------------------

    def _status(self, issue: SentryIssue, as_of: datetime) -> tuple[str, str | None]:
        if issue.resolved_at is not None and issue.resolved_at <= as_of:
            return "resolved", None
        if issue.ignored_at is not None and issue.ignored_at <= as_of:
            return "ignored", "archived_until_escalating"
        new = as_of - issue.first_seen < timedelta(days=3)
        return "unresolved", "new" if new else "ongoing"

    def issue(self, issue: SentryIssue, as_of: datetime) -> dict[str, Any]:
        bursts = issue.bursts_at(as_of)
        count = sum(b[1] for b in bursts)
        users = sum(b[2] for b in bursts)
        status, substatus = self._status(issue, as_of)
        return {
            "id": issue.id,
            "shareId": None,
            "shortId": issue.short_id,
            "title": issue.title,
            "culprit": issue.culprit,
            "permalink": f"{WEB}/organizations/{ORG_SLUG}/issues/{issue.id}/",
            "logger": None,
            "level": issue.level,
            "status": status,
            "statusDetails": {},
            "substatus": substatus,
            "isPublic": False,
            "platform": _platform(self.repos[issue.project]),
            "project": self._project_ref(issue.project),
            "type": "error",
            "metadata": {
                "type": issue.error_type,
                "value": issue.error_value,
                "filename": issue.filename,
                "function": issue.function,
                "in_app_frame_mix": "in-app-only",
            },
            "numComments": 0,
            "assignedTo": None,
            "isBookmarked": False,
            "isSubscribed": False,
            "subscriptionDetails": None,
            "hasSeen": status != "unresolved",
            "annotations": [],
            "issueType": "error",
            "issueCategory": "error",
            "priority": "high"
            if issue.level in ("fatal", "error") and issue.cause_deployment
            else "medium",
            "priorityLockedAt": None,
            "isUnhandled": issue.level == "fatal",
            "count": str(count),
            "userCount": users,
            "firstSeen": iso_us_z(issue.first_seen),
            "lastSeen": iso_us_z(bursts[-1][0]),
        }

    def issue_details(self, issue_id: str, as_of: datetime) -> dict[str, Any]:
        """``GET /organizations/{org}/issues/{id}/``: the list item plus its ``activity``
        (newest first), which dates a resolution or an archiving; ``{}`` when the issue does not
        exist yet. Sentry resolves on its own (``user`` null) or for a person it does not name
        here: the simulator does not model who."""
        issue = self.issue_by_id.get(str(issue_id))
        if issue is None or issue.first_seen > as_of:
            return {}
        moments = [("first_seen", issue.first_seen)]
        for kind, at in (("set_resolved", issue.resolved_at), ("set_ignored", issue.ignored_at)):
            if at is not None and at <= as_of:
                moments.append((kind, at))
        activity = [
            {
                "id": digits(10, self.seed, "sentry-activity", issue.id, kind),
                "user": None,
                "sentry_app": None,
                "type": kind,
                "data": {},
                "dateCreated": iso_us_z(at),
            }
            for kind, at in sorted(moments, key=lambda m: m[1], reverse=True)
        ]
        release = self.release_at(issue.project, issue.first_seen)
        return {
            **self.issue(issue, as_of),
            "activity": activity,
            "firstRelease": {"version": release} if release else None,
        }

    def issues_at(self, project_slug: str, as_of: datetime) -> list[dict[str, Any]]:
        service = self.services.get(project_slug, "")
        return [self.issue(i, as_of) for i in self.issues.get(service, []) if i.first_seen <= as_of]

    def _frames(self, issue: SentryIssue, platform: str) -> list[dict[str, Any]]:
        """Framework frames, then in-app ones; the raising frame is last, as Sentry orders them."""
        language = self.repos[issue.project].language
        out = [
            {
                "filename": path,
                "absPath": path,
                "module": None,
                "function": function,
                "lineNo": 100 + int(issue.id) % 97 + n,
                "inApp": False,
            }
            for n, (path, function) in enumerate(FRAMEWORK_FRAMES[language])
        ]
        prefix = {"python": "/srv/app/", "go": "/build/"}.get(language, "app:///")
        for n, (path, function) in enumerate(issue.frames or [(issue.filename, issue.function)]):
            out.append(
                {
                    "filename": path,
                    "absPath": prefix + path,
                    "module": path.rsplit(".", 1)[0].replace("/", ".")
                    if language == "python"
                    else None,
                    "function": function,
                    "lineNo": 10 + (int(issue.id) + 37 * n) % 300,
                    "inApp": True,
                }
            )
        return out

    def latest_event(self, issue_id: str, as_of: datetime) -> dict[str, Any]:
        """Latest event of an issue at ``as_of``; ``{}`` when the issue does not exist yet."""
        issue = self.issue_by_id.get(str(issue_id))
        if issue is None or issue.first_seen > as_of:
            return {}
        bursts = issue.bursts_at(as_of)
        index = len(bursts) - 1
        at = bursts[index][0]
        event_id = hex_id(32, self.seed, "event", issue.id, index)
        previous = hex_id(32, self.seed, "event", issue.id, index - 1) if index else None
        version = self.release_at(issue.project, at)
        platform = _platform(self.repos[issue.project])
        sdk_name, sdk_version = _SDKS.get(platform, ("sentry.javascript.react-native", "6.3.0"))
        tags = [
            {"key": "environment", "value": "production"},
            {"key": "level", "value": issue.level},
        ]
        if version:
            tags.append({"key": "release", "value": version})
        tags += [
            {"key": "server_name", "value": f"{issue.project}-{index % 4}"},
            {"key": "transaction", "value": issue.function},
        ]
        release = None
        if version:
            first_deploy = self.deploys_by_version[version][0]
            release = {
                "version": version,
                "shortVersion": version.split("@", 1)[1],
                "dateCreated": iso_us_z(first_deploy.created_at),
                "dateReleased": None,
                "url": None,
                "ref": None,
            }
        return {
            "id": event_id,
            "eventID": event_id,
            "groupID": issue.id,
            "projectID": self.project_ids[issue.project],
            "title": issue.title,
            "message": "",
            "culprit": issue.culprit,
            "location": issue.filename,
            "platform": platform,
            "type": "error",
            "metadata": {
                "type": issue.error_type,
                "value": issue.error_value,
                "filename": issue.filename,
                "function": issue.function,
            },
            "dateCreated": iso_us_z(at),
            "dateReceived": iso_us_z(at + timedelta(milliseconds=420)),
            "tags": tags,
            "release": release,
            "dist": None,
            "user": {
                "id": digits(8, self.seed, "end-user", issue.id, index),
                "email": None,
                "ip_address": None,
                "username": None,
            },
            "contexts": {"runtime": {"name": platform, "type": "runtime"}},
            "sdk": {"name": sdk_name, "version": sdk_version},
            "entries": [
                {
                    "type": "exception",
                    "data": {
                        "values": [
                            {
                                "type": issue.error_type,
                                "value": issue.error_value,
                                "mechanism": {"type": "generic", "handled": issue.level != "fatal"},
                                "stacktrace": {"frames": self._frames(issue, platform)},
                            }
                        ]
                    },
                }
            ],
            "errors": [],
            "fingerprints": [hex_id(32, self.seed, "fingerprint", issue.id)],
            "groupingConfig": {"id": "newstyle:2023-01-11", "enhancements": "eJybzDRxY3J-bm5-"},
            "previousEventID": previous,
            "nextEventID": None,
        }

    # --- releases and deploys --------------------------------------------------------------

    def _deploy(self, dep: Deployment, as_of: datetime) -> dict[str, Any]:
        finished = dep.statuses[-1][0] if dep.statuses and dep.statuses[-1][0] <= as_of else None
        return {
            "id": digits(7, self.seed, "sentry-deploy", dep.key),
            "environment": dep.environment,
            "dateStarted": iso_us_z(dep.created_at),
            "dateFinished": iso_us_z(finished) if finished else None,
            "name": f"{dep.release_version} to {dep.environment}",
            "url": None,
        }

    def deploys(self, version: str, as_of: datetime) -> list[dict[str, Any]]:
        """Sorted by start time."""
        return [
            self._deploy(d, as_of)
            for d in self.deploys_by_version.get(version, [])
            if d.created_at <= as_of
        ]

    def releases(self, project_slug: str, as_of: datetime) -> list[dict[str, Any]]:
        """Releases of one project that exist at ``as_of``, oldest first."""
        out = []
        service = self.services.get(project_slug, "")
        for version, deps in self.deploys_by_version.items():
            first = deps[0]
            if first.service != service or first.created_at > as_of:
                continue
            seen = [d for d in deps if d.created_at <= as_of]
            new_groups = [
                i
                for i in self.issues.get(service, [])
                if i.first_seen <= as_of and self.release_at(service, i.first_seen) == version
            ]
            events = [b[0] for i in new_groups for b in i.bursts_at(as_of)]
            released = next(
                (
                    d.succeeded_at
                    for d in seen
                    if d.environment == "production" and d.succeeded_at and d.succeeded_at <= as_of
                ),
                None,
            )
            out.append(
                {
                    "version": version,
                    "shortVersion": version.split("@", 1)[1],
                    "ref": first.sha,
                    "url": None,
                    "dateCreated": iso_us_z(first.created_at),
                    "dateReleased": iso_us_z(released) if released else None,
                    "data": {},
                    "newGroups": len(new_groups),
                    "owner": None,
                    "commitCount": len(first.shipped_shas),
                    "lastCommit": None,
                    "deployCount": len(seen),
                    "lastDeploy": self._deploy(seen[-1], as_of),
                    "firstEvent": iso_us_z(min(events)) if events else None,
                    "lastEvent": iso_us_z(max(events)) if events else None,
                    "authors": [],
                    "projects": [{**self._project_ref(service), "newGroups": len(new_groups)}],
                    "status": "open",
                }
            )
        return sorted(out, key=lambda r: (r["dateCreated"], r["version"]))
