"""GitLab (gitlab.com or self-managed): REST connector, normalisers, webhooks."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from flowsync_pipelines.sources.gitlab.records import RECORDS
from flowsync_pipelines.sources.spec import AccountKeys, ScopeModel, SourceSpec, register


class GitLabProject(ScopeModel):
    id: int | None = None  # requests by id survive renames
    path: str  # group/name

    @model_validator(mode="before")
    @classmethod
    def _has_path(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("path"):
            raise ValueError(
                f"project entry {data!r} has no 'path'. Give each project as 'group/name' or "
                "{id: <number>, path: 'group/name'}."
            )
        return data


class GitLabScopes(ScopeModel):
    projects: list[str | GitLabProject] = Field(default_factory=list)


SPEC = register(
    SourceSpec(
        type="gitlab",
        title="GitLab",
        scopes=GitLabScopes,
        resource="resources.gitlab:GitLabResource",
        normalisers="flowsync_pipelines.normalise.gitlab",
        polled={
            "merge_requests": "merge_requests",
            "approvals": "approvals",
            "notes": "notes",
            "pipelines": "pipelines",
            "jobs": "jobs",
            "deployments": "deployments",
            "issues": "issues",
            "commits": "commits",
        },
        provider="flowsync_pipelines.sources.gitlab.webhooks:PROVIDER",
        member_handle="gitlab",
        handle_kind="login",
        account_keys=AccountKeys(
            ghosted=frozenset({"username"}),
            nulled=frozenset({"email"}),
            names=frozenset({"name"}),
            details=frozenset({"id", "avatar_url"}),
        ),
        records=RECORDS,
        web_base_url="https://gitlab.com",
        tombstones={
            "merge_requests": ("pull_request", "{id}"),
            "pipelines": ("ci_run", "{id}"),
            "issues": ("ticket", "{id}"),
        },
    )
)
