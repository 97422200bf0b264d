"""PagerDuty V3 webhooks: how a delivery authenticates, names its event and identifies itself.

PagerDuty signs the raw body with each of the subscription's secrets (several while one is
rotated) and sends ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256>[,v1=<hex>…]``; the delivery is
authentic when any ``v1`` value matches the body signed with any configured secret, compared in
constant time (values of other versions are ignored). ``X-Webhook-Id`` is the same on every
delivery attempt, so it identifies the delivery (the body's ``event.id`` when it is absent). The
event type is only in the body, ``event.event_type``.

"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowsync_pipelines.webhooks.providers import Provider

if TYPE_CHECKING:
    from flowsync_pipelines.webhooks.providers import Inbound

SIGNATURE_HEADER = "x-pagerduty-signature"
DELIVERY_HEADER = "x-webhook-id"
SUBSCRIPTION_HEADER = "x-webhook-subscription"
USER_AGENT = "PagerDuty-Webhook/V3.0"
# The V3 event types PagerDuty documents (``event.event_type``); others are stored and reported.
EVENT_TYPES = frozenset(
    [
        "incident.acknowledged",
        "incident.annotated",
        "incident.delegated",
        "incident.escalated",
        "incident.priority_updated",
        "incident.reassigned",
        "incident.reopened",
        "incident.resolved",
        "incident.responder.added",
        "incident.responder.replied",
        "incident.status_update_published",
        "incident.triggered",
        "incident.unacknowledged",
        "incident.conference_bridge.updated",
        "incident.custom_field_values.updated",
        "incident.incident_type.changed",
        "incident.workflow.started",
        "incident.workflow.completed",
        "service.created",
        "service.deleted",
        "service.updated",
        "pagey.ping",
    ]
)


def sign(secret: bytes, body: bytes) -> str:
    """The ``v1`` signature PagerDuty sends for ``body`` signed with ``secret``."""
    return "v1=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """None when some ``v1`` signature matches the body under some secret; else the reason."""
    header = inbound.headers.get(SIGNATURE_HEADER)
    if not header:
        return "missing X-PagerDuty-Signature header"
    provided = [
        value.strip()
        for version, _, value in (part.strip().partition("=") for part in header.split(","))
        if version.strip() == "v1" and value.strip()
    ]
    if not provided:
        return "X-PagerDuty-Signature carries no v1=<signature> value"
    expected = [sign(secret, inbound.body).removeprefix("v1=") for secret in secrets]
    # Every pair is compared, so the time taken does not depend on which one matches.
    matches = [
        hmac.compare_digest(digest.encode(), value.encode("latin-1", "replace"))
        for digest in expected
        for value in provided
    ]
    if not any(matches):
        return "X-PagerDuty-Signature does not match the body signed with the configured secret"
    return None


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    """The headers PagerDuty sends with a delivery (the event type is in the body)."""
    return {
        "X-PagerDuty-Signature": sign(secret.encode(), body),
        "X-Webhook-Id": delivery_id,
        "X-Webhook-Subscription": "PSUBSCR",
        "User-Agent": USER_AGENT,
    }


PROVIDER = Provider(
    route="pagerduty",
    source="pagerduty",
    authenticate=authenticate,
    delivery_headers=(DELIVERY_HEADER,),
    delivery_field="event.id",
    event_field="event.event_type",
    known_events=EVENT_TYPES,
    kept_headers=(DELIVERY_HEADER, SUBSCRIPTION_HEADER),
    sign=_sign,
)
