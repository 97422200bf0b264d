"""Jira Cloud connector: issues by JQL ``updated >= cursor`` with their full changelog, and the
configured board's sprints and epics from the Agile API.

Endpoints: ``GET /rest/api/3/search/jql`` (enhanced search, ``nextPageToken`` paging),
``GET /rest/api/3/issue/{key}/changelog`` (``startAt`` paging) for histories beyond the page
search embeds, and ``GET /rest/agile/1.0/board/{id}/sprint|epic``.

Deletions: Jira Cloud's search only returns issues that exist, and says nothing about issues
deleted since the last sync; nor do the Agile lists. So this connector lands no tombstones.
Deletions reach FlowSync only through the webhook gateway, from ``jira:issue_deleted`` events.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.jira import JiraScopes
from flowsync_pipelines.sources.jira import records as ids
from resources.http import HttpClient, Page, RequestStats
from resources.tool import ToolResource

AGILE_MAX_RESULTS = 50  # Jira Software caps Agile list pages at 50
SEARCH_URL = "/rest/api/3/search/jql"  # the enhanced search; "/rest/api/3/search" answers 410
# Every field: the landed issue is the whole issue, as the normalisers and the webhook path see it.
SEARCH_FIELDS = "*all"
SEARCH_MAX_RESULTS = 100  # the enhanced search's page cap when fields are asked for (5000 for ids)


class JiraResource(ToolResource):
    """Reads issues of the configured projects, incrementally by ``updated``, and the board's
    sprints and epics."""

    base_url: str = Field(description="https://<site>.atlassian.net")
    email: str = Field(default="", description="Account email for basic auth; empty = bearer")
    projects: list[str] = Field(default_factory=list)
    board_id: int | None = Field(default=None, description="Agile board of sprints and epics")

    @classmethod
    def from_source(cls, source: SourceConfig) -> JiraResource:
        fields = cls.common_fields(source)
        fields["page_size"] = min(source.page_size, SEARCH_MAX_RESULTS)
        return cls(
            base_url=source.base_url,
            projects=list(source.scopes_of(JiraScopes).projects),
            board_id=source.board_id,
            **fields,
        )

    def connector(self, stats: RequestStats) -> JiraConnector:
        if self.email:
            basic = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            auth = f"Basic {basic}"
        else:
            auth = f"Bearer {self.token}"
        client = self.http_client("jira", headers={"Authorization": auth}, stats=stats)
        return JiraConnector(
            client, projects=self.projects, page_size=self.page_size, board_id=self.board_id
        )


def _next_page_token(page: Page) -> str | None:
    """The enhanced search's continuation: none on the last page.

    ``isLast`` says so; the last page also omits the token (rather than sending null, as the
    reference says), so a missing token ends the search too.
    """
    if page.data.get("isLast") is True:
        return None
    token = page.data.get("nextPageToken")
    return str(token) if token else None


def board_scope(board_id: int) -> str:
    """The scope (cursor key and landing scope) of one Agile board's lists."""
    return f"board-{board_id}"


