"""``forget``: erase a person from every registered store and record the erasure.

The erasure record comes first (salted digests in the metadata store), so that any sync from then
on scrubs re-fetched records at landing time; then each store, in registry order
(:data:`~flowsync_pipelines.privacy.stores.STORES`), cuts the person out; then the erasure is
completed and audited. Re-runnable: an interrupted erasure is finished by running it again, and
running it after it completed changes nothing and records nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.privacy import stores as privacy_stores
from flowsync_pipelines.privacy.identifiers import fold, substring_eligible
from flowsync_pipelines.privacy.interface import Erasure, GdprError, Progress, Stores
from flowsync_pipelines.privacy.person import Person
from flowsync_pipelines.privacy.registry import ErasureRegistry, audit


@dataclass(frozen=True)
class ForgetReport:
    """What an erasure changed. ``erasure_id`` is None when there was nothing (left) to erase."""

    erasure_id: str | None
    counts: dict[str, int]
    previous_erasure_id: str | None = None
    config_teams: tuple[str, ...] = ()  # teams in flowsync.yaml that still list the person

    @property
    def changed(self) -> bool:
        return self.erasure_id is not None


def forget_person(
    stores: Stores, person: Person, *, progress: Progress | None = None
) -> ForgetReport:
    """Erase ``person`` from every store and record the erasure (see the module docstring).

    Re-runnable: an interrupted erasure is finished by running it again, and running it after
    it completed changes nothing and records nothing.
    """
    say = progress or (lambda _: None)
    identifiers = person.identifier_set()
    pseudonyms = list(person.pseudonyms)
    store = MetadataStore(stores.metadata_url)
    try:
        registry = ErasureRegistry(store.engine)
        salt = registry.salt(create=True)
        if salt is None:  # pragma: no cover - the store refused the write
            raise GdprError(f"could not create the erasure salt in {stores.metadata_url}")
        entries = {
            registry.digest(i, salt): (len(fold(i.strip())), substring_eligible(fold(i.strip())))
            for i in person.identifiers
        }
        already = registry.registered(entries)
        new_entries = [(d, n, s) for d, (n, s) in entries.items() if d not in already]
        erasure_id = registry.incomplete_for(entries)
        if new_entries:
            erasure_id = erasure_id or uuid.uuid4().hex
            registry.start(
                erasure_id,
                request_digest=registry.digest(person.request, salt),
                pseudonyms=pseudonyms,
                entries=new_entries,
                identifier_count=len(entries),
            )
        erasure = Erasure(
            stores=stores,
            metadata=store,
            identifiers=identifiers,
            with_pseudonyms=person.identifier_set(with_pseudonyms=True),
            pseudonyms=pseudonyms,
            say=say,
        )
        counts: dict[str, int] = {}
        for privacy in privacy_stores.STORES:
            counts |= privacy.forget(erasure)
        refs, outbox_hashes = erasure.rewritten_refs, erasure.rewritten_files
        counts = {k: v for k, v in counts.items() if v}
        if counts and erasure_id is None:
            erasure_id = uuid.uuid4().hex  # identifiers known, but data came back: record it
            registry.start(
                erasure_id,
                request_digest=registry.digest(person.request, salt),
                pseudonyms=pseudonyms,
                entries=[],
                identifier_count=len(entries),
            )
        if erasure_id is not None:
            registry.complete(erasure_id, counts, pseudonyms)
            audit(
                stores,
                "gdpr_erasure",
                f"erasure:{erasure_id}",
                {
                    "erasure_id": erasure_id,
                    "pseudonyms": sorted(pseudonyms),
                    "identifiers": len(entries),
                    "counts": counts,
                    # Cited landing records rewritten by the scrub: SHA-256 of the old
                    # landing_ref (it may hold an identifier) -> the new one. Lets verify explain
                    # why a statement's cited payload hash changed.
                    "rewritten_landing_refs": {
                        hashlib.sha256(old.encode()).hexdigest(): new
                        for old, new in sorted(refs.items())
                    },
                    # Rendered digests scrubbed: SHA-256 of their bytes before -> after, so
                    # verify can say why a logged digest file no longer hashes as logged.
                    "rewritten_outbox_files": dict(sorted(outbox_hashes.items())),
                },
                say,
            )
        previous = next(iter(already.values()), None)
    finally:
        store.dispose()
    return ForgetReport(
        erasure_id=erasure_id,
        counts=counts,
        previous_erasure_id=previous,
        config_teams=tuple(m.team for m in person.memberships),
    )
