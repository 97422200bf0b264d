"""Personal identifiers: how they are matched in text and JSON, masked, and scrubbed.

Store-independent: every store's privacy module (``*_privacy.py`` beside the store) matches and
scrubs with these, so landing-time scrubbing, ``forget`` and the scan agree byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl

from flowsync_pipelines.landing import canonical_json
from flowsync_pipelines.sources.registry import account_keys

ERASED = "[erased]"
GHOST_LOGIN = "ghost"  # what GitHub and GitLab show in place of an account that no longer exists
MIN_IDENTIFIER_LENGTH = 4
PLACEHOLDERS = frozenset({ERASED, GHOST_LOGIN})

# JSON keys whose value names an account, as the source specs declare them. When the whole value
# is an erased identifier the object is that account: the keys get what a tool sends for a
# vanished account. A user object that shows the person's display name is theirs too (Figma's
# user is only ``{id, handle}``, with the display name as ``handle``); its account id then goes.
_KEYS = account_keys()
_GHOSTED_KEYS = _KEYS.ghosted
_NULLED_KEYS = _KEYS.nulled
ACCOUNT_KEYS = _GHOSTED_KEYS | _NULLED_KEYS
_NAME_KEYS = _KEYS.names
_ACCOUNT_DETAIL_KEYS = _KEYS.details

_WORD_START = re.compile(r"(?<![^\W_])[^\W_]")
_WORD_END = re.compile(r"[^\W_](?![^\W_])")


def fold(text: str) -> str:
    """Lower-case ``text`` keeping its length, so positions in the result map back to ``text``."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def substring_eligible(folded: str) -> bool:
    return len(folded) >= MIN_IDENTIFIER_LENGTH and folded[0].isalnum() and folded[-1].isalnum()


def salted_digest(salt: bytes, folded: str) -> str:
    return hashlib.blake2b(folded.encode(), key=salt, digest_size=16).hexdigest()


@dataclass(frozen=True)
class IdentifierKind:
    """What a matched identifier is: an erased person's, and/or a display name."""

    erased: bool
    name: bool = False


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    kind: IdentifierKind


