"""Corrections to automatic resolution: ``identities.yaml`` merge and split groups."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml

from flowsync_pipelines.env import IDENTITIES_ENV
from flowsync_pipelines.pseudonym import pseudonym


@dataclass(frozen=True)
class Overrides:
    """Corrections to automatic resolution, read from ``identities.yaml``.

    The file (``FLOWSYNC_IDENTITIES``, default ``$FLOWSYNC_HOME/identities.yaml``) has two
    optional lists of account groups::

        # Each merge group: accounts that are one person (method "override", confidence 1.0).
        merge:
          - [github:jdoe-acme, "jira:712020:5b10ac8d-82e0-4c7f-9a1e-0123456789ab"]
          - [github:zoe-m, email:zoe@personal.example]
        # Each split group: accounts that are never the same person, pairwise.
        split:
          - [github:jsmith, email:j.smith@acme.example]

    An account is written ``<source>:<handle>``, split at the first colon: ``source`` is the
    tool as FlowSync names it (``github``, ``gitlab``, ``jira``, ``linear``, ``figma``,
    ``sentry``, or ``email`` for commit authors known only by address) and ``handle`` is what
    that tool shows (login, accountId, user id, address), compared case-insensitively. Quote an
    entry that holds ``[``, ``]``, ``,``, ``#`` or ``": "`` (``"github:renovate[bot]"``).

    Overrides win over every other rule, with two limits: bots and deleted accounts are never
    merged, and a merge group that contradicts a split group is an error. Groups naming
    accounts FlowSync has not seen yet are kept and apply once the accounts appear.
    """

    merge: tuple[tuple[tuple[str, str], ...], ...] = ()
    split: tuple[tuple[tuple[str, str], ...], ...] = ()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, origin: str = "identities.yaml") -> Overrides:
        """Validate the parsed YAML; errors name the group and entry, never the handle."""
        unknown = sorted(set(raw) - {"merge", "split"})
        if unknown:
            message = f"{origin}: unknown key(s) {unknown}; only 'merge' and 'split' are allowed."
            raise ValueError(message)
        return cls(
            merge=_groups(raw.get("merge"), "merge", origin),
            split=_groups(raw.get("split"), "split", origin),
        )


def _groups(raw: Any, kind: str, origin: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{origin}: '{kind}' must be a list of account lists.")
    groups = []
    for number, group in enumerate(raw, start=1):
        if not isinstance(group, list) or len(group) < 2:
            message = f"{origin}: {kind} group {number} must list at least two accounts."
            raise ValueError(message)
        refs = []
        for position, entry in enumerate(group, start=1):
            source, _, handle = (
                str(entry).partition(":") if isinstance(entry, str) else ("", "", "")
            )
            if not source.strip() or not handle.strip():
                message = (
                    f"{origin}: {kind} group {number}, entry {position} is not written "
                    "'<source>:<handle>' (e.g. github:jdoe-acme)."
                )
                raise ValueError(message)
            refs.append((source.strip().lower(), handle.strip()))
        groups.append(tuple(refs))
    return tuple(groups)


def overrides_path(home: Path) -> Path:
    """``FLOWSYNC_IDENTITIES`` if set, else ``<home>/identities.yaml``."""
    explicit = os.environ.get(IDENTITIES_ENV)
    return Path(explicit).resolve() if explicit else home / "identities.yaml"


def load_overrides(path: Path) -> Overrides | None:
    """The overrides in ``path``; ``None`` when there is no such file (no corrections)."""
    if not path.exists():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        message = (
            f"{path}: {problem}{where}. Quote an account holding [ ] , # or ': ' "
            '(e.g. "github:dependabot[bot]").'
        )
        # Not chained: the parser's own message quotes the line, and the line names a person.
        raise ValueError(message) from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping with 'merge' and/or 'split' lists.")
    return Overrides.from_mapping(raw, origin=str(path))


def override_groups(overrides: Overrides | None, key: str) -> list[list[str]]:
    """Each merge group's account pseudonyms."""
    if overrides is None:
        return []
    return [[pseudonym(key, s, h) for s, h in group] for group in overrides.merge]


def split_pairs(overrides: Overrides | None, key: str) -> set[frozenset[str]]:
    """Pairs of account pseudonyms a split group keeps apart."""
    if overrides is None:
        return set()
    return {
        frozenset((pseudonym(key, *a), pseudonym(key, *b)))
        for group in overrides.split
        for a, b in combinations(group, 2)
        if pseudonym(key, *a) != pseudonym(key, *b)
    }
