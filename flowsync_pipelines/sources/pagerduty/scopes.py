"""What a ``type: pagerduty`` source may say under ``scopes`` in flowsync.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PagerDutyScopes(BaseModel):
    """The PagerDuty services whose incidents are read.

    ``services`` are service ids (``PF9KMXH``, as in the service's URL). Each service is one
    scope with its own cursor; none means every service of the account, as one scope. An
    incident's team is the team whose repository is named like its service (``payments-api``),
    as for Sentry projects.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: list[str] = Field(default_factory=list)
