"""Linear's webhooks: ``Linear-Signature`` (hex HMAC of the body) and a fresh timestamp."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from flowsync_pipelines.webhooks.providers import (
    Inbound,
    Provider,
    event_names,
    hex_hmac,
    hmac_signature,
)

# How far ``webhookTimestamp`` may be from our clock before a delivery counts as replayed.
LINEAR_TOLERANCE_S = 60.0


LINEAR_EVENTS = event_names("""
    Issue Comment IssueLabel Reaction Project ProjectUpdate Cycle Attachment Document
    Initiative InitiativeUpdate Customer CustomerNeed User IssueSLA OAuthApp
""")


def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """``Linear-Signature`` (hex HMAC of the body) and a fresh ``webhookTimestamp`` (epoch ms).

    A body that is signed but not JSON has no timestamp to check; it is authentic, so it is
    accepted and quarantined rather than retried forever.
    """
    reason = hmac_signature("Linear-Signature")(inbound, secrets)
    if reason or inbound.document is None:
        return reason
    stamp = inbound.document.get("webhookTimestamp") if isinstance(inbound.document, dict) else None
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return "body has no numeric webhookTimestamp (epoch milliseconds)"
    skew = abs(inbound.received_epoch_s - stamp / 1000.0)
    if skew > LINEAR_TOLERANCE_S:
        return (
            f"webhookTimestamp is {skew:.0f} s away from the gateway's clock "
            f"(tolerance {LINEAR_TOLERANCE_S:.0f} s): a replayed delivery, or a clock out of sync"
        )
    return None


def _prepare(document: dict[str, Any], _secret: str, now_s: float | None) -> dict[str, Any]:
    document.setdefault("webhookTimestamp", int((now_s or time.time()) * 1000))
    return document


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    headers = {"Linear-Signature": hex_hmac(secret.encode(), body), "Linear-Delivery": delivery_id}
    if event:
        headers["Linear-Event"] = event
    return headers


PROVIDER = Provider(
    route="linear",
    source="linear",
    authenticate=authenticate,
    delivery_headers=("linear-delivery",),
    event_header="linear-event",
    event_field="type",
    known_events=LINEAR_EVENTS,
    kept_headers=("linear-delivery", "linear-event"),
    sign=_sign,
    prepare_body=_prepare,
)
