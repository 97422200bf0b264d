"""What an audit entry's hash and signature cover: the canonical form, exactly.

Imports only the standard library and ``cryptography`` so that verification workers start light.

Canonical JSON is ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8: keys sorted by code point, no
whitespace between tokens, non-ASCII characters written as themselves, floats as Python's
shortest round-trip ``repr``, NaN and infinities refused. Dates and datetimes are written as
their ISO-8601 strings (pass UTC datetimes).

An entry hashes its *envelope* — the canonical JSON of
``{"at", "content", "key_id", "kind", "seq", "subject"}`` with ``content`` the entry's content
object — after the 32 raw bytes of the previous entry's hash::

    entry_hash = SHA-256( bytes.fromhex(prev_hash) ‖ UTF-8(canonical_json(envelope)) )
    signature  = Ed25519-sign(private key, bytes.fromhex(entry_hash))

``prev_hash`` of the first entry is 64 zeros (:data:`GENESIS`). Hashes and signatures are stored
as lowercase hex; ``at`` is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(
        f"audit content must be JSON data (dict, list, str, int, float, bool, None, date); "
        f"got {type(value).__name__}"
    )


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text (see the module docstring)."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def _string(value: str) -> str:
    """A JSON string exactly as ``json.dumps(value, ensure_ascii=False)`` writes it."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return encode_basestring(value)


def envelope_json(seq: int, at: str, kind: str, subject: str, key_id: str, content: str) -> str:
    """``canonical_json`` of the envelope, built around ``content``'s canonical text.

    Equal to ``canonical_json({"at": at, "content": json.loads(content), "key_id": key_id,
    "kind": kind, "seq": seq, "subject": subject})`` whenever ``content`` is canonical.
    """
    return (
        f'{{"at":{_string(at)},"content":{content},"key_id":{_string(key_id)},'
        f'"kind":{_string(kind)},"seq":{int(seq)},"subject":{_string(subject)}}}'
    )


def entry_hash(
    prev_hash: str, seq: int, at: str, kind: str, subject: str, key_id: str, content: str
) -> str:
    """SHA-256 hex of ``bytes.fromhex(prev_hash) ‖ UTF-8(envelope)``."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(envelope_json(seq, at, kind, subject, key_id, content).encode("utf-8"))
    return digest.hexdigest()


def content_sha256(content: str) -> str:
    """SHA-256 hex of the content's canonical UTF-8 bytes (the idempotence key)."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


# A row as verification reads it, in this order (see ``check_rows``).
Row = tuple[int, str, str, str, str, str, str, str, str, str]
# (seq, field, expected, found)
Finding = tuple[int, str, str, str]


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)  # fast; integers beyond 64 bits fall back to json
    except orjson.JSONDecodeError:
        return json.loads(text)


def _hex_ok(value: str | None, length: int) -> bool:
    if value is None or len(value) != length:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def check_rows(rows: list[Row], keys: dict[int, bytes]) -> list[Finding]:
    """Everything about each row that needs no other row: canonical content, hashes, signature.

    ``rows`` are ``(seq, at, kind, subject, content, content_sha256, prev_hash, entry_hash,
    signature, key_id)``; ``keys`` maps a row's ``seq`` to the raw public key that must have
    signed it. Returns ``(seq, field, expected, found)`` for every difference.
    """
    found: list[Finding] = []
    verifiers: dict[bytes, Ed25519PublicKey] = {}
    for seq, at, kind, subject, content, c_sha, prev, stored_hash, signature, kid in rows:
        try:
            canonical = canonical_json(_loads(content))
        except (ValueError, TypeError):
            canonical = None
        if canonical != content:
            found.append((seq, "content", "canonical JSON", _clip(content)))
        digest = content_sha256(content)
        if digest != c_sha:
            found.append((seq, "content_sha256", digest, str(c_sha)))
        if not _hex_ok(prev, 64):
            found.append((seq, "prev_hash", "64 hex digits", str(prev)))
            continue
        recomputed = entry_hash(prev, seq, at, kind, subject, kid, content)
        if recomputed != stored_hash:
            found.append((seq, "entry_hash", recomputed, str(stored_hash)))
        raw = keys.get(seq)
        if raw is None:
            continue  # no key may sign here: reported by the chain walk
        if not _hex_ok(signature, 128) or not _hex_ok(stored_hash, 64):
            found.append((seq, "signature", "valid Ed25519 signature", _clip(str(signature))))
            continue
        verifier = verifiers.get(raw)
        if verifier is None:
            verifier = verifiers[raw] = Ed25519PublicKey.from_public_bytes(raw)
        try:
            verifier.verify(bytes.fromhex(signature), bytes.fromhex(stored_hash))
        except InvalidSignature:
            found.append(
                (seq, "signature", f"valid signature by key {key_id(raw)}", _clip(signature))
            )
    return found


def key_id(public_raw: bytes) -> str:
    """A key's name: the first 16 hex digits of SHA-256 over its 32 raw public-key bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
