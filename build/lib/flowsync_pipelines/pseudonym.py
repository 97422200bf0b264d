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


MENTION = r"@([A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)"
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"


def scrub_free_text(text: pl.Series, sources: pl.Series, key: str) -> pl.Series:
    """Replace ``@mentions`` and email addresses in free text with their pseudonyms.

    A mention on GitHub is a GitHub login, so it is hashed as ``github:<login>`` (the same
    pseudonym the person's events carry); emails are hashed as ``email:<address>``. Replacement
    is one vectorised pass with every distinct identifier found in the column.
    """
    frame = pl.DataFrame({"text": text, "source": sources})
    emails = frame.get_column("text").str.extract_all(EMAIL).explode().drop_nulls().unique()
    mentions = (
        frame.select(pl.col("source"), pl.col("text").str.extract_all(MENTION).alias("mention"))
        .explode("mention")
        .drop_nulls()
        .unique()
    )
    patterns: list[str] = []
    replacements: list[str] = []
    for address in emails.to_list():
        patterns.append(address)
        replacements.append(pseudonym(key, "email", address))
    # A mention is hashed per source; the text of different sources is replaced separately.
    by_source: dict[str, tuple[list[str], list[str]]] = {}
    for source, mention in mentions.iter_rows():
        pats, reps = by_source.setdefault(source, (list(patterns), list(replacements)))
        pats.append(mention)
        reps.append("@" + pseudonym(key, source, mention[1:]))
    if not by_source and not patterns:
        return text
    out = frame.get_column("text")
    if not by_source:
        return _replace_longest_first(out, patterns, replacements)
    parts = []
    for source, part in frame.with_row_index("row").partition_by("source", as_dict=True).items():
        pats, reps = by_source.get(source[0], (patterns, replacements))
        parts.append(
            part.select(
                "row", _replace_longest_first(part.get_column("text"), pats, reps).alias("text")
            )
        )
    return pl.concat(parts).sort("row").get_column("text").alias(text.name)


def _replace_longest_first(
    text: pl.Series, patterns: list[str], replacements: list[str]
) -> pl.Series:
    if not patterns:
        return text
    order = sorted(range(len(patterns)), key=lambda i: -len(patterns[i]))
    return text.str.replace_many(
        [patterns[i] for i in order], [replacements[i] for i in order], leftmost=True
    )
