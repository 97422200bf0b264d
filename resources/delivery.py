"""The ``delivery`` resource: how digests leave FlowSync (Slack, SMTP, Teams, outbox files).

Secrets (the Slack bot token, the SMTP password) arrive as ``dg.EnvVar``; Teams workflow URLs
are read from the env var each subscription names, when a card is sent.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from flowsync_pipelines.delivery.senders import (
    EmailSender,
    FileSender,
    Sender,
    SlackSender,
    TeamsSender,
)

SLACK_TOKEN_ENV = "FLOWSYNC_SLACK_TOKEN"
SMTP_PASSWORD_ENV = "FLOWSYNC_SMTP_PASSWORD"
# Plain settings, read when Definitions are built: env var -> resource field.
SETTINGS_ENV = {
    "FLOWSYNC_SLACK_BASE_URL": "slack_base_url",
    "FLOWSYNC_SMTP_HOST": "smtp_host",
    "FLOWSYNC_SMTP_PORT": "smtp_port",
    "FLOWSYNC_SMTP_STARTTLS": "smtp_starttls",
    "FLOWSYNC_SMTP_CA_FILE": "smtp_ca_file",
    "FLOWSYNC_SMTP_USER": "smtp_user",
    "FLOWSYNC_MAIL_FROM": "mail_from",
    "FLOWSYNC_UNSUBSCRIBE_URL": "unsubscribe_url",
    "FLOWSYNC_DIGEST_URL": "html_base_url",
}


class DeliveryResource(dg.ConfigurableResource):
    """Where digests go. A channel whose settings are missing has no sender: its rows wait."""

    slack_token: str = Field(default="", description="Slack bot token (dg.EnvVar)")
    slack_base_url: str = "https://slack.com/api/"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ca_file: str | None = None
    smtp_user: str = ""
    smtp_password: str = Field(default="", description="SMTP password (dg.EnvVar)")
    mail_from: str = "flowsync@localhost"
    unsubscribe_url: str = "https://flowsync.invalid/unsubscribe"
    html_base_url: str = Field(
        default="", description="Where the outbox's HTML digests are served; file:// by default"
    )
    timeout_s: float = 10.0
    teams_per_second: float = 4.0

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


def delivery_resource() -> DeliveryResource:
    """The resource as the environment configures it (secrets as ``dg.EnvVar``)."""
    settings: dict[str, object] = {
        field: os.environ[env] for env, field in SETTINGS_ENV.items() if os.environ.get(env)
    }
    if "smtp_starttls" in settings:
        settings["smtp_starttls"] = str(settings["smtp_starttls"]).lower() in ("1", "true", "yes")
    if os.environ.get(SLACK_TOKEN_ENV):
        settings["slack_token"] = dg.EnvVar(SLACK_TOKEN_ENV)
    if os.environ.get(SMTP_PASSWORD_ENV):
        settings["smtp_password"] = dg.EnvVar(SMTP_PASSWORD_ENV)
    return DeliveryResource(**settings)
