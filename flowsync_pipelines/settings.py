"""Where FlowSync keeps its files and what ``flowsync.yaml`` may say.

``FLOWSYNC_HOME`` (default ``./data``) holds every store the pipeline writes; ``FLOWSYNC_CONFIG``
names the YAML file that lists sources, teams and digest subscriptions. Secrets never appear in the
YAML: a source names the *environment variable* that holds its token.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date, time
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from flowsync_pipelines.bands import Band
from flowsync_pipelines.env import CONFIG_ENV, HOME_ENV, METADATA_URL_ENV
from flowsync_pipelines.sources.registry import SOURCE_TYPES, SOURCES, member_handle_fields
from flowsync_pipelines.sources.spec import ScopeModel

# How a source's records reach FlowSync: polled by its connector, pushed by its webhooks, or both.
Receive = Literal["poll", "webhooks", "both"]
RECEIVE_MODES: tuple[Receive, ...] = ("poll", "webhooks", "both")
Channel = Literal["markdown", "html", "slack", "email", "teams"]
ScopesT = TypeVar("ScopesT", bound=BaseModel)
Role = Literal["engineer", "engineering_manager", "product_manager", "executive"]
ROLE: Role = "engineering_manager"  # a subscription's role when it names none


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Source types and their typed scopes come from the source registry (sources/<tool>/).
SourceType = Literal[SOURCE_TYPES]  # type: ignore[valid-type]
Scopes = Union[tuple(s.scopes for s in SOURCES.values())]  # type: ignore[valid-type]  # noqa: UP007
# The scopes each source type takes: a key not declared here is an error, never ignored.
SCOPES: dict[str, type[ScopeModel]] = {t: s.scopes for t, s in SOURCES.items()}


class SourceConfig(_Strict):
    """One tool FlowSync reads.

    ``receive`` says how its records arrive: ``poll`` (a ``<name>_landing`` asset syncs them from
    the API; the default without ``webhook_secret_env``), ``webhooks`` (only the webhook gateway
    receives them: no landing asset, no resource, no token, ``daily_refresh`` does not poll it) or
    ``both`` (the default with ``webhook_secret_env``).
    """

    # Names a landing partition, a ``<name>_landing`` asset and a webhook path: a Dagster name,
    # as short as the webhook queue's column.
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=32)
    type: SourceType
    receive: Receive = "poll"  # filled in from webhook_secret_env when not given; see above
    base_url: str = ""
    # Web address citation links are built on; default: the tool's public one (citations.py).
    web_url: str | None = None
    token_env: str | None = None
    webhook_secret_env: str | None = None  # env var holding the webhook secret; None = no webhooks
    # Where in the tool to read, typed per source type (SCOPES), e.g. {repos: [owner/name]};
    # _typed_scopes always picks the type's model (the default only stands in for a bad type).
    scopes: Scopes = Field(default_factory=SCOPES[SOURCE_TYPES[0]])
    board_id: int | None = None
    page_size: int = 100
    timeout_s: float = 30.0
    max_attempts: int = 6
    max_concurrency: int = 4

    @model_validator(mode="before")
    @classmethod
    def _typed_scopes(cls, data: Any) -> Any:
        """Validate ``scopes`` against its source type's model, naming any unknown key and the
        keys that type takes (a misspelt key would otherwise silently read nothing)."""
        if not isinstance(data, dict) or data.get("type") not in SCOPES:
            return data  # the type field reports an unknown type
        model = SCOPES[data["type"]]
        raw = data.get("scopes")
        if raw is None:
            raw = {}
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        where = f"source {data.get('name', '?')!r} (type {data['type']})"
        allowed = ", ".join(model.model_fields)
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: scopes must be a mapping of {allowed}, not {raw!r}")
        unknown = sorted(set(raw) - set(model.model_fields))
        if unknown:
            keys = ", ".join(repr(k) for k in unknown)
            raise ValueError(f"{where}: unknown scopes key {keys}; {data['type']} takes: {allowed}")
        try:
            return {**data, "scopes": model.model_validate(raw)}
        except ValidationError as err:
            problems = "; ".join(
                ".".join(["scopes", *(str(part) for part in e["loc"])]) + f": {e['msg']}"
                for e in err.errors()
            )
            raise ValueError(f"{where}: {problems}") from None

    def scopes_of(self, model: type[ScopesT]) -> ScopesT:
        """This source's scopes as ``model`` (the caller's source type), or a clear error."""
        if not isinstance(self.scopes, model):
            expected = next((t for t, m in SCOPES.items() if m is model), model.__name__)
            raise ValueError(
                f"source {self.name!r} is of type {self.type}, not {expected}: its scopes are "
                f"{type(self.scopes).__name__}"
            )
        return self.scopes

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
        if self.receives_webhooks and SOURCES[self.type].provider is None:
            senders = sorted(t for t, s in SOURCES.items() if s.provider is not None)
            problems.append(
                f"type {self.type!r} sends no webhooks FlowSync can receive "
                f"(those that do: {', '.join(senders)}); say receive: poll"
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


# A team member as an admin types them: a name, an email and per-tool handles (all optional),
# one handle field per source that declares one (``SourceSpec.member_handle``).
Member = create_model(
    "Member",
    __base__=_Strict,
    __doc__="A team member as an admin types them: per-tool handles (all optional).",
    name=(str, ...),
    email=(str | None, None),
    **{field: (str | None, None) for field in member_handle_fields()},  # type: ignore[call-overload]
)


class TeamConfig(_Strict):
    key: str
    name: str
    timezone: str = "UTC"
    repos: list[str] = Field(default_factory=list)
    jira_components: list[str] = Field(default_factory=list)
    linear_teams: list[str] = Field(default_factory=list)
    members: list[Member] = Field(default_factory=list)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SEND_AT = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class DigestSubscription(_Strict):
    """Who gets which digest, where and when (one ``digests:`` entry of ``flowsync.yaml``).

    ``recipient`` is a team member (their email or any of their tool handles) or a channel
    (``#name``); ``team`` (one key) is still accepted for ``teams: [key]``. The time zone
    defaults to the first team's; ``send_at`` is local wall-clock time on ``weekdays``.
    """

    id: str = ""  # stable name; default "<teams>/<role>[/<hash of the recipient>]"
    recipient: str | None = None
    role: Role = "engineering_manager"
    teams: list[str]
    channels: list[Channel] = Field(default_factory=lambda: ["markdown"])
    timezone: str = "UTC"
    send_at: str = "09:00"
    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    # The least confident band shown: Low ("possibly") statements only when this says "low".
    min_band: Band = "medium"
    slack_channel: str | None = None
    email_to: list[str] = Field(default_factory=list)
    # The env var holding the Teams channel's workflow URL (the URL is a secret: anyone with it
    # can post to the channel).
    teams_webhook_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _team_is_teams(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "team" not in data:
            return data
        data = dict(data)
        team = data.pop("team")
        if data.get("teams") not in (None, [team]):
            raise ValueError(f"digest: give team ({team!r}) or teams ({data['teams']!r}), not both")
        data["teams"] = [team]
        return data

    @model_validator(mode="after")
    def _check(self) -> DigestSubscription:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        who = self.id or f"for {self.recipient or ', '.join(self.teams)}"
        problems = []
        if not self.teams:
            problems.append("teams is empty; name at least one team key")
        if not self.channels:
            problems.append("channels is empty; choose from slack, email, teams, markdown, html")
        if len(set(self.channels)) != len(self.channels):
            problems.append(f"channels repeat: {self.channels}")
        if not _SEND_AT.match(self.send_at):
            problems.append(f"send_at must be HH:MM (24-hour), not {self.send_at!r}")
        if not self.weekdays:
            problems.append("weekdays is empty; e.g. [mon, tue, wed, thu, fri]")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {self.timezone!r} is not an IANA zone (e.g. Europe/Berlin)")
        if "slack" in self.channels and not self.slack_channel:
            problems.append("channel slack needs slack_channel (e.g. '#payments' or C0123ABCD)")
        if "email" in self.channels and not self.email_to:
            problems.append("channel email needs email_to, or a recipient with an email")
        if any("@" not in a for a in self.email_to):
            problems.append(f"email_to holds something that is not an address: {self.email_to}")
        if "teams" in self.channels and not self.teams_webhook_env:
            problems.append(
                "channel teams needs teams_webhook_env: the name of the env var holding the "
                "channel's workflow URL"
            )
        if self.teams_webhook_env and not _ENV_NAME.match(self.teams_webhook_env):
            problems.append(
                f"teams_webhook_env names an env var (e.g. TEAMS_PAYMENTS_URL), "
                f"not {self.teams_webhook_env!r}"
            )
        if problems:
            raise ValueError(f"digest {who}: " + "; ".join(problems))
        return self

    @property
    def local_send_time(self) -> time:
        hour, minute = self.send_at.split(":")
        return time(int(hour), int(minute))


class FlowSyncConfig(_Strict):
    organisation: str = "example"
    start_date: date = date(2026, 1, 1)
    sources: list[SourceConfig] = Field(default_factory=list)
    teams: list[TeamConfig] = Field(default_factory=list)
    digests: list[DigestSubscription] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _digest_defaults(cls, data: Any) -> Any:
        """Fill what a subscription leaves out from its teams: the first team's time zone, the
        recipient's email, a stable id."""
        if not isinstance(data, dict) or not data.get("digests"):
            return data
        teams = {t.get("key"): t for t in data.get("teams") or [] if isinstance(t, dict)}
        digests = []
        for entry in data["digests"]:
            if not isinstance(entry, dict):
                digests.append(entry)
                continue
            entry = dict(entry)
            keys = entry.get("teams") or ([entry["team"]] if entry.get("team") else [])
            first = teams.get(keys[0]) if keys else None
            if "timezone" not in entry and first is not None:
                entry["timezone"] = first.get("timezone", "UTC")
            recipient = entry.get("recipient")
            member = _member(teams, keys, recipient) if recipient else None
            if member and "email" in (entry.get("channels") or []) and not entry.get("email_to"):
                entry["email_to"] = [member["email"]] if member.get("email") else []
            if not entry.get("id"):
                entry["id"] = f"{'+'.join(keys)}/{entry.get('role', ROLE)}"
                if recipient:  # the outbox and file names keep ids: no email or handle in them
                    entry["id"] += "/" + hashlib.sha256(recipient.encode()).hexdigest()[:10]
            digests.append(entry)
        return {**data, "digests": digests}

    @model_validator(mode="after")
    def _digests_resolve(self) -> FlowSyncConfig:
        keys = {t.key for t in self.teams}
        teams = {t.key: t.model_dump() for t in self.teams}
        problems, seen = [], set()
        for d in self.digests:
            unknown = [k for k in d.teams if k not in keys]
            if unknown:
                problems.append(
                    f"digest {d.id}: unknown team {', '.join(unknown)} "
                    f"(teams: {', '.join(sorted(keys)) or 'none configured'})"
                )
            r = d.recipient
            if r and not r.startswith("#") and not unknown and _member(teams, d.teams, r) is None:
                problems.append(
                    f"digest {d.id}: recipient {r!r} is neither a '#channel' nor a member "
                    f"(email or tool handle) of {', '.join(d.teams)}"
                )
            if d.id in seen:
                problems.append(f"digest {d.id}: two subscriptions share this id; give one an id")
            seen.add(d.id)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)


