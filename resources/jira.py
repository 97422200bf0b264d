"""Jira Cloud connector: issues by JQL ``updated >= cursor`` with their full changelog."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from resources.http import HttpClient, RequestStats
from resources.tool import ToolResource


class JiraResource(ToolResource):
    """Reads issues of the configured projects, incrementally by ``updated``."""

    base_url: str = Field(description="https://<site>.atlassian.net")
    email: str = Field(default="", description="Account email for basic auth; empty = bearer")
    projects: list[str] = Field(default_factory=list)

    @classmethod
    def from_source(cls, source: SourceConfig) -> JiraResource:
        fields = cls.common_fields(source)
        fields["page_size"] = min(source.page_size, 100)  # Jira caps maxResults at 100
        return cls(
            base_url=source.base_url,
            projects=[str(p) for p in source.scopes.get("projects", [])],
            **fields,
        )

    def connector(self, stats: RequestStats) -> JiraConnector:
        if self.email:
            basic = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            auth = f"Basic {basic}"
        else:
            auth = f"Bearer {self.token}"
        client = self.http_client("jira", headers={"Authorization": auth}, stats=stats)
        return JiraConnector(client, projects=self.projects, page_size=self.page_size)


class JiraConnector:
    source = "jira"

    def __init__(self, client: HttpClient, *, projects: list[str], page_size: int) -> None:
        self.client = client
        self.projects = projects
        self.page_size = page_size

    def endpoints(self) -> list[tuple[str, str]]:
        return [(project, "issues") for project in self.projects]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Issues updated since the cursor, oldest first, each with its complete changelog.

        JQL compares at minute precision in the site's time zone; the overlap window in
        :mod:`flowsync_pipelines.ingest` covers both, and landing drops the re-read versions.
        """
        since = sync.since()
        jql = f'project = "{sync.scope}"'
        if since is not None:
            jql += f' AND updated >= "{since.astimezone(UTC):%Y-%m-%d %H:%M}"'
        jql += " ORDER BY updated ASC"
        pages = self.client.paginate_offset(
            "/rest/api/3/search",
            items_key="issues",
            params={"jql": jql, "expand": "changelog", "fields": "*all"},
            page_size=self.page_size,
        )
        for page in pages:
            for issue in page.data.get("issues", []):
                self._complete_changelog(issue)
                updated = (issue.get("fields") or {}).get("updated")
                sync.observe(updated)
                yield FetchedRecord(
                    kind="issues",
                    scope=sync.scope,
                    record_id=str(issue.get("key") or issue.get("id")),
                    updated_at=updated,
                    payload=issue,
                    request=page.url,
                )

    def _complete_changelog(self, issue: dict) -> None:
        """Search embeds at most one page of changelog; fetch the rest so history is whole."""
        changelog = issue.get("changelog") or {}
        histories = changelog.get("histories") or []
        total = changelog.get("total")
        if total is None or len(histories) >= int(total) or not issue.get("key"):
            return
        complete: list[dict] = []
        for page in self.client.paginate_offset(
            f"/rest/api/3/issue/{issue['key']}/changelog", items_key="values", page_size=100
        ):
            complete.extend(page.data.get("values", []))
        changelog["histories"] = complete
        changelog["maxResults"] = changelog["total"] = len(complete)
