"""Plain git: the history of local checkouts (no API, no webhooks)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from flowsync_pipelines.sources.git.records import RECORDS
from flowsync_pipelines.sources.spec import ScopeModel, SourceSpec, one_value, register


class GitScopes(ScopeModel):
    paths: list[str] = Field(default_factory=list)  # local checkouts
    rev: str = "HEAD"  # the revision whose history is read

    @model_validator(mode="before")
    @classmethod
    def _one_rev(cls, data: Any) -> Any:
        if isinstance(data, dict) and "rev" in data:
            return {**data, "rev": one_value(data["rev"], "rev")}
        return data


SPEC = register(
    SourceSpec(
        type="git",
        title="git",
        scopes=GitScopes,
        resource="resources.git:GitResource",
        normalisers="flowsync_pipelines.normalise.generic",
        polled={"commits": "git_commits"},
        records=RECORDS,
    )
)
