"""Jenkins: JSON API connector (builds of the configured jobs), normaliser, webhooks."""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.sources.jenkins.records import RECORDS
from flowsync_pipelines.sources.spec import AccountKeys, ScopeModel, SourceSpec, register


class JenkinsScopes(ScopeModel):
    jobs: list[str] = Field(default_factory=list)


SPEC = register(
    SourceSpec(
        type="jenkins",
        title="Jenkins",
        scopes=JenkinsScopes,
        resource="resources.jenkins:JenkinsResource",
        normalisers="flowsync_pipelines.normalise.jenkins",
        polled={"builds": "builds"},
        provider="flowsync_pipelines.sources.jenkins.webhooks:PROVIDER",
        handle_kind="chosen",  # a Jenkins user id is a name the person chose
        account_keys=AccountKeys(names=frozenset({"fullName"})),
        records=RECORDS,
    )
)
