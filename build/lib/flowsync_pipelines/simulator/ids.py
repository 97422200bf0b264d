"""Deterministic identifiers derived from hashes of stable strings.

Every id in the simulated organisation comes from here so that the same seed always yields
the same ids in every process (no ``uuid4``, no ``hash()`` which is salted per process).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime

_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digest(parts: Iterable[object]) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def git_sha(*parts: object) -> str:
    """A 40-hex commit-sha-shaped id (sha1 of the parts; not a real git object hash)."""
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def hex_id(length: int, *parts: object) -> str:
    """Lower-case hex string of ``length`` characters (max 64)."""
    return _digest(parts).hex()[:length]


def uuid_from(*parts: object) -> str:
    """A version-4-shaped UUID string that is a pure function of ``parts``."""
    return str(uuid.UUID(bytes=_digest(parts)[:16], version=4))


def int_from(low: int, high: int, *parts: object) -> int:
    """Integer in ``[low, high]`` that is a pure function of ``parts``."""
    return low + int.from_bytes(_digest(parts)[:8], "big") % (high - low + 1)


def digits(length: int, *parts: object) -> str:
    """Numeric string of exactly ``length`` digits with a non-zero first digit."""
    return str(int_from(10 ** (length - 1), 10**length - 1, *parts))


def base36(number: int) -> str:
    """Upper-case base-36, as Sentry uses for issue short-id suffixes."""
    if number == 0:
        return "0"
    out = []
    while number:
        number, rem = divmod(number, 36)
        out.append(_BASE36[rem])
    return "".join(reversed(out))


def github_node_id(prefix: str, *parts: object) -> str:
    """GitHub's modern global node id shape, e.g. ``PR_kwDOAbC...``."""
    raw = base64.urlsafe_b64encode(_digest(parts)[:12]).decode().rstrip("=")
    return f"{prefix}_kwDO{raw}"


def legacy_node_id(kind: str, number: int) -> str:
    """GitHub's legacy base64 node id (``MDQ6VXNlcjE=`` style) still returned for users."""
    text = f"0{len(kind)}:{kind}{number}"
    return base64.b64encode(text.encode()).decode()


class SequentialIds:
    """Hands out increasing integer ids in the order records are *created in time*.

    Real services allocate ids from a global counter, so a record created later always has a
    larger id; sorting by id must therefore equal sorting by creation time.
    """

    def __init__(self, first: int, max_gap: int, salt: str) -> None:
        self._next = first
        self._max_gap = max_gap
        self._salt = salt
        self._count = 0

    def assign(self, created: list[tuple[datetime, str]]) -> dict[str, int]:
        """Map each key to an id; ``created`` is (creation time, unique key)."""
        out: dict[str, int] = {}
        for _, key in sorted(created):
            self._count += 1
            self._next += int_from(1, self._max_gap, self._salt, self._count)
            out[key] = self._next
        return out
