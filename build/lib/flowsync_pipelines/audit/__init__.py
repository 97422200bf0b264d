"""The signed audit log: what FlowSync stated and did, hash-chained and Ed25519-signed.

- :mod:`.chain` — the canonical form and exactly which bytes are hashed and signed;
- :mod:`.keys` — signing keys (``FLOWSYNC_SIGNING_KEY``) and the published public key;
- :mod:`.log` — :class:`AuditLog`: append, append_many, append_once, rotate;
- :mod:`.verify` — :func:`verify_log` (chain and signatures), :func:`verify_entries` and the
  re-deriver registry that statements and digests plug into.
"""

from flowsync_pipelines.audit.chain import GENESIS, canonical_json, entry_hash, key_id
from flowsync_pipelines.audit.keys import (
    PUBLIC_KEY_FILE,
    SIGNING_KEY_ENV,
    SigningKeyError,
    generate_signing_key,
    load_signing_key,
)
from flowsync_pipelines.audit.log import (
    KINDS,
    AuditEntry,
    AuditError,
    AuditKind,
    AuditLog,
    read_entries,
)
from flowsync_pipelines.audit.verify import (
    Problem,
    Rewrite,
    VerifyContext,
    VerifyReport,
    landing_rewrites,
    rederive_log,
    register_batch_rederiver,
    register_rederiver,
    verify_digest_file,
    verify_entries,
    verify_log,
    verify_statement,
)

__all__ = [
    "GENESIS",
    "KINDS",
    "PUBLIC_KEY_FILE",
    "SIGNING_KEY_ENV",
    "AuditEntry",
    "AuditError",
    "AuditKind",
    "AuditLog",
    "Problem",
    "Rewrite",
    "SigningKeyError",
    "VerifyContext",
    "VerifyReport",
    "canonical_json",
    "entry_hash",
    "generate_signing_key",
    "key_id",
    "landing_rewrites",
    "load_signing_key",
    "read_entries",
    "rederive_log",
    "register_batch_rederiver",
    "register_rederiver",
    "verify_digest_file",
    "verify_entries",
    "verify_log",
    "verify_statement",
]
