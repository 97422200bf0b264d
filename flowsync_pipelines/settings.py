"""Where FlowSync keeps its files and what ``flowsync.yaml`` may say.

``FLOWSYNC_HOME`` (default ``./data``) holds every store the pipeline writes; ``FLOWSYNC_CONFIG``
names the YAML file that lists sources, teams and digest subscriptions. Secrets never appear in the
YAML: a source names the *environment variable* that holds its token.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SourceType = Literal[
    "github", "gitlab", "jira", "linear", "jenkins", "circleci", "sentry", "figma", "git"
]
# How a source's records reach FlowSync: polled by its connector, pushed by its webhooks, or both.
Receive = Literal["poll", "webhooks", "both"]
RECEIVE_MODES: tuple[Receive, ...] = ("poll", "webhooks", "both")
Channel = Literal["markdown", "slack", "email"]
Role = Literal["engineer", "engineering_manager", "product_manager", "executive"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """One tool FlowSync reads.

    ``receive`` says how its records arrive: ``poll`` (a ``<name>_landing`` asset syncs them from
    the API; the default without ``webhook_secret_env``), ``webhooks`` (only the webhook gateway
    receives them: no landing asset, no resource, no token, ``daily_refresh`` does not poll it) or
    ``both`` (the default with ``webhook_secret_env``).
    """

    name: str
    type: SourceType
    receive: Receive = "poll"  # filled in from webhook_secret_env when not given; see above
    base_url: str = ""
    token_env: str | None = None
    webhook_secret_env: str | None = None  # env var holding the webhook secret; None = no webhooks
    # e.g. {repos: [owner/name]}, {projects: [KEY]}, {projects: [{id: 7, path: group/name}]}
    scopes: dict[str, Any] = Field(default_factory=dict)
    board_id: int | None = None
    page_size: int = 100
    timeout_s: float = 30.0
    max_attempts: int = 6
    max_concurrency: int = 4

    @model_validator(mode="before")
    @classmethod
    def _default_receive(cls, data: Any) -> Any:
        """``receive`` defaults to ``both`` with a webhook secret and ``poll`` without one."""
        if not isinstance(data, dict):
            return data
        name = data.get("name", "?")
        receive = data.get("receive")
        if receive is None:
            return {**data, "receive": "both" if data.get("webhook_secret_env") else "poll"}
        if receive not in RECEIVE_MODES:
            raise ValueError(
                f"source {name!r}: receive must be one of {', '.join(RECEIVE_MODES)}, "
                f"not {receive!r}"
            )
        return data

    @model_validator(mode="after")
    def _receive_is_consistent(self) -> SourceConfig:
        problems = []
        if self.receive in ("webhooks", "both") and not self.webhook_secret_env:
            problems.append(
                f"receive: {self.receive} needs webhook_secret_env, the name of the env var "
                "holding the webhook secret the tool signs its deliveries with"
            )
        if self.receive == "poll" and self.webhook_secret_env:
            problems.append(
                "receive: poll but webhook_secret_env is set; say receive: both to poll and "
                "receive webhooks, or remove webhook_secret_env"
            )
        if self.receives_webhooks:
            # Imported here: the providers module reads SourceConfig from this one.
            from flowsync_pipelines.webhooks.providers import PROVIDERS_BY_SOURCE

            if self.type not in PROVIDERS_BY_SOURCE:
                problems.append(
                    f"type {self.type!r} sends no webhooks FlowSync can receive "
                    f"(those that do: {', '.join(sorted(PROVIDERS_BY_SOURCE))}); "
                    "say receive: poll"
                )
        if problems:
            raise ValueError(f"source {self.name!r}: " + "; ".join(problems))
        return self

    @property
    def polls(self) -> bool:
        """Whether a landing asset syncs this source from its API."""
        return self.receive in ("poll", "both")

    @property
    def receives_webhooks(self) -> bool:
        """Whether the webhook gateway accepts this source's deliveries."""
        return self.receive in ("webhooks", "both")


class Member(_Strict):
    """A team member as an admin types them: per-tool handles (all optional)."""

    name: str
    email: str | None = None
    github: str | None = None
    gitlab: str | None = None
    jira: str | None = None
    linear: str | None = None
    figma: str | None = None
    sentry: str | None = None


class TeamConfig(_Strict):
    key: str
    name: str
    timezone: str = "UTC"
    repos: list[str] = Field(default_factory=list)
    jira_components: list[str] = Field(default_factory=list)
    linear_teams: list[str] = Field(default_factory=list)
    members: list[Member] = Field(default_factory=list)


class DigestSubscription(_Strict):
    team: str
    role: Role = "engineering_manager"
    channels: list[Channel] = Field(default_factory=lambda: ["markdown"])
    slack_channel: str | None = None
    email_to: list[str] = Field(default_factory=list)
    send_at: str = "09:00"
    # The least confident band shown: Low ("possibly") statements only when this says "low".
    min_band: Literal["high", "medium", "low"] = "medium"


class FlowSyncConfig(_Strict):
    organisation: str = "example"
    start_date: date = date(2026, 1, 1)
    sources: list[SourceConfig] = Field(default_factory=list)
    teams: list[TeamConfig] = Field(default_factory=list)
    digests: list[DigestSubscription] = Field(default_factory=list)

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)


def flowsync_home() -> Path:
    """The directory that holds every FlowSync store (``FLOWSYNC_HOME``, default ``./data``)."""
    return Path(os.environ.get("FLOWSYNC_HOME", "data")).resolve()


def config_path() -> Path:
    """The ``flowsync.yaml`` in use: ``FLOWSYNC_CONFIG``, else ``$FLOWSYNC_HOME/flowsync.yaml``."""
    explicit = os.environ.get("FLOWSYNC_CONFIG")
    return Path(explicit).resolve() if explicit else flowsync_home() / "flowsync.yaml"


def load_config(path: Path | None = None) -> FlowSyncConfig:
    """Read and validate ``flowsync.yaml``; a missing file means an empty configuration."""
    path = path or config_path()
    if not path.exists():
        return FlowSyncConfig()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        return FlowSyncConfig.model_validate(raw)
    except ValidationError as err:
        raise ValueError(f"{path} is not a valid FlowSync configuration:\n{err}") from err


class Paths(BaseModel):
    """The files under ``FLOWSYNC_HOME``."""

    home: Path

    @property
    def duckdb(self) -> Path:
        return self.home / "flowsync.duckdb"

    @property
    def metadata(self) -> Path:
        return self.home / "metadata.sqlite"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"
