"""PagerDuty: incidents and their log entries (REST API v2), V3 webhooks, ``incident`` entities
beside Sentry's.

The connector (:mod:`.connector`) and its Dagster resource (:mod:`.resource`), the normalisers of
polled records and webhook deliveries (:mod:`.normalise`) and the webhook dialect
(:mod:`.webhooks`) are loaded by name from the spec below, so settings can import this package
without pulling them in.
"""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.sources.spec import (
    AccountKeys,
    RecordIdentity,
    ScopeModel,
    SourceSpec,
    register,
)


class PagerDutyScopes(ScopeModel):
    """The PagerDuty services whose incidents are read.

    ``services`` are service ids (``PF9KMXH``, as in the service's URL). Each service is one
    scope with its own cursor; none means every service of the account, as one scope. An
    incident's team is the team whose repository is named like its service (``payments-api``),
    as for Sentry projects.
    """

    services: list[str] = Field(default_factory=list)


INCIDENTS = RecordIdentity(
    "{id}", items_key="incidents", fields=lambda item, _scope: {"id": item["id"]}
)
LOG_ENTRIES = RecordIdentity(
    "{incident}/log_entries/{id}",
    items_key="log_entries",
    fields=lambda item, _scope: {"incident": item["incident"]["id"], "id": item["id"]},
)

SPEC = register(
    SourceSpec(
        type="pagerduty",
        title="PagerDuty",
        scopes=PagerDutyScopes,
        resource="flowsync_pipelines.sources.pagerduty.resource:PagerDutyResource",
        normalisers="flowsync_pipelines.sources.pagerduty.normalise",
        polled={"incidents": "incidents", "log_entries": "log_entries"},
        provider="flowsync_pipelines.sources.pagerduty.webhooks:PROVIDER",
        account_keys=AccountKeys(nulled=frozenset({"email"}), names=frozenset({"summary"})),
        records={"incidents": INCIDENTS, "log_entries": LOG_ENTRIES},
    )
)
