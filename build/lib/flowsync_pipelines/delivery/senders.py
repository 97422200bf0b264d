"""Transports: each sender delivers one outbox row's payload and says what happened.

Outcomes: :class:`Sent` (with the provider's id), :class:`Retry` (certainly not delivered; try
again, after ``after_s`` when the provider asked), :class:`Unknown` (may have been delivered:
a timeout or a dropped connection after the request went out) and :class:`Failed` (will not
succeed; e.g. a revoked token or a missing channel).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import ClassVar, Protocol

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from flowsync_pipelines.delivery.model import file_name
from flowsync_pipelines.delivery.outbox import OutboxRow
from flowsync_pipelines.env import DELIVERY_SETTINGS_ENV, SLACK_TOKEN_ENV, SMTP_PASSWORD_ENV
from flowsync_pipelines.settings import DigestSubscription

# Every Slack post carries this metadata event, naming its digest id: how an unknown outcome
# is found in the channel's history.
SLACK_EVENT_TYPE = "flowsync_digest"


@dataclass(frozen=True)
class Sent:
    provider_id: str


@dataclass(frozen=True)
class Retry:
    error: str
    after_s: float = 0.0


@dataclass(frozen=True)
class Unknown:
    error: str


@dataclass(frozen=True)
class Failed:
    error: str


Outcome = Sent | Retry | Unknown | Failed


class Sender(Protocol):
    def send(self, row: OutboxRow, subscription: DigestSubscription) -> Outcome: ...

    def find(self, row: OutboxRow, subscription: DigestSubscription) -> str | None:
        """The provider id of this row's earlier delivery, when the provider can tell."""
        ...


class SlackSender:
    """``chat.postMessage`` through slack-sdk, tagged with the digest id as message metadata."""

    # Errors that a retry cannot fix.
    PERMANENT = frozenset(
        {
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "invalid_blocks",
            "msg_too_long",
            "missing_scope",
        }
    )

    def __init__(self, token: str, *, base_url: str, timeout_s: float = 10.0) -> None:
        # No built-in retry handlers: a blind retry after a timeout could post twice.
        self.client = WebClient(
            token=token, base_url=base_url, timeout=int(max(timeout_s, 1)), retry_handlers=[]
        )
        self._channel_ids: dict[str, str] = {}

    def send(self, row: OutboxRow, subscription: DigestSubscription) -> Outcome:
        channel = subscription.slack_channel or ""
        try:
            response = self.client.chat_postMessage(
                channel=channel,
                text=row.payload["text"],
                blocks=row.payload["blocks"],
                metadata={
                    "event_type": SLACK_EVENT_TYPE,
                    "event_payload": {"digest_id": row.digest_id},
                },
                unfurl_links=False,
            )
        except SlackApiError as err:
            return self._api_error(err)
        except Exception as err:  # timeout, reset: the post may have landed
            return Unknown(f"{type(err).__name__}: {err}")
        self._channel_ids[channel] = response["channel"]
        return Sent(f"{response['channel']}/{response['ts']}")

    def _api_error(self, err: SlackApiError) -> Outcome:
        status = err.response.status_code
        code = (
            (err.response.data or {}).get("error", "")
            if isinstance(err.response.data, dict)
            else ""
        )
        if status == 429:
            return Retry(
                "slack: rate limited (429)", float(err.response.headers.get("Retry-After", 1))
            )
        if status >= 500:
            return Retry(f"slack: HTTP {status} {code}".strip())
        if code in self.PERMANENT:
            return Failed(f"slack: {code}")
        return Retry(f"slack: HTTP {status} {code}".strip())

    def find(self, row: OutboxRow, subscription: DigestSubscription) -> str | None:
        """Look for a message carrying this digest id in the channel's recent history."""
        channel = self._channel_id(subscription.slack_channel or "")
        oldest = str(time.time() - 7 * 86400)  # digests are found within a week
        cursor = None
        while True:
            page = self.client.conversations_history(
                channel=channel, include_all_metadata=True, oldest=oldest, limit=200, cursor=cursor
            )
            for message in page["messages"]:
                meta = message.get("metadata") or {}
                if (
                    meta.get("event_type") == SLACK_EVENT_TYPE
                    and (meta.get("event_payload") or {}).get("digest_id") == row.digest_id
                ):
                    return f"{channel}/{message['ts']}"
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    def _channel_id(self, channel: str) -> str:
        """History needs the channel id; a ``#name`` is looked up once in conversations.list."""
        if not channel.startswith("#"):
            return channel
        if channel not in self._channel_ids:
            cursor = None
            while channel not in self._channel_ids:
                page = self.client.conversations_list(limit=200, cursor=cursor)
                for c in page["channels"]:
                    self._channel_ids[f"#{c['name']}"] = c["id"]
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        if channel not in self._channel_ids:
            raise LookupError(f"slack: no channel {channel} visible to the token")
        return self._channel_ids[channel]


