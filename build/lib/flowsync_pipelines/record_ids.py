"""Which records a REST response holds, and the identity each one lands under.

Connectors know which endpoint they called; given that (``source``, ``kind``) and the response
body, :func:`identify` finds the items and names each one the way landing de-duplicates on — by
the record identity the source's spec declares (``SourceSpec.records``), which the connector
and the webhook drain use too. An item of a known kind that lacks its identifying fields still
lands (under a content-derived id) so that normalisation can quarantine it with a reason; a body
of no known kind lands whole as kind ``unknown``. Nothing is dropped and nothing raises.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flowsync_pipelines.landing import FetchedRecord, canonical_json
from flowsync_pipelines.sources.registry import record_identity

UNKNOWN = "unknown"


def identify(
    source: str, kind: str, body: Any, *, scope: str, request: str, updated_field: str = ""
) -> list[FetchedRecord]:
    """The records in one response ``body`` of endpoint ``kind`` (a list, a page or one item)."""
    identity = record_identity(source, kind)
    if identity is None or identity.fields is None:
        return [FetchedRecord(UNKNOWN, scope, f"{kind}/{_digest(body)}", None, body, request)]
    if isinstance(body, list):
        items = body
    elif (
        isinstance(body, dict)
        and identity.items_key
        and isinstance(body.get(identity.items_key), list)
    ):
        items = body[identity.items_key]
    else:
        items = [body]
    records = []
    for item in items:
        try:
            record_id = identity.of_item(item, scope)
        except (KeyError, TypeError, ValueError, AttributeError):
            record_id = f"unidentified/{_digest(item)}"
        updated = _updated_at(item, updated_field)
        records.append(FetchedRecord(kind, scope, record_id, updated, item, request))
    return records


def _updated_at(item: Any, field: str) -> str | None:
    if not isinstance(item, dict):
        return None
    for name in (field, "updated_at", "submitted_at", "created_at"):
        if name and isinstance(item.get(name), str):
            return item[name]
    fields = item.get("fields")
    if isinstance(fields, dict) and isinstance(fields.get("updated"), str):
        return fields["updated"]
    return None


def _digest(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]
