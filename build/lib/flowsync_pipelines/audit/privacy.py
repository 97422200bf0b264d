"""The audit log's privacy: scanned, never rewritten.

The log is signed and append-only: an erasure that rewrote it would break its chain. It holds
pseudonyms and digests, never identifiers — the scan checks that — and the erasure itself is an
entry there (:func:`flowsync_pipelines.privacy.registry.audit`), so a statement about an erased
person still verifies. An erased person's pseudonym in the log is reported, not a violation.
"""

from __future__ import annotations

from flowsync_pipelines.metadata import AUDIT_TABLES
from flowsync_pipelines.metadata_privacy import reflected_tables, scan_tables
from flowsync_pipelines.privacy.findings import AUDIT, OUTSIDE
from flowsync_pipelines.privacy.interface import Erasure, Export, Exported, Scan
from flowsync_pipelines.privacy.registry import ErasureRegistry

_NAMES = frozenset(t.name for t in AUDIT_TABLES)


class AuditLogPrivacy:
    """The audit log's side of :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`.

    Its findings are the metadata store's (``metadata:audit_log.content``), whose database
    holds it.
    """

    raw_zone = False

    def scan(self, scan: Scan) -> None:
        erased = ErasureRegistry(scan.metadata.engine).erased_pseudonyms()
        tables = [t for t in reflected_tables(scan.metadata.engine) if t.name in _NAMES]
        scan_tables(scan, tables, lambda _, __, matched: AUDIT if matched in erased else OUTSIDE)

    def forget(self, erasure: Erasure) -> dict[str, int]:
        return {}  # append-only by design: see the module docstring

    def export(self, export: Export) -> Exported:
        return Exported()  # entries name pseudonyms and counts, which the export lists