class EmailSender:
    """SMTP with STARTTLS and login when configured; one ``multipart/alternative`` per row."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        mail_from: str,
        unsubscribe_url: str,
        starttls: bool = False,
        ca_file: str | None = None,
        user: str = "",
        password: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.mail_from = host, port, mail_from
        self.unsubscribe_url = unsubscribe_url
        self.ca_file = ca_file  # a private CA for STARTTLS (the system's otherwise)
        self.starttls, self.user, self.password, self.timeout_s = (
            starttls,
            user,
            password,
            timeout_s,
        )

    def message(self, row: OutboxRow, subscription: DigestSubscription) -> EmailMessage:
        domain = self.mail_from.rsplit("@", 1)[-1]
        msg = EmailMessage()
        msg["Subject"] = row.payload["subject"]
        msg["From"] = self.mail_from
        msg["To"] = ", ".join(subscription.email_to)
        msg["Date"] = formatdate(localtime=False)
        # The same digest always has the same Message-ID: a resent copy is recognisably a copy.
        msg["Message-ID"] = f"<{row.digest_id}@{domain}>"
        who = _quote(subscription.id)
        unsubscribe = f"{self.unsubscribe_url}?subscription={who}"
        mailto = f"mailto:{self.mail_from}?subject=unsubscribe%20{who}"
        msg["List-Unsubscribe"] = f"<{unsubscribe}>, <{mailto}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        msg.set_content(row.payload["text"])  # plain text first …
        msg.add_alternative(row.payload["html"], subtype="html")  # … HTML last
        return msg

    def send(self, row: OutboxRow, subscription: DigestSubscription) -> Outcome:
        msg = self.message(row, subscription)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.user:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as err:
            return Failed(f"smtp: every recipient refused: {sorted(err.recipients)}")
        except smtplib.SMTPResponseException as err:
            if 400 <= err.smtp_code < 500:
                return Retry(f"smtp: {err.smtp_code} {err.smtp_error!r}")
            return Failed(f"smtp: {err.smtp_code} {err.smtp_error!r}")
        except (OSError, smtplib.SMTPException) as err:
            # Before DATA completed nothing was accepted; smtplib cannot tell us which, so the
            # Message-ID (the digest id) lets the receiving side recognise a copy.
            return Retry(f"smtp: {type(err).__name__}: {err}")
        if refused:
            return Sent(f"{msg['Message-ID']} (refused: {sorted(refused)})")
        return Sent(msg["Message-ID"])

    def find(self, row: OutboxRow, subscription: DigestSubscription) -> str | None:
        return None  # SMTP cannot be asked what it delivered


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


class TeamsSender:
    """HTTPS POST of the Adaptive Card to the channel's workflow URL, at most 4 requests/s."""

    def __init__(self, *, timeout_s: float = 10.0, per_second: float = 4.0) -> None:
        self.client = httpx.Client(timeout=timeout_s)
        self.interval = 1.0 / per_second
        self._last = 0.0
        self._lock = threading.Lock()

    def _pace(self) -> None:
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def send(self, row: OutboxRow, subscription: DigestSubscription) -> Outcome:
        env = subscription.teams_webhook_env or ""
        url = os.environ.get(env)
        if not url:
            return Failed(f"teams: the env var {env} holding the workflow URL is not set")
        self._pace()
        try:
            response = self.client.post(
                url, json=row.payload, headers={"X-FlowSync-Digest": row.digest_id}
            )
        except httpx.TimeoutException as err:
            return Unknown(f"teams: {type(err).__name__}")
        except httpx.HTTPError as err:
            return Retry(f"teams: {type(err).__name__}")
        if response.status_code == 429:
            return Retry("teams: rate limited (429)", float(response.headers.get("Retry-After", 1)))
        if response.status_code >= 500:
            return Retry(f"teams: HTTP {response.status_code}")
        if response.status_code >= 400:
            return Failed(f"teams: HTTP {response.status_code} {response.text[:200]}")
        return Sent(f"teams/{row.digest_id}")

    def find(self, row: OutboxRow, subscription: DigestSubscription) -> str | None:
        return None  # workflow webhooks keep no history we could read


