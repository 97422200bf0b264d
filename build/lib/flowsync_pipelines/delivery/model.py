"""The digest as channels see it: a title and sections of items, each with a link; statements
carry their band, facts none.

Channel renderers (:mod:`.formats`) read only this model, so the per-role digests can replace the
adapter below without touching delivery.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from flowsync_pipelines.digest import Digest, Statement


@dataclass(frozen=True)
class Item:
    """One line. A statement carries its band and confidence; a fact read from the tools' records
    (a count, a waiting pull request, a DORA figure) carries neither."""

    text: str
    band: str | None = None  # High / Medium / Low; None for a fact
    confidence: float | None = None
    url: str | None = None
    label: str = ""

    def badge(self, template: str = " · {band} ({confidence:.2f})") -> str:
        """The band as a channel shows it, or nothing for a fact."""
        if self.band is None or self.confidence is None:
            return ""
        return template.format(band=self.band, confidence=self.confidence)


@dataclass(frozen=True)
class Section:
    title: str
    items: list[Item]
    more: int = 0  # items left out upstream ("and N more")


@dataclass(frozen=True)
class Trend:
    """A weekly series worth a picture (DORA, cycle time): oldest first, None = no data."""

    title: str
    values: list[float | None]
    unit: str = ""
    note: str = ""  # e.g. the latest value and its performance level

    @property
    def sparkline(self) -> str:
        return sparkline(self.values)


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None]) -> str:
    """A compact text chart (▁▂▃▄▅▆▇█; a space where a week has no data)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    # weeks before the first with data are left out (a young team has fewer than 12)
    values = values[next(i for i, v in enumerate(values) if v is not None) :]
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(
        " " if v is None else SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values
    )


@dataclass(frozen=True)
class DigestModel:
    digest_key: str  # subscription id and day: the same digest renders the same everywhere
    title: str
    as_of: date
    sections: list[Section] = field(default_factory=list)
    html_url: str = ""  # the full digest (overflowing channels link here)
    trends: list[Trend] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return not any(s.items for s in self.sections)


def digest_id(subscription_id: str, day: date, channel: str) -> str:
    """The outbox key of one subscription's digest of one local day on one channel.

    Deterministic, so enqueueing twice finds the same row and a Slack post, an email's Message-ID
    and a Teams card all carry the same name on every retry.
    """
    raw = f"{subscription_id}\x1f{day.isoformat()}\x1f{channel}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def from_digest(
    digest: Digest, *, key: str, html_url: str = "", trends: list[Trend] | None = None
) -> DigestModel:
    """The model of a rendered role digest: its sections' statements, then its numbers."""
    sections = []
    for sec in digest.sections:
        for group in sec.groups:
            sections.append(
                Section(
                    title=f"{sec.title}: {group.title}",
                    items=[_item(s) for s in group.lines],
                    more=group.more,
                )
            )
    if digest.statements:
        sections.append(Section(title="Numbers", items=[_item(s) for s in digest.statements]))
    return DigestModel(
        digest_key=key,
        title=f"{digest.team_name} — {digest.role.replace('_', ' ')} digest, "
        f"{digest.as_of.isoformat()}",
        as_of=digest.as_of,
        sections=sections,
        html_url=html_url,
        trends=list(trends or []),
    )


def _item(statement: Statement) -> Item:
    first = statement.citations[0] if statement.citations else None
    return Item(
        text=statement.text,
        band=statement.band,
        confidence=None if statement.confidence is None else float(statement.confidence),
        url=first.url if first else None,
        label=first.label if first else "",
    )


def file_name(subscription_id: str, day: date, suffix: str) -> str:
    """Where a subscription's file digest of one local day lives, relative to the outbox."""
    name = subscription_id.replace("/", "__").replace("@", "_at_").replace("#", "")
    return f"{day.isoformat()}/{name}.{suffix}"
