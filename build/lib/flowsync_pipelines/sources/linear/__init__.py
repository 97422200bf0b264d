"""Linear: GraphQL connector (issues, comments, cycles, projects), normalisers, webhooks."""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.sources.spec import AccountKeys, ScopeModel, SourceSpec, register


class LinearScopes(ScopeModel):
    teams: list[str] = Field(default_factory=list)  # team keys


SPEC = register(
    SourceSpec(
        type="linear",
        title="Linear",
        scopes=LinearScopes,
        resource="resources.linear:LinearResource",
        normalisers="flowsync_pipelines.normalise.linear",
        polled={
            "issues": "issues",
            "comments": "comments",
            "cycles": "cycles",
            "projects": "projects",
        },
        provider="flowsync_pipelines.sources.linear.webhooks:PROVIDER",
        member_handle="linear",
        account_keys=AccountKeys(
            nulled=frozenset({"email"}), names=frozenset({"name", "displayName"})
        ),
        web_base_url="https://linear.app",
        scheduled_kinds=frozenset({"cycles"}),
        tombstones={
            "cycles": ("sprint", "sprint/{id}"),
            "projects": ("project", "project/{id}"),
        },
    )
)
