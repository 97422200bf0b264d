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
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SourceType = Literal["github", "gitlab", "jira", "linear", "jenkins", "sentry", "figma", "git"]
Channel = Literal["markdown", "slack", "email"]
Role = Literal["engineer", "engineering_manager", "product_manager", "executive"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """One tool FlowSync reads."""

    name: str
    type: SourceType
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
