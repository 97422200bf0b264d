"""Sentry (sentry.io or self-hosted): REST connector, normalisers, webhooks."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from flowsync_pipelines.sources.spec import (
    AccountKeys,
    ScopeModel,
    SourceSpec,
    one_value,
    register,
)


class SentryScopes(ScopeModel):
    # One organization slug; required to poll (a webhook-only source names none).
    organization: str | None = None
    projects: list[str] = Field(default_factory=list)  # project slugs

    @model_validator(mode="before")
    @classmethod
    def _one_organization(cls, data: Any) -> Any:
        if isinstance(data, dict) and "organization" in data:
            return {**data, "organization": one_value(data["organization"], "organization")}
        return data


SPEC = register(
    SourceSpec(
        type="sentry",
        title="Sentry",
        scopes=SentryScopes,
        resource="resources.sentry:SentryResource",
        normalisers="flowsync_pipelines.normalise.sentry",
        polled={
            "issues": "issues",
            "issue_details": "issue_details",
            "latest_events": "latest_events",
            "releases": "releases",
            "deploys": "deploys",
        },
        provider="flowsync_pipelines.sources.sentry.webhooks:PROVIDER",
        member_handle="sentry",
        account_keys=AccountKeys(
            ghosted=frozenset({"username"}),
            nulled=frozenset({"email"}),
            names=frozenset({"name"}),
            details=frozenset({"id"}),
        ),
        web_base_url="https://sentry.io",
    )
)
