"""GitHub (github.com or GitHub Enterprise): REST connector, normalisers, webhooks."""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.sources.github.records import RECORDS
from flowsync_pipelines.sources.spec import AccountKeys, ScopeModel, SourceSpec, register


class GitHubScopes(ScopeModel):
    repos: list[str] = Field(default_factory=list)  # owner/name


SPEC = register(
    SourceSpec(
        type="github",
        title="GitHub",
        scopes=GitHubScopes,
        resource="resources.github:GitHubResource",
        normalisers="flowsync_pipelines.normalise.github",
        polled={
            "pulls": "pull_requests",
            "reviews": "reviews",
            "issues": "issues",
            "commits": "commits",
            "check_runs": "check_runs",
            "workflow_runs": "workflow_runs",
            "deployments": "deployments",
            "deployment_statuses": "deployment_statuses",
            "releases": "releases",
        },
        provider="flowsync_pipelines.sources.github.webhooks:PROVIDER",
        member_handle="github",
        handle_kind="login",
        account_keys=AccountKeys(
            ghosted=frozenset({"login"}),
            nulled=frozenset({"email"}),
            names=frozenset({"name"}),
            details=frozenset({"id", "node_id", "avatar_url", "gravatar_id"}),
        ),
        records=RECORDS,
        web_base_url="https://github.com",
    )
)
