"""Sentry's webhooks: ``Sentry-Hook-Signature`` (hex HMAC of the body), resource as the event."""

from __future__ import annotations

from flowsync_pipelines.webhooks.providers import Provider, event_names, hex_hmac, hmac_signature

# Sentry's ``Sentry-Hook-Resource`` values; the action (``triggered``, ``critical``…) is the
# body's ``action`` and is read by the normaliser, so the event name stays the resource.
SENTRY_EVENTS = event_names("""
    installation event_alert issue metric_alert error comment seer activity_alert
    preprod_artifact
""")


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    return {
        "Sentry-Hook-Signature": hex_hmac(secret.encode(), body),
        "Request-ID": delivery_id,
        "Sentry-Hook-Resource": event or "issue",
    }


PROVIDER = Provider(
    route="sentry",
    source="sentry",
    authenticate=hmac_signature("Sentry-Hook-Signature"),
    delivery_headers=("request-id",),
    event_header="sentry-hook-resource",
    known_events=SENTRY_EVENTS,
    kept_headers=("request-id", "sentry-hook-resource", "sentry-hook-timestamp"),
    sign=_sign,
)
