"""GitHub REST connector (github.com or GitHub Enterprise via ``base_url``)."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync, utc_iso
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from resources.http import HttpClient, RequestStats
from resources.tool import ToolResource


class GitHubResource(ToolResource):
    """Reads pull requests and their reviews, incrementally by ``updated_at``."""

    base_url: str = "https://api.github.com"
    repos: list[str] = Field(default_factory=list, description="owner/name of each repository")

    @classmethod
    def from_source(cls, source: SourceConfig) -> GitHubResource:
        return cls(
            base_url=source.base_url or "https://api.github.com",
            repos=[str(r) for r in source.scopes.get("repos", [])],
            **cls.common_fields(source),
        )

    def connector(self, stats: RequestStats) -> GitHubConnector:
        client = self.http_client(
            "github",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            stats=stats,
        )
        return GitHubConnector(client, repos=self.repos, page_size=self.page_size)


class GitHubConnector:
    source = "github"

    def __init__(self, client: HttpClient, *, repos: list[str], page_size: int) -> None:
        self.client = client
        self.repos = repos
        self.page_size = page_size

    def endpoints(self) -> list[tuple[str, str]]:
        return [(repo, "pulls") for repo in self.repos]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Pull requests updated since the cursor, newest first, and the reviews of each.

        The pulls list has no ``since`` filter, so it is read sorted by ``updated`` descending
        and paging stops at the first item older than the cursor. Reviews have no list across a
        repository: one request per changed pull request is the floor the API sets.
        """
        repo = sync.scope
        since = sync.since()
        url = f"/repos/{repo}/pulls"
        params = {
            "state": "all",
            "sort": "updated",
            "direction": "desc",
            "per_page": self.page_size,
        }
        changed: list[int] = []
        first = True
        for page in self.client.paginate_link(url, params=params, first_page_etag=sync.etag_before):
            if first:
                sync.etag_after, first = page.etag, False
            older_seen = False
            for pull in page.data:
                updated = pull.get("updated_at")
                if since is not None and updated and utc_iso(updated) < since.isoformat():
                    older_seen = True
                    break
                sync.observe(updated)
                changed.append(pull.get("number"))
                yield FetchedRecord(
                    kind="pulls",
                    scope=repo,
                    record_id=f"{repo}#{pull.get('number', pull.get('id'))}",
                    updated_at=updated,
                    payload=pull,
                    request=page.url,
                )
            if older_seen:
                break
        for number in changed:
            if not isinstance(number, int):
                continue  # a malformed pull request; it is quarantined downstream
            reviews_url = f"/repos/{repo}/pulls/{number}/reviews"
            for page in self.client.paginate_link(reviews_url, params={"per_page": 100}):
                for review in page.data:
                    yield FetchedRecord(
                        kind="reviews",
                        scope=repo,
                        record_id=f"{repo}#{number}/reviews/{review.get('id')}",
                        updated_at=review.get("submitted_at"),
                        payload=review,
                        request=page.url,
                    )
