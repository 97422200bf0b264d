"""Figma's webhooks: the ``passcode`` in the JSON body, event in ``event_type``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flowsync_pipelines.webhooks.providers import Inbound, Provider, event_names, same

FIGMA_EVENTS = event_names("""
    PING FILE_UPDATE FILE_VERSION_UPDATE FILE_DELETE LIBRARY_PUBLISH FILE_COMMENT
    DEV_MODE_STATUS_UPDATE
""")


def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """Figma puts the webhook's ``passcode`` in the JSON body."""
    if not isinstance(inbound.document, dict):
        return "body is not a JSON object, so its passcode cannot be checked"
    passcode = inbound.document.get("passcode")
    if not isinstance(passcode, str) or not passcode:
        return "body has no passcode"
    if not any(same(s.decode(), passcode) for s in secrets):
        return "passcode is not the configured passcode"
    return None


def _tagged_comment(document: dict[str, Any]) -> bool:
    """Whether a delivery is other than a comment, or a comment carrying the tag."""
    # The tag is the normaliser's; imported here so the gateway does not load the normalisers.
    from flowsync_pipelines.normalise.figma import TAG

    if document.get("event_type") != "FILE_COMMENT":
        return True
    fragments = document.get("comment")
    text = "".join(
        f["text"] for f in fragments or [] if isinstance(f, dict) and isinstance(f.get("text"), str)
    )
    return re.search(TAG, text) is not None


def landed_document(document: dict[str, Any]) -> dict[str, Any]:
    """A comment without the tag lands as the connector lands it: that it exists, not what it
    says or who wrote it (people's design chatter is not FlowSync's to keep)."""
    if _tagged_comment(document):
        return document
    kept = ("event_type", "file_key", "comment_id", "timestamp", "webhook_id")
    return {**{k: document[k] for k in kept if k in document}, "untagged": True}


def _prepare(document: dict[str, Any], secret: str, _now_s: float | None) -> dict[str, Any]:
    document["passcode"] = secret
    return document


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    return {}  # the passcode is in the body


PROVIDER = Provider(
    route="figma",
    source="figma",
    authenticate=authenticate,
    delivery_headers=(),
    event_field="event_type",
    known_events=FIGMA_EVENTS,
    secret_fields=("passcode",),
    landed_document=landed_document,
    sign=_sign,
    prepare_body=_prepare,
)