def _member(teams: dict[str, Any], keys: list[str], who: str) -> dict[str, Any] | None:
    """The member of one of ``keys``' teams whose email or tool handle is ``who``."""
    handles = ("email", *member_handle_fields())
    for key in keys:
        for member in (teams.get(key) or {}).get("members") or []:
            if isinstance(member, dict) and any(member.get(h) == who for h in handles):
                return member
    return None


def flowsync_home() -> Path:
    """The directory that holds every FlowSync store (``FLOWSYNC_HOME``, default ``./data``)."""
    return Path(os.environ.get(HOME_ENV, "data")).resolve()


def config_path() -> Path:
    """The ``flowsync.yaml`` in use: ``FLOWSYNC_CONFIG``, else ``$FLOWSYNC_HOME/flowsync.yaml``."""
    explicit = os.environ.get(CONFIG_ENV)
    return Path(explicit).resolve() if explicit else flowsync_home() / "flowsync.yaml"


def load_config(path: Path | None = None) -> FlowSyncConfig:
    """Read and validate ``flowsync.yaml``; a missing file means an empty configuration."""
    path = path or config_path()
    if not path.exists():
        return FlowSyncConfig()
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    try:
        return FlowSyncConfig.model_validate(raw)
    except ValidationError as err:
        lines = [
            f"{path}:{line}: {e['msg']}"
            for e in err.errors()
            if (line := _yaml_line(text, e["loc"], e["msg"])) is not None
        ]
        summary = "".join(f"{line}\n" for line in lines)
        raise ValueError(f"{path} is not a valid FlowSync configuration:\n{summary}{err}") from err


def _yaml_line(text: str, loc: tuple[Any, ...], message: str) -> int | None:
    """The 1-based line of the YAML node an error's ``loc`` names, or of the key below it the
    message quotes (an unknown scopes key is reported on the source, but lives in its scopes)."""
    node = yaml.compose(text)
    if node is None:
        return None
    for part in loc:  # as deep as the file goes (a loc may name a model, not a key)
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if f"key {key.value!r}" in message:
                    return key.start_mark.line + 1
                stack.append(value)
    return node.start_mark.line + 1


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
    def metadata_url(self) -> str:
        """The metadata store: ``FLOWSYNC_METADATA_URL``, else the SQLite file under the home.

        One rule for the pipeline, the webhook gateway and every command, so they share one store.
        """
        return os.environ.get(METADATA_URL_ENV) or f"sqlite:///{self.metadata}"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"
