"""Ed25519 signing keys of the audit log: generate, read, publish.

``FLOWSYNC_SIGNING_KEY`` holds the private key, as base64 of its 32 raw bytes (what
``flowsync keys generate`` prints) or as a PEM ``PRIVATE KEY`` block. A key is named by its
``key_id``: the first 16 hex digits of SHA-256 over the 32 raw public-key bytes.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from flowsync_pipelines.env import SIGNING_KEY_ENV

PUBLIC_KEY_FILE = "audit_public_key.pem"  # published beside the log, in $FLOWSYNC_HOME


class SigningKeyError(ValueError):
    """A key could not be read; the message says which form was expected (never the key)."""


def generate_signing_key() -> str:
    """A new Ed25519 private key: base64 of its 32 raw bytes (``FLOWSYNC_SIGNING_KEY``'s form)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode("ascii")


def load_signing_key(text: str, *, name: str = SIGNING_KEY_ENV) -> Ed25519PrivateKey:
    """Read a private key given as base64 of 32 raw bytes or as a PEM block.

    The error names ``name`` (the env var) and the expected forms, never the value.
    """
    text = text.strip()
    if not text:
        raise SigningKeyError(f"{name} is empty; generate a key with `flowsync keys generate`")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError) as err:
            raise SigningKeyError(
                f"{name} is a PEM block but not an unencrypted private key"
            ) from err
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{name} is a PEM private key but not an Ed25519 one")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise SigningKeyError(
            f"{name} is neither base64 nor PEM; expected base64 of a 32-byte Ed25519 private "
            "key (`flowsync keys generate`) or a PEM PRIVATE KEY block"
        ) from err
    if len(raw) != 32:
        raise SigningKeyError(f"{name} decodes to {len(raw)} bytes; an Ed25519 private key has 32")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of the public key (of a private key's pair)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(public_raw: bytes) -> str:
    """The public key as a PEM ``PUBLIC KEY`` block (SubjectPublicKeyInfo)."""
    public = Ed25519PublicKey.from_public_bytes(public_raw)
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(text: str) -> bytes:
    """Raw public-key bytes from a PEM ``PUBLIC KEY`` block or base64 of the 32 raw bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError("the published public key is not an Ed25519 key")
        return public_bytes(key)
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise SigningKeyError(f"the public key decodes to {len(raw)} bytes; Ed25519 has 32")
    return raw


def publish_public_key(path: Path, public_raw: bytes) -> None:
    """Write the public key as PEM to ``path`` (replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(public_key_pem(public_raw), encoding="ascii")
    tmp.replace(path)


def read_published_key(path: Path) -> bytes | None:
    """The raw public key published at ``path``, or ``None`` when there is no file."""
    if not path.exists():
        return None
    return load_public_key(path.read_text(encoding="ascii"))