class FileSender:
    """Markdown and HTML digests are "delivered" as files in the outbox folder."""

    SUFFIX: ClassVar[dict[str, str]] = {"markdown": "md", "html": "html"}

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, row: OutboxRow, subscription: DigestSubscription) -> Path:
        return self.root / file_name(subscription.id, row.day, self.SUFFIX[row.channel])

    def send(self, row: OutboxRow, subscription: DigestSubscription) -> Outcome:
        path = self.path(row, subscription)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(row.payload["text"], encoding="utf-8")
        tmp.replace(path)  # rewriting the same file twice changes nothing
        return Sent(str(path))

    def find(self, row: OutboxRow, subscription: DigestSubscription) -> str | None:
        path = self.path(row, subscription)
        return str(path) if path.exists() else None


@dataclass(frozen=True)
class DeliverySettings:
    """How digests leave FlowSync. A channel whose settings are missing has no sender: its
    outbox rows wait until it has one."""

    slack_token: str = ""
    slack_base_url: str = "https://slack.com/api/"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ca_file: str | None = None
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = "flowsync@localhost"
    unsubscribe_url: str = "https://flowsync.invalid/unsubscribe"
    html_base_url: str = ""  # where the outbox's HTML digests are served; file:// by default
    timeout_s: float = 10.0
    teams_per_second: float = 4.0

    @classmethod
    def plain_from_env(cls) -> dict[str, object]:
        """The non-secret settings the environment gives, typed."""
        values: dict[str, object] = {
            f: os.environ[env] for env, f in DELIVERY_SETTINGS_ENV.items() if os.environ.get(env)
        }
        if "smtp_port" in values:
            values["smtp_port"] = int(str(values["smtp_port"]))
        if "smtp_starttls" in values:
            values["smtp_starttls"] = str(values["smtp_starttls"]).lower() in ("1", "true", "yes")
        return values

    @classmethod
    def from_env(cls) -> DeliverySettings:
        """Everything from the environment, secrets included (the ``flowsync deliver`` CLI)."""
        return cls(
            **cls.plain_from_env(),  # type: ignore[arg-type]
            slack_token=os.environ.get(SLACK_TOKEN_ENV, ""),
            smtp_password=os.environ.get(SMTP_PASSWORD_ENV, ""),
        )

    def digest_url(self, outbox_root: Path) -> str:
        return self.html_base_url or outbox_root.resolve().as_uri()

    def senders(self, outbox_root: Path) -> dict[str, Sender]:
        senders: dict[str, Sender] = {
            "markdown": FileSender(outbox_root),
            "html": FileSender(outbox_root),
            "teams": TeamsSender(timeout_s=self.timeout_s, per_second=self.teams_per_second),
        }
        if self.slack_token:
            senders["slack"] = SlackSender(
                self.slack_token, base_url=self.slack_base_url, timeout_s=self.timeout_s
            )
        if self.smtp_host:
            senders["email"] = EmailSender(
                host=self.smtp_host,
                port=self.smtp_port,
                mail_from=self.mail_from,
                unsubscribe_url=self.unsubscribe_url,
                starttls=self.smtp_starttls,
                ca_file=self.smtp_ca_file,
                user=self.smtp_user,
                password=self.smtp_password,
                timeout_s=self.timeout_s,
            )
        return senders
