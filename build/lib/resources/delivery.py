"""The ``delivery`` resource: how digests leave FlowSync (Slack, SMTP, Teams, outbox files).

Secrets (the Slack bot token, the SMTP password) arrive as ``dg.EnvVar``; Teams workflow URLs
are read from the env var each subscription names, when a card is sent.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import dagster as dg
from pydantic import Field

from flowsync_pipelines.delivery.senders import DeliverySettings, Sender
from flowsync_pipelines.env import SLACK_TOKEN_ENV, SMTP_PASSWORD_ENV


class DeliveryResource(dg.ConfigurableResource):
    """Where digests go (see :class:`DeliverySettings`)."""

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

    def settings(self) -> DeliverySettings:
        return DeliverySettings(**{f.name: getattr(self, f.name) for f in fields(DeliverySettings)})

    def digest_url(self, outbox_root: Path) -> str:
        return self.settings().digest_url(outbox_root)

    def senders(self, outbox_root: Path) -> dict[str, Sender]:
        return self.settings().senders(outbox_root)


def delivery_resource() -> DeliveryResource:
    """The resource as the environment configures it (secrets as ``dg.EnvVar``)."""
    values = DeliverySettings.plain_from_env()
    if os.environ.get(SLACK_TOKEN_ENV):
        values["slack_token"] = dg.EnvVar(SLACK_TOKEN_ENV)
    if os.environ.get(SMTP_PASSWORD_ENV):
        values["smtp_password"] = dg.EnvVar(SMTP_PASSWORD_ENV)
    return DeliveryResource(**values)
