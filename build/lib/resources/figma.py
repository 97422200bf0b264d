"""Figma connector: the comments of the configured design files, ``#flowsync`` ones in full.

Design comments are often chatter that has nothing to do with delivery. Only comments tagged
``#flowsync`` (the team's convention for "this concerns a ticket") are landed with their text;
the others are counted and landed as their id alone, so that their existence is known without
storing what people wrote.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync
from flowsync_pipelines.landing import FetchedRecord, tombstone
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.figma import FigmaScopes
from resources.http import HttpClient, RequestStats
from resources.tool import ToolResource

TAG = re.compile(r"(?<![\w#])#flowsync(?![\w-])", re.IGNORECASE)
UNTAGGED_COUNTER = "untagged_comments"


def is_tagged(comment: dict[str, Any]) -> bool:
    """Whether a comment's own message carries the ``#flowsync`` tag (replies do not inherit)."""
    message = comment.get("message")
    return isinstance(message, str) and TAG.search(message) is not None


class FigmaResource(ToolResource):
    """Reads the comments of the configured Figma files."""

    base_url: str = "https://api.figma.com"
    files: list[str] = Field(default_factory=list, description="File keys (from the file URL)")

    @classmethod
    def from_source(cls, source: SourceConfig) -> FigmaResource:
        return cls(
            base_url=source.base_url or "https://api.figma.com",
            files=list(source.scopes_of(FigmaScopes).files),
            **cls.common_fields(source),
        )

    def connector(self, stats: RequestStats) -> FigmaConnector:
        client = self.http_client("figma", headers={"X-Figma-Token": self.token}, stats=stats)
        return FigmaConnector(client, files=self.files)


class FigmaConnector:
    source = "figma"

    def __init__(self, client: HttpClient, *, files: list[str]) -> None:
        self.client = client
        self.files = files
        # Untagged comments seen per file in this sync; the total also goes to the run metadata.
        self.untagged: dict[str, int] = {}

    def endpoints(self) -> list[tuple[str, str]]:
        return [(file_key, "comments") for file_key in self.files]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Every comment of one file: the API has no filter or paging, so one request reads all.

        Landing keeps only versions not seen before, so an unchanged file lands nothing. A
        comment the API reports deleted (``deleted_at``) lands as a tombstone and nothing else.
        """
        page = self.client.get(f"/v1/files/{sync.scope}/comments")
        if page is None:
            return
        untagged = 0
        for comment in page.data.get("comments") or []:
            comment_id = str(comment.get("id"))
            if comment.get("deleted_at"):
                yield tombstone(
                    "comments",
                    sync.scope,
                    comment_id,
                    deleted_at=comment["deleted_at"],
                    reason="deleted",
                    request=page.url,
                )
                continue
            if not is_tagged(comment):
                untagged += 1
                yield FetchedRecord(
                    kind="comments",
                    scope=sync.scope,
                    record_id=comment_id,
                    updated_at=None,  # the id alone: not even when its author wrote
                    payload={"id": comment_id, "untagged": True},
                    request=page.url,
                )
                continue
            activity = comment.get("resolved_at") or comment.get("created_at")
            # Informative only (comments cannot be filtered by time); a malformed stamp lands as
            # is, for normalisation to quarantine.
            with contextlib.suppress(TypeError, ValueError):
                sync.observe(activity)
            yield FetchedRecord(
                kind="comments",
                scope=sync.scope,
                record_id=comment_id,
                updated_at=activity,
                payload=comment,
                request=page.url,
            )
        self.untagged[sync.scope] = untagged
        self.client.stats.count(UNTAGGED_COUNTER, untagged)
