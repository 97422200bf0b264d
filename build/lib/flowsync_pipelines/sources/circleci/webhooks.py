"""CircleCI's webhooks: ``circleci-signature: v1=<hex HMAC>``, event in ``type``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowsync_pipelines.webhooks.providers import Inbound, Provider, event_names, hex_hmac, same

CIRCLECI_EVENTS = event_names("""
    workflow-completed job-completed ping
""")


def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """``circleci-signature: v1=<hex HMAC-SHA256 of the body>``, possibly among other versions.

    The header is a comma-separated list of ``<version>=<signature>``; CircleCI sends ``v1``
    today and may add versions. The delivery is authentic when any ``v1`` value matches the
    body signed with any configured secret; values of other versions are ignored.
    """
    header = inbound.headers.get("circleci-signature")
    if not header:
        return "missing circleci-signature header"
    provided = [
        value.strip()
        for version, _, value in (part.strip().partition("=") for part in header.split(","))
        if version.strip() == "v1" and value.strip()
    ]
    if not provided:
        return "circleci-signature carries no v1=<signature> value"
    expected = [hex_hmac(secret, inbound.body) for secret in secrets]
    # Every pair is compared, so the time taken does not depend on which one matches.
    matches = [same(digest, value) for digest in expected for value in provided]
    if not any(matches):
        return "circleci-signature does not match the body signed with the configured secret"
    return None


def _scope(document: dict[str, Any]) -> str:
    project = document.get("project")
    if isinstance(project, dict) and isinstance(project.get("slug"), str):
        return project["slug"]
    return ""


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    headers = {
        "circleci-signature": f"v1={hex_hmac(secret.encode(), body)}",
        "User-Agent": "CircleCI-Webhook/1.0",
    }
    if event:
        headers["circleci-event-type"] = event
    return headers


PROVIDER = Provider(
    route="circleci",
    source="circleci",
    authenticate=authenticate,
    # No delivery-id header: the body's ``id`` identifies the event (CircleCI's advice for
    # de-duplicating redeliveries).
    delivery_headers=(),
    delivery_field="id",
    event_header="circleci-event-type",
    event_field="type",
    known_events=CIRCLECI_EVENTS,
    kept_headers=("circleci-event-type",),
    scope=_scope,
    sign=_sign,
)
