"""CircleCI: API v2 connector (pipelines, workflows, jobs), normalisers, webhooks."""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.sources.spec import ScopeModel, SourceSpec, register


class CircleCIScopes(ScopeModel):
    projects: list[str] = Field(default_factory=list)  # project slugs, e.g. gh/acme/api


SPEC = register(
    SourceSpec(
        type="circleci",
        title="CircleCI",
        scopes=CircleCIScopes,
        resource="resources.circleci:CircleCIResource",
        normalisers="flowsync_pipelines.normalise.circleci",
        polled={"pipelines": "pipelines", "workflows": "workflows", "jobs": "jobs"},
        provider="flowsync_pipelines.sources.circleci.webhooks:PROVIDER",
        web_base_url="https://app.circleci.com",
    )
)
