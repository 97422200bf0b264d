"""The PagerDuty Dagster resource: where the account is, the API key, which services."""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.pagerduty import PagerDutyScopes
from flowsync_pipelines.sources.pagerduty.connector import (
    ACCEPT,
    DEFAULT_BASE_URL,
    MAX_LIMIT,
    SOURCE,
    PagerDutyConnector,
)
from resources.http import RequestStats
from resources.tool import ToolResource


class PagerDutyResource(ToolResource):
    """Reads the incidents, and their log entries, of the configured PagerDuty services."""

    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="REST API host: https://api.pagerduty.com (EU too)"
    )
    services: list[str] = Field(
        default_factory=list, description="Service ids (PF9KMXH); none: every service"
    )

    @classmethod
    def from_source(cls, source: SourceConfig) -> PagerDutyResource:
        fields = cls.common_fields(source)
        fields["page_size"] = min(source.page_size, MAX_LIMIT)
        return cls(
            base_url=source.base_url or DEFAULT_BASE_URL,
            services=list(source.scopes_of(PagerDutyScopes).services),
            **fields,
        )

    def connector(self, stats: RequestStats) -> PagerDutyConnector:
        # A REST API key (account or user) travels as ``Token token=<key>``, not as a bearer.
        headers = {"Authorization": f"Token token={self.token}", "Accept": ACCEPT}
        client = self.http_client(SOURCE, headers=headers, stats=stats)
        return PagerDutyConnector(client, services=self.services, page_size=self.page_size)
