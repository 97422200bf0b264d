"""What every tool resource shares: where the tool is, how to authenticate, how patient to be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from flowsync_pipelines.settings import SourceConfig
from resources.http import HttpClient, RequestStats, breaker_for


def secret(env_name: str | None) -> Any:
    """A token read from the named env var at run time (``dg.EnvVar``); empty when unnamed."""
    return dg.EnvVar(env_name) if env_name else ""


class ToolResource(dg.ConfigurableResource):
    """Base of every tool resource; subclasses add scopes and build their connector."""

    base_url: str
    token: str = Field(default="", description="API token; pass as dg.EnvVar, never inline.")
    page_size: int = 100
    timeout_s: float = 30.0
    max_attempts: int = 6
    max_concurrency: int = 4
    backoff_base_s: float = 0.5
    source_name: str = Field(
        default="",
        description="The source's name in flowsync.yaml: its circuit breaker is its own "
        "(default: the tool type).",
    )

    @classmethod
    def common_fields(cls, source: SourceConfig) -> dict[str, Any]:
        """The fields every tool takes from its flowsync.yaml entry."""
        return {
            "token": secret(source.token_env),
            "page_size": source.page_size,
            "timeout_s": source.timeout_s,
            "max_attempts": source.max_attempts,
            "max_concurrency": source.max_concurrency,
            "source_name": source.name,
        }

    def http_client(
        self, source: str, *, headers: Mapping[str, str], stats: RequestStats
    ) -> HttpClient:
        return HttpClient(
            self.base_url,
            headers=headers,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            max_concurrency=self.max_concurrency,
            backoff_base_s=self.backoff_base_s,
            stats=stats,
            breaker=breaker_for(self.source_name or source),
        )
