"""Jenkins's webhooks (and any generic CI sender), served at ``/webhooks/ci``."""

from __future__ import annotations

from collections.abc import Sequence

from flowsync_pipelines.webhooks.providers import Inbound, Provider, hex_hmac, hmac_signature, same


def ci(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """Generic CI senders (Jenkins): ``Authorization: Bearer <secret>`` or ``X-Signature-256``."""
    authorization = inbound.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "Authorization header is not 'Bearer <token>'"
        if not any(same(s.decode(), token.strip()) for s in secrets):
            return "bearer token is not the configured secret"
        return None
    if "x-signature-256" in inbound.headers:
        return hmac_signature("X-Signature-256", prefix="sha256=")(inbound, secrets)
    return "missing Authorization (Bearer) or X-Signature-256 header"


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    headers = {
        "X-Signature-256": f"sha256={hex_hmac(secret.encode(), body)}",
        "X-Delivery-ID": delivery_id,
    }
    if event:
        headers["X-Event-Type"] = event
    return headers


PROVIDER = Provider(
    route="ci",
    source="jenkins",
    authenticate=ci,
    delivery_headers=("x-delivery-id",),
    event_header="x-event-type",
    event_field="event",
    kept_headers=("x-delivery-id", "x-event-type"),
    sign=_sign,
)
