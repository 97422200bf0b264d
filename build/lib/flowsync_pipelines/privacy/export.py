"""``export``: everything FlowSync holds about a person, as one JSON-ready document.

The person as found (vault entries, team memberships, other identifiers, pseudonyms), then each
registered store's part (:data:`~flowsync_pipelines.privacy.stores.STORES`; the raw zone last),
recorded in the signed audit log by counts and a digest of the document.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from flowsync_pipelines.privacy import stores as privacy_stores
from flowsync_pipelines.privacy.interface import Export, Progress, Stores
from flowsync_pipelines.privacy.person import Person
from flowsync_pipelines.privacy.registry import audit


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def export_person(
    stores: Stores, person: Person, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Everything FlowSync holds about ``person``, as one JSON-ready document.

    Vault entries (names, emails), team memberships from ``flowsync.yaml``, pseudonyms, the
    signals they authored or that reference them, role-view items about them, digest lines
    naming them, and which landing records mention them (raw payloads also describe other
    people, so they are cited by ``landing_ref`` rather than copied).
    """
    say = progress or (lambda _: None)
    pseudonyms = list(person.pseudonyms)
    export = Export(
        stores=stores,
        identifiers=person.identifier_set(),
        pseudonyms=pseudonyms,
        say=say,
    )
    sections: dict[str, Any] = {}
    counts = {
        "vault_entries": len(person.vault_entries),
        "team_memberships": len(person.memberships),
        "pseudonyms": len(pseudonyms),
    }
    # The raw zone last: it is the slowest to search, and only cited.
    for privacy in sorted(privacy_stores.STORES, key=lambda s: s.raw_zone):
        part = privacy.export(export)
        sections |= part.sections
        counts |= part.counts
    document = {
        "request": person.request,
        "generated_at": datetime.now(UTC),
        "vault_entries": [asdict(e) for e in person.vault_entries],
        "team_memberships": [asdict(m) for m in person.memberships],
        "other_identifiers_seen_in_tools": sorted(person.discovered),
        "pseudonyms": pseudonyms,
        **sections,
        "counts": counts,
    }
    document = _jsonable(document)
    audit(
        stores,
        "gdpr_export",
        "person:" + hashlib.sha256("\n".join(sorted(pseudonyms)).encode()).hexdigest()[:16],
        {
            "generated_at": document["generated_at"],
            "pseudonyms": sorted(pseudonyms),
            "counts": document["counts"],
            "document_sha256": hashlib.sha256(
                json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
            ).hexdigest(),
        },
        say,
    )
    return document
