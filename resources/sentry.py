"""Sentry connector: per project, issues with their latest event, and releases with deploys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync, utc_iso
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.sentry import SentryScopes
from resources.http import ApiError, HttpClient, Page, RequestStats
from resources.tool import ToolResource

MAX_PAGE_SIZE = 100  # Sentry caps per_page at 100
ENDPOINTS = ("issues", "releases")

_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[\w-]+\s*=\s*"[^"]*")*)')
_LINK_PARAM = re.compile(r'([\w-]+)\s*=\s*"([^"]*)"')


def next_cursor(page: Page) -> str | None:
    """The cursor of Sentry's ``rel="next"`` link, or None at the end.

    Sentry sends a next link on every page, the last one included; only ``results="true"``
    means there is more to read. Following the link regardless costs one empty request per
    endpoint, or loops when the server hands back the same cursor.
    """
    for _, params in _LINK.findall(page.headers.get("link", "")):
        attributes = dict(_LINK_PARAM.findall(params))
        if attributes.get("rel") == "next":
            return attributes.get("cursor") if attributes.get("results") == "true" else None
    return None


def release_deploy_activity(release: dict[str, Any]) -> str | None:
    """When a release's deploy list last changed, as far as the release itself shows.

    A new deploy moves ``lastDeploy.dateStarted``; a deploy finishing moves its ``dateFinished``.
    Sentry has no ``updated`` filter on releases, so this is what tells which releases need their
    deploys read again.
    """
    last_deploy = release.get("lastDeploy") or {}
    stamps = [release.get("dateCreated"), last_deploy.get("dateStarted")]
    stamps.append(last_deploy.get("dateFinished"))
    parsed = [(moment, stamp) for stamp in stamps if (moment := _moment(stamp)) is not None]
    return max(parsed)[1] if parsed else None


def _moment(stamp: Any) -> datetime | None:
    """A tool timestamp as an aware datetime; None when absent or malformed."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(utc_iso(stamp))
    except ValueError:
        return None


class SentryResource(ToolResource):
    """Reads issues, latest events, releases and deploys of the configured Sentry projects."""

    base_url: str = "https://sentry.io"
    organization: str = Field(description="Organization slug")
    projects: list[str] = Field(default_factory=list, description="Project slugs")

    @classmethod
    def from_source(cls, source: SourceConfig) -> SentryResource:
        scopes = source.scopes_of(SentryScopes)
        organization = scopes.organization
        if not organization:
            raise ValueError(f"source {source.name!r}: scopes.organization (a slug) is required")
        fields = cls.common_fields(source)
        fields["page_size"] = min(source.page_size, MAX_PAGE_SIZE)
        return cls(
            base_url=source.base_url or "https://sentry.io",
            organization=str(organization),
            projects=list(scopes.projects),
            **fields,
        )

    def connector(self, stats: RequestStats) -> SentryConnector:
        client = self.http_client(
            "sentry", headers={"Authorization": f"Bearer {self.token}"}, stats=stats
        )
        return SentryConnector(
            client, organization=self.organization, projects=self.projects, page_size=self.page_size
        )


