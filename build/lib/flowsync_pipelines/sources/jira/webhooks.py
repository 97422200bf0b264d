"""Jira's webhooks: ``X-Hub-Signature`` (``sha256=<hex HMAC>``), event in ``webhookEvent``.

Issue events are *not* landed as the polled kind ``issues``: their issue has no changelog, and as
the newest version it would hide the polled one's transitions.
"""

from __future__ import annotations

from typing import Any

from flowsync_pipelines.webhooks.providers import Provider, event_names, hex_hmac, hmac_signature

JIRA_EVENTS = event_names("""
    jira:issue_created jira:issue_updated jira:issue_deleted comment_created comment_updated
    comment_deleted worklog_created worklog_updated worklog_deleted issuelink_created
    issuelink_deleted attachment_created attachment_deleted sprint_created sprint_updated
    sprint_deleted sprint_started sprint_closed board_created board_updated board_deleted
    board_configuration_changed project_created project_updated project_deleted
    jira:version_created jira:version_updated jira:version_released jira:version_unreleased
    jira:version_moved jira:version_deleted user_created user_updated user_deleted
    issue_property_set issue_property_deleted
""")


def _scope(document: dict[str, Any]) -> str:
    issue = document.get("issue")
    fields = issue.get("fields") if isinstance(issue, dict) else None
    project = fields.get("project") if isinstance(fields, dict) else None
    if isinstance(project, dict) and isinstance(project.get("key"), str):
        return project["key"]
    return ""


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    return {
        "X-Hub-Signature": f"sha256={hex_hmac(secret.encode(), body)}",
        "X-Atlassian-Webhook-Identifier": delivery_id,
    }


PROVIDER = Provider(
    route="jira",
    source="jira",
    authenticate=hmac_signature("X-Hub-Signature", prefix="sha256="),
    delivery_headers=("x-atlassian-webhook-identifier",),
    event_field="webhookEvent",
    known_events=JIRA_EVENTS,
    kept_headers=("x-atlassian-webhook-identifier", "x-atlassian-webhook-retry"),
    scope=_scope,
    sign=_sign,
)
