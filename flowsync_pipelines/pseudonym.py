"""Keyed-hash pseudonyms: personal identifiers become HMAC-SHA256 digests at the boundary.

The key (``FLOWSYNC_PSEUDONYM_KEY``) never leaves the process. The same account always maps to
the same pseudonym under one key, so joins work without any store holding the identifier.
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

PREFIX = "p_"


def pseudonym(key: str, source: str, handle: str) -> str:
    """The pseudonym of ``handle`` on ``source`` (handles compare case-insensitively)."""
    message = f"{source}:{handle.strip().lower()}".encode()
    return PREFIX + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:24]


def pseudonymise(expr_source: str, handles: pl.Series, key: str) -> pl.Series:
    """Pseudonymise a column of handles; nulls stay null.

    Unique values are hashed once, so a column of a million events costs one HMAC per account.
    """
    uniques = handles.drop_nulls().unique()
    mapping = pl.DataFrame(
        {
            "handle": uniques,
            "pseudonym": [pseudonym(key, expr_source, h) for h in uniques.to_list()],
        },
        schema={"handle": pl.String, "pseudonym": pl.String},
    )
    return (
        handles.to_frame("handle")
        .join(mapping, on="handle", how="left", maintain_order="left")
        .get_column("pseudonym")
    )