class JiraConnector:
    source = "jira"

    def __init__(
        self,
        client: HttpClient,
        *,
        projects: list[str],
        page_size: int,
        board_id: int | None = None,
    ) -> None:
        self.client = client
        self.projects = projects
        self.page_size = page_size
        self.board_id = board_id

    def endpoints(self) -> list[tuple[str, str]]:
        """Issues per project; sprints and epics per board, when the source names one.

        The board is the scope of its lists because sprints and epics belong to a board, not
        to a project: one board may span several projects.
        """
        pairs = [(project, "issues") for project in self.projects]
        if self.board_id is not None:
            scope = board_scope(self.board_id)
            pairs += [(scope, "sprints"), (scope, "epics")]
        return pairs

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Records of ``sync.endpoint`` in ``sync.scope`` changed since the cursor."""
        readers = {"issues": self._issues, "sprints": self._sprints, "epics": self._epics}
        return readers[sync.endpoint](sync)

    # -- issues ---------------------------------------------------------------------------------
    def _issues(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Issues updated since the cursor, oldest first, each with its complete changelog.

        Reads Jira Cloud's enhanced search, ``/rest/api/3/search/jql`` (the old ``/search`` was
        removed in 2025 and answers 410). It pages with an opaque ``nextPageToken`` until
        ``isLast``, has no ``total``, and returns bare issue ids unless ``fields`` are named, so
        every request asks for ``*all`` fields and ``expand=changelog``.

        JQL compares at minute precision in the site's time zone, and the search index is
        eventually consistent: an issue changed seconds before the search may be missing from
        its pages while later ones are not. The overlap window in
        :mod:`flowsync_pipelines.ingest` covers all three: the next sync asks again from the
        cursor minus ten minutes, so an issue the index had not caught up with is read then, and
        landing drops the re-read versions it already holds.
        """
        since = sync.since()
        jql = f'project = "{sync.scope}"'
        if since is not None:
            jql += f' AND updated >= "{since.astimezone(UTC):%Y-%m-%d %H:%M}"'
        jql += " ORDER BY updated ASC"
        pages = self.client.paginate_cursor(
            SEARCH_URL,
            params={
                "jql": jql,
                "fields": SEARCH_FIELDS,
                "expand": "changelog",
                "maxResults": min(self.page_size, SEARCH_MAX_RESULTS),
            },
            next_cursor=_next_page_token,
            cursor_param="nextPageToken",
        )
        for page in pages:
            for issue in page.data.get("issues") or []:
                self._complete_changelog(issue)
                updated = (issue.get("fields") or {}).get("updated")
                sync.observe(updated)
                yield FetchedRecord(
                    kind="issues",
                    scope=sync.scope,
                    record_id=ids.ISSUES(key=issue.get("key") or issue.get("id")),
                    updated_at=updated,
                    payload=issue,
                    request=page.url,
                )

    def _complete_changelog(self, issue: dict) -> None:
        """Search embeds one page of histories (at most 100); page through the rest.

        ``/issue/{key}/changelog`` is the only way to the remainder: one paged call per issue
        with a long history is the floor the API sets. The embedded page is replaced whole, so
        the landed issue holds every history exactly once, oldest first.
        """
        changelog = issue.get("changelog") or {}
        histories = changelog.get("histories") or []
        total = changelog.get("total")
        if total is None or len(histories) >= int(total) or not issue.get("key"):
            return
        complete: list[dict] = []
        for page in self.client.paginate_offset(
            f"/rest/api/3/issue/{issue['key']}/changelog",
            items_key="values",
            page_size=min(self.page_size, 100),
        ):
            complete.extend(page.data.get("values", []))
        changelog["histories"] = complete
        changelog["maxResults"] = changelog["total"] = len(complete)

    # -- board sprints and epics ----------------------------------------------------------------
    def _sprints(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Every sprint of the board, each sync.

        A sprint has no update time and the list no filter but ``state``, while any sprint can
        change (started, completed, renamed, goal edited). Boards hold tens of sprints, so the
        whole list is read and landing keeps only the versions it has not seen.
        """
        url = f"/rest/agile/1.0/board/{self.board_id}/sprint"
        for page in self._agile_pages(url):
            for sprint in page.data.get("values") or []:
                yield FetchedRecord(
                    kind="sprints",
                    scope=sync.scope,
                    record_id=ids.SPRINTS(id=sprint.get("id")),
                    updated_at=None,
                    payload=sprint,
                    request=page.url,
                )

    def _epics(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Every epic of the board (key, name, colour, done), each sync.

        Epics are also issues (type Epic) and arrive with their fields and changelog through
        search; the board list adds what only the Agile API has, the ``done`` flag and colour.
        It has no update time and no filter but ``done``, so it is read whole, like sprints.
        """
        url = f"/rest/agile/1.0/board/{self.board_id}/epic"
        for page in self._agile_pages(url):
            for epic in page.data.get("values") or []:
                yield FetchedRecord(
                    kind="epics",
                    scope=sync.scope,
                    record_id=ids.EPICS(key=epic.get("key") or epic.get("id")),
                    updated_at=None,
                    payload=epic,
                    request=page.url,
                )

    def _agile_pages(self, url: str) -> Iterator[Page]:
        """Follow Agile paging: ``startAt`` advances by what came back until ``isLast``.

        ``total`` is absent from some Agile lists, and a page may hold fewer than asked for
        (the server caps ``maxResults``), so neither decides where the list ends.
        """
        start_at = 0
        page_size = min(self.page_size, AGILE_MAX_RESULTS)
        while True:
            page = self.client.get(url, params={"startAt": start_at, "maxResults": page_size})
            if page is None:
                return
            yield page
            values = page.data.get("values") or []
            start_at = int(page.data.get("startAt", start_at)) + len(values)
            if page.data.get("isLast", not values) or not values:
                return
