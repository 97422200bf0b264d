"""Figma REST shapes (``GET /v1/files/:key/comments``) rendered as of an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import iso_ms_z, iso_z
from .ids import uuid_from
from .model import FigmaComment, Timeline
from .org import Organisation


class FigmaRenderer:
    def __init__(self, org: Organisation, timeline: Timeline, seed: int) -> None:
        self.org = org
        self.seed = seed
        self.files = sorted(timeline.figma_files, key=lambda f: f.key)
        self.comments: dict[str, list[FigmaComment]] = {f.key: [] for f in self.files}
        for comment in timeline.figma_comments:
            self.comments[comment.file_key].append(comment)
        for comments in self.comments.values():
            comments.sort(key=lambda c: int(c.id))
        self.end = max((c.at for c in timeline.figma_comments), default=None)

    def user(self, person_id: str) -> dict[str, Any]:
        person = self.org.person(person_id)
        return {
            "id": person.accounts["figma"],
            # Figma's handle is the display name people chose, not a username.
            "handle": person.name,
            "img_url": "https://s3-alpha.figma.com/profile/"
            + uuid_from(self.seed, "figma-img", person_id),
        }

    def list_files(self) -> list[dict[str, Any]]:
        """``GET /v1/projects/:id/files`` items, by key."""
        out = []
        for f in self.files:
            times = [c.at for c in self.comments[f.key]] or [f.created_at]
            out.append(
                {
                    "key": f.key,
                    "name": f.name,
                    "thumbnail_url": f.thumbnail_url,
                    "last_modified": iso_z(max(times)),
                }
            )
        return out

    def list_comments(self, file_key: str, as_of: datetime) -> list[dict[str, Any]]:
        out = []
        for comment in self.comments.get(file_key, []):
            if comment.at > as_of:
                continue
            resolved = comment.resolved_at is not None and comment.resolved_at <= as_of
            out.append(
                {
                    "id": comment.id,
                    "file_key": comment.file_key,
                    "parent_id": comment.parent_id,
                    "user": self.user(comment.author),
                    "created_at": iso_ms_z(comment.at),
                    "resolved_at": iso_ms_z(comment.resolved_at)
                    if resolved and comment.resolved_at
                    else None,
                    "message": comment.message,
                    "client_meta": comment.client_meta,
                    "order_id": comment.order_id,
                    "reactions": [],
                }
            )
        return out
