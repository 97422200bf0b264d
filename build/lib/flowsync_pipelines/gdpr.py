"""GDPR's public face: what the CLI (:mod:`flowsync_pipelines.gdpr_cli`), the ``pii_scan`` asset
check, landing-time scrubbing and the tests import.

The code lives in :mod:`flowsync_pipelines.privacy` (its docstring tells what export, forget and
the scan do, store by store) and, for each store, in a privacy module beside the store's code.
"""

from flowsync_pipelines.landing_privacy import scrub_erased, scrub_landing_frame
from flowsync_pipelines.privacy.export import export_person
from flowsync_pipelines.privacy.findings import (
    AUDIT,
    CONFIG,
    DELIVERED,
    OUTSIDE,
    RAW,
    VAULT,
    Finding,
    ScanReport,
)
from flowsync_pipelines.privacy.forget import ForgetReport, forget_person
from flowsync_pipelines.privacy.identifiers import (
    ACCOUNT_KEYS,
    ERASED,
    GHOST_LOGIN,
    MIN_IDENTIFIER_LENGTH,
    IdentifierKind,
    IdentifierSet,
    Match,
    fold,
    mask,
    scrub_payload,
    scrub_text,
)
from flowsync_pipelines.privacy.interface import GdprError, PrivacyStore, Progress, Stores
from flowsync_pipelines.privacy.person import (
    MEMBER_HANDLE_FIELDS,
    Membership,
    Person,
    VaultEntry,
    find_person,
)
from flowsync_pipelines.privacy.registry import (
    ErasureRecord,
    ErasureRegistry,
    erased_identifiers,
    previous_erasure,
)
from flowsync_pipelines.privacy.scan import pii_scan

__all__ = [
    "ACCOUNT_KEYS",
    "AUDIT",
    "CONFIG",
    "DELIVERED",
    "ERASED",
    "GHOST_LOGIN",
    "MEMBER_HANDLE_FIELDS",
    "MIN_IDENTIFIER_LENGTH",
    "OUTSIDE",
    "RAW",
    "VAULT",
    "ErasureRecord",
    "ErasureRegistry",
    "Finding",
    "ForgetReport",
    "GdprError",
    "IdentifierKind",
    "IdentifierSet",
    "Match",
    "Membership",
    "Person",
    "PrivacyStore",
    "Progress",
    "ScanReport",
    "Stores",
    "VaultEntry",
    "erased_identifiers",
    "export_person",
    "find_person",
    "fold",
    "forget_person",
    "mask",
    "pii_scan",
    "previous_erasure",
    "scrub_erased",
    "scrub_landing_frame",
    "scrub_payload",
    "scrub_text",
]
