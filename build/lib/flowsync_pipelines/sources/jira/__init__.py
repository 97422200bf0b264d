"""Jira Cloud: REST connector (issues, board sprints and epics), normalisers, webhooks."""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.sources.jira.records import RECORDS
from flowsync_pipelines.sources.spec import AccountKeys, ScopeModel, SourceSpec, register


class JiraScopes(ScopeModel):
    projects: list[str] = Field(default_factory=list)  # project keys


SPEC = register(
    SourceSpec(
        type="jira",
        title="Jira",
        scopes=JiraScopes,
        resource="resources.jira:JiraResource",
        normalisers="flowsync_pipelines.normalise.jira",
        polled={"issues": "issues", "sprints": "sprints", "epics": "epics"},
        provider="flowsync_pipelines.sources.jira.webhooks:PROVIDER",
        member_handle="jira",
        account_keys=AccountKeys(
            nulled=frozenset({"accountId", "emailAddress"}), names=frozenset({"displayName"})
        ),
        records=RECORDS,
        scheduled_kinds=frozenset({"sprints"}),
    )
)