class IdentifierSet:
    """Personal identifiers to find in text: in clear and/or as salted digests.

    In clear for the scan and for ``forget`` (the person is known); as digests for the erasure
    registry, which must recognise an erased person's identifiers without storing them. Both
    are matched by the same code, so landing-time scrubbing of a re-fetched record produces
    exactly the bytes ``forget`` wrote, and landing's de-duplication absorbs it.
    """

    def __init__(
        self,
        plain: Mapping[str, IdentifierKind] | None = None,
        *,
        salt: bytes | None = None,
        digests: Iterable[tuple[str, int, bool]] = (),
        min_length: int = MIN_IDENTIFIER_LENGTH,
    ) -> None:
        self._plain: dict[str, IdentifierKind] = {}
        for identifier, kind in (plain or {}).items():
            folded = fold(identifier.strip())
            if len(folded) < min_length or folded in PLACEHOLDERS:
                continue
            known = self._plain.get(folded)
            # Erased wins, and a string that is both a name and a handle is not "just a name".
            self._plain[folded] = IdentifierKind(
                erased=kind.erased or bool(known and known.erased),
                name=kind.name and (known is None or known.name),
            )
        entries = list(digests)
        self._salt = salt
        self._digests = frozenset(d for d, _, _ in entries)
        if self._digests and salt is None:
            raise ValueError("digests need the salt they were made with")
        lengths = {len(k) for k in self._plain if substring_eligible(k)}
        lengths |= {length for _, length, substring in entries if substring}
        self._lengths = sorted(lengths, reverse=True)  # longest first: "a.b@x.io" before "a.b"
        self._cache: dict[tuple[str, bool], tuple[Match, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._plain or self._digests)

    def __len__(self) -> int:
        return len(self._plain) + len(self._digests)

    def __contains__(self, identifier: object) -> bool:
        return isinstance(identifier, str) and self.kind(fold(identifier.strip())) is not None

    def patterns(self) -> list[str]:
        """Identifiers in clear (folded), for a vectorised substring pre-filter."""
        return sorted(self._plain)

    @property
    def has_digests(self) -> bool:
        return bool(self._digests)

    def kind(self, folded: str) -> IdentifierKind | None:
        """What ``folded`` is, when it is exactly one of the identifiers; else None."""
        found = self._plain.get(folded)
        if found is not None:
            return found
        if self._digests and salted_digest(self._salt, folded) in self._digests:  # type: ignore[arg-type]
            return IdentifierKind(erased=True)
        return None

    def whole(self, text: str, *, account_field: bool = False) -> IdentifierKind | None:
        """The identifier ``text`` is in its entirety (short ones only in an account field)."""
        folded = fold(text.strip())
        if not folded or (len(folded) < MIN_IDENTIFIER_LENGTH and not account_field):
            return None
        return self.kind(folded)

    def find(self, text: str, *, account_field: bool = False) -> tuple[Match, ...]:
        """Non-overlapping occurrences in ``text`` on word boundaries, longest first."""
        key = (text, account_field)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        whole = self.whole(text, account_field=account_field)
        if whole is not None:
            result: tuple[Match, ...] = (Match(0, len(text), whole),)
        else:
            result = self._find_parts(text)
        if len(self._cache) > 500_000:
            self._cache.clear()
        self._cache[key] = result
        return result

    def _find_parts(self, text: str) -> tuple[Match, ...]:
        if not self._lengths or len(text) < self._lengths[-1]:
            return ()
        folded = fold(text)
        ends = {m.end() for m in _WORD_END.finditer(folded)}
        found: list[Match] = []
        free_from = 0
        for start_match in _WORD_START.finditer(folded):
            start = start_match.start()
            if start < free_from:
                continue
            for length in self._lengths:
                end = start + length
                if end in ends and (kind := self.kind(folded[start:end])) is not None:
                    found.append(Match(start, end, kind))
                    free_from = end
                    break
        return tuple(found)


def mask(text: str) -> str:
    """An identifier shown without giving it away: ``j***@acme.example``, ``G*** O***``."""
    text = text.strip()
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    words = text.split()
    if len(words) > 1:
        return " ".join(f"{w[:1]}***" for w in words)
    return f"{text[:1]}***{text[-1:]}" if len(text) > 3 else "***"


# -- scrubbing ------------------------------------------------------------------------------------
def scrub_text(text: str, identifiers: IdentifierSet) -> str:
    """``text`` with every identifier occurrence replaced by ``[erased]``."""
    return _replace(text, identifiers.find(text))


def _replace(text: str, matches: Sequence[Match]) -> str:
    if not matches:
        return text
    parts: list[str] = []
    last = 0
    for match in matches:
        parts += [text[last : match.start], ERASED]
        last = match.end
    return "".join(parts) + text[last:]


def _scrub_string(text: str, identifiers: IdentifierSet, key: str | None) -> str | None:
    if identifiers.whole(text, account_field=key in ACCOUNT_KEYS) is not None:
        if key in _GHOSTED_KEYS:
            return GHOST_LOGIN
        if key in _NULLED_KEYS:
            return None
        return ERASED
    return scrub_text(text, identifiers)


def scrub_json(value: Any, identifiers: IdentifierSet, key: str | None = None) -> Any:
    """A copy of ``value`` with identifiers scrubbed (the same object when nothing matched)."""
    if isinstance(value, str):
        return _scrub_string(value, identifiers, key)
    if isinstance(value, list):
        items = [scrub_json(item, identifiers, key) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    is_account = any(
        k in ACCOUNT_KEYS | _NAME_KEYS
        and isinstance(v, str)
        and identifiers.whole(v, account_field=k in ACCOUNT_KEYS) is not None
        for k, v in value.items()
    )
    out: dict[Any, Any] = {}
    changed = False
    for k, v in value.items():
        new_key = scrub_text(k, identifiers) if isinstance(k, str) else k
        while new_key in out:  # two keys scrubbed to the same text: keep both values
            new_key = f"{new_key}~"
        if is_account and k in _ACCOUNT_DETAIL_KEYS and v is not None:
            new_value = None
        else:
            new_value = scrub_json(v, identifiers, k if isinstance(k, str) else None)
        changed = changed or new_key != k or new_value is not v
        out[new_key] = new_value
    return out if changed else value


def loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # integers beyond 64 bits, which orjson refuses


def scrub_payload(text: str, identifiers: IdentifierSet) -> str:
    """A landing payload (JSON text) with ``identifiers`` scrubbed; unchanged text if none.

    Matching runs on decoded JSON strings and keys, and the result is serialised the way
    landing serialises payloads (:func:`~flowsync_pipelines.landing.canonical_json`), so the
    document stays valid JSON and scrubbing the same record twice gives the same bytes. Text
    that is not JSON is scrubbed as plain text.
    """
    if not identifiers:
        return text
    try:
        document = loads(text)
    except ValueError:
        return scrub_text(text, identifiers)
    scrubbed = scrub_json(document, identifiers)
    return text if scrubbed is document else canonical_json(scrubbed)


def prefilter(column: pl.Series, identifiers: IdentifierSet) -> pl.Series:
    """Rows that may hold an identifier: all of them when some are only known as digests."""
    if identifiers.has_digests or not identifiers.patterns():
        return pl.Series([identifiers.has_digests] * len(column), dtype=pl.Boolean)
    patterns = sorted(
        {p for p in identifiers.patterns()} | {p.lower() for p in identifiers.patterns()}
    )
    return column.str.to_lowercase().str.contains_any(patterns).fill_null(False)


def json_strings(value: Any) -> Iterator[tuple[str, str | None]]:
    """``(text, key)`` for every string (and key) in a decoded JSON document."""
    if isinstance(value, str):
        yield value, None
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield k, None
            if isinstance(v, str):
                yield v, k if isinstance(k, str) else None
            else:
                yield from json_strings(v)


def matches_in_value(
    value: str, identifiers: IdentifierSet, *, is_json: bool
) -> list[tuple[str, IdentifierKind]]:
    """``(matched text, kind)`` for every identifier occurrence in a stored value."""
    found: list[tuple[str, IdentifierKind]] = []
    texts: Iterable[tuple[str, str | None]] = [(value, None)]
    if is_json:
        with suppress(ValueError):
            texts = json_strings(loads(value))
    for text, key in texts:
        for match in identifiers.find(text, account_field=key in ACCOUNT_KEYS):
            found.append((text[match.start : match.end], match.kind))
    return found


def is_erased(identifiers: IdentifierSet, folded: str) -> bool:
    """Whether ``folded`` is one of ``identifiers`` and an erased person's."""
    kind = identifiers.kind(folded)
    return kind is not None and kind.erased