class SentryConnector:
    source = "sentry"

    def __init__(
        self, client: HttpClient, *, organization: str, projects: list[str], page_size: int
    ) -> None:
        self.client = client
        self.organization = organization
        self.projects = projects
        self.page_size = page_size

    def endpoints(self) -> list[tuple[str, str]]:
        return [(project, endpoint) for project in self.projects for endpoint in ENDPOINTS]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        if sync.endpoint == "issues":
            return self._issues(sync)
        return self._releases(sync)

    def _newer_than_cursor(self, sync: EndpointSync, stamp: str | None) -> bool:
        """Whether a parent changed after the last completed sync (so its children did too)."""
        if sync.cursor_before is None:
            return True
        moment = _moment(stamp)
        return moment is None or moment > datetime.fromisoformat(sync.cursor_before)

    def _issues(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Issues seen since the cursor, each newly seen one with its latest event.

        ``query`` is sent even when empty: the endpoint's default is ``is:unresolved``, which
        would hide resolved and ignored issues. ``statsPeriod`` is empty because the stats series
        it adds shifts every hour, which would land a new version of every issue each sync.
        The latest event can only be read one issue at a time; it changes only when ``lastSeen``
        does, so it is fetched for issues last seen after the saved cursor, not for the overlap.
        The list gives no resolution time: for a resolved issue among those, the issue details
        (``kind`` ``issue_details``) are read too, whose ``activity`` dates the resolution. An
        issue resolved after its last event is not listed again by ``lastSeen``: its resolution
        is dated when it is seen again, or by the ``issue`` webhook.
        """
        since = sync.since()
        query = ""
        if since is not None:
            query = f"lastSeen:>={since.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"
        url = f"/api/0/projects/{self.organization}/{sync.scope}/issues/"
        params = {"query": query, "statsPeriod": "", "sort": "date", "per_page": self.page_size}
        newly_seen: list[str] = []
        resolved: list[str] = []
        for page in self.client.paginate_cursor(url, params=params, next_cursor=next_cursor):
            for issue in page.data:
                last_seen = issue.get("lastSeen")
                if _moment(last_seen) is not None:
                    sync.observe(last_seen)
                issue_id = str(issue.get("id"))
                yield FetchedRecord(
                    kind="issues",
                    scope=sync.scope,
                    record_id=issue_id,
                    updated_at=last_seen,
                    payload=issue,
                    request=page.url,
                )
                if issue_id.isdigit() and self._newer_than_cursor(sync, last_seen):
                    newly_seen.append(issue_id)
                    if issue.get("status") == "resolved":
                        resolved.append(issue_id)
        # One object per issue: the latest event of those seen since the cursor, and the
        # details (dated activity) of those among them that are resolved.
        follow_ups = (
            ("latest_events", newly_seen, "/api/0/issues/{}/events/latest/", "dateCreated"),
            (
                "issue_details",
                resolved,
                f"/api/0/organizations/{self.organization}/issues/{{}}/",
                "lastSeen",
            ),
        )
        for kind, issue_ids, url, stamp in follow_ups:
            for issue_id in issue_ids:
                page = self._found(url.format(issue_id))
                if page is not None:
                    yield FetchedRecord(
                        kind=kind,
                        scope=sync.scope,
                        record_id=issue_id,
                        updated_at=page.data.get(stamp),
                        payload=page.data,
                        request=page.url,
                    )

    def _found(self, url: str) -> Page | None:
        """One object of an issue, or None when it is gone (deleted or merged since it was
        listed) or empty (no event yet); a malformed body is retried by the client, not here."""
        try:
            page = self.client.get(url)
        except ApiError as error:
            if error.status_code == 404:
                return None
            raise
        if page is None or not isinstance(page.data, dict) or not page.data:
            return None
        return page

    def _releases(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Every release of the project, and the deploys of those whose deploys changed.

        Releases have no ``updated`` filter, so the list is read whole (landing keeps only
        changed versions); deploys, one request per release, are read for releases whose
        deploy activity is newer than the saved cursor.
        """
        url = f"/api/0/projects/{self.organization}/{sync.scope}/releases/"
        params = {"per_page": self.page_size}
        changed: list[str] = []
        for page in self.client.paginate_cursor(url, params=params, next_cursor=next_cursor):
            for release in page.data:
                version = str(release.get("version"))
                activity = release_deploy_activity(release)
                sync.observe(activity)
                yield FetchedRecord(
                    kind="releases",
                    scope=sync.scope,
                    record_id=version,
                    updated_at=activity,
                    payload=release,
                    request=page.url,
                )
                if release.get("version") and self._newer_than_cursor(sync, activity):
                    changed.append(version)
        for version in changed:
            deploys_url = (
                f"/api/0/organizations/{self.organization}/releases/{quote(version, safe='')}"
                "/deploys/"
            )
            pages = self.client.paginate_cursor(
                deploys_url, params={"per_page": MAX_PAGE_SIZE}, next_cursor=next_cursor
            )
            try:
                for page in pages:
                    for deploy in page.data:
                        yield FetchedRecord(
                            kind="deploys",
                            scope=sync.scope,
                            record_id=f"{version}/deploys/{deploy.get('id')}",
                            updated_at=deploy.get("dateFinished") or deploy.get("dateStarted"),
                            payload=deploy,
                            request=page.url,
                        )
            except ApiError as error:
                if error.status_code != 404:  # a release deleted since it was listed
                    raise
