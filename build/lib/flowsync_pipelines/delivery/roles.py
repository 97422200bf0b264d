"""Per-role digests (engineer, product manager, executive) from the role views and statements.

Every role's digest has the same shape, which people asked for: first the three things that
matter most today, then what changed since the recipient's last digest, then risks with their
bands, then details; each item once. A day where nothing is new, risky or waiting on the
recipient gets the short "nothing needs you" digest. Trends worth a picture (DORA, cycle time)
travel as :class:`Trend` and each channel draws them (SVG or a text sparkline).

Access is decided here, in one place: the product-manager and executive digests are built from
views without person columns and never copy a statement's text (it may carry a pseudonym); they
word their own sentences from kinds, ids and titles. The engineer digest holds only rows whose
``person`` is one of the recipient's own accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from flowsync_pipelines.bands import at_least
from flowsync_pipelines.delivery.model import DigestModel, Item, Section, Trend
from flowsync_pipelines.delivery.schedule import data_day
from flowsync_pipelines.digest import band
from flowsync_pipelines.graph.inputs import MEMBER_SOURCES
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import WEEKDAYS, DigestSubscription, Member, TeamConfig
from flowsync_pipelines.statements.catalogue import KINDS

TOP = 3
PER_SECTION = 8  # a section lists this many, then "and N more"
RISKY_KINDS = frozenset(k.name for k in KINDS if k.category != "fact")
# Words follow the band: High states the claim, Medium says "likely", Low says "possibly".
HEDGE = {"High": "", "Medium": "likely ", "Low": "possibly "}


@dataclass(frozen=True)
class Entry:
    """One candidate line of a digest before it is placed in a section."""

    key: str  # what makes it the same item (listed once)
    item: Item
    rank: float  # higher first among the top three
    needs: bool = False  # waiting on the recipient, or a risk
    new: bool = False  # changed since the recipient's last digest
    risk: bool = False


def previous_data_day(subscription: DigestSubscription, day: date) -> date:
    """The data day of the recipient's previous digest (the last of its weekdays before ``day``)."""
    for back in range(1, 8):
        earlier = day - timedelta(days=back)
        if WEEKDAYS[earlier.weekday()] in subscription.weekdays:
            return data_day(subscription, earlier)
    return data_day(subscription, day - timedelta(days=7))


def shown(band_name: str, min_band: str) -> bool:
    """Whether a band is at least as confident as the subscription's ``min_band``."""
    return at_least(band_name, min_band)


def arrange(entries: Iterable[Entry], *, per_section: int = PER_SECTION) -> list[Section]:
    """Top three, changed since the last digest, risks, details — each entry once.

    Empty when nothing needs the recipient and nothing changed: the quiet digest.
    """
    unique: dict[str, Entry] = {}
    for e in entries:
        if e.key not in unique or e.rank > unique[e.key].rank:
            unique[e.key] = e
    ordered = sorted(unique.values(), key=lambda e: (-e.rank, e.key))
    if not any(e.needs or e.new for e in ordered):
        return []
    top = [e for e in ordered if e.needs][:TOP]
    taken = {e.key for e in top}
    parts = [("Today's top three", top)]
    for title, wanted in (
        ("Changed since your last digest", lambda e: e.new),
        ("Risks", lambda e: e.risk),
        ("Details", lambda e: True),
    ):
        part = [e for e in ordered if e.key not in taken and wanted(e)]
        taken.update(e.key for e in part)
        parts.append((title, part))
    return [
        Section(
            title=title,
            items=[e.item for e in part[:per_section]],
            more=max(len(part) - per_section, 0),
        )
        for title, part in parts
        if part
    ]


def _citation(urls: list[str] | None, fallback: str | None = None) -> str | None:
    return (urls[0] if urls else None) or fallback


def _title(text: str | None, limit: int = 80) -> str:
    if not text:
        return ""
    return f" “{text if len(text) <= limit else text[: limit - 1] + '…'}”"


# -- engineer ------------------------------------------------------------------------------------


def engineer_entries(items: pl.DataFrame, *, previous: date, min_band: str) -> list[Entry]:
    """Entries from one person's ``role_digest_engineer`` rows (already only theirs)."""
    out = []
    changed_after = previous + timedelta(days=1)  # data up to the previous digest's day end
    for r in items.iter_rows(named=True):
        kind, entity = r["item_kind"], r["entity_id"]
        hours = float(r["waited_hours"] or 0.0)
        since = r["since"].date() if r["since"] is not None else None
        new = since is not None and since >= changed_after
        label = entity.rsplit("/", 1)[-1].split(" ", 1)[0]  # a statement's is "<subject> <kind>"
        if kind == "statement":
            if r["statement_id"] is None or not shown(r["band"].capitalize(), min_band):
                continue
            b = r["band"].capitalize()
            item = Item(
                text=r["text"],
                band=b,
                confidence=float(r["confidence"]),
                url=_citation(r["citations"]),
                label=label,
            )
            risky = r["kind"] in RISKY_KINDS
            out.append(
                Entry(
                    key=f"statement:{r['statement_id']}",
                    item=item,
                    rank=1.0 + float(r["confidence"]) if risky else 0.5,
                    needs=risky,
                    new=r["first_stated_on"] is not None and r["first_stated_on"] >= changed_after,
                    risk=risky,
                )
            )
            continue
        if kind == "review_requested":
            text = f"{label}{_title(r['title'])} waits for a review ({hours:.0f} h)"
            rank, needs = 2.0 + min(hours / 240, 0.9), True
        elif kind == "failing_ci":
            text = f"CI failing on {label}{_title(r['title'])} ({r['state'] or 'failed'})"
            rank, needs = 2.95, True
        elif kind == "open_pull_request":
            state = {"changes_requested": "changes requested", "none": "no review yet"}.get(
                r["state"] or "", r["state"] or "open"
            )
            text = f"Your pull request {label}{_title(r['title'])}: {state}, open {hours:.0f} h"
            needs = r["state"] == "changes_requested"
            rank = (2.5 if needs else 0.4) + min(hours / 2400, 0.09)
        else:  # ticket
            text = f"Your ticket {label}{_title(r['title'])}: {r['state'] or 'open'}"
            rank, needs = 0.3, False
        out.append(
            Entry(
                key=f"{kind}:{entity}",
                item=Item(text=text, url=r["url"], label=label),  # a fact: no band
                rank=rank,
                needs=needs,
                new=new,
            )
        )
    return out


# -- product manager -----------------------------------------------------------------------------

_PM_PHRASES = {
    "sprint_at_risk": "{hedge}at risk of missing its end date",
    "epic_at_risk": "{hedge}at risk of missing its target date",
    "ticket_blocked": "{hedge}blocked or stalled",
    "ticket_reopened": "reopened",
}


def pm_entries(
    items: pl.DataFrame, progress: pl.DataFrame, *, day: date, previous: date, min_band: str
) -> list[Entry]:
    """Entries from one team's ``role_digest_pm`` and ``role_digest_progress`` rows. Sentences are
    worded here from ids, titles and kinds: no person, no statement text."""
    out = []
    changed_after = previous + timedelta(days=1)
    for r in items.iter_rows(named=True):
        b = band(float(r["confidence"]))
        if not shown(b, min_band):
            continue
        subject = r["ticket_id"] or r["subject_id"]
        label = subject.rsplit("/", 1)[-1]
        hedge = HEDGE[b]
        first = r["first_stated_on"]
        new = first is None or first >= changed_after
        url = r["url"] or _citation(r["citations"])
        if r["item_kind"] == "shipped":
            text = f"{label}{_title(r['title'])} {hedge}shipped to production"
            entry = dict(rank=0.6 + float(r["confidence"]) / 10, needs=False, risk=False)
        elif r["item_kind"] == "risk":
            phrase = _PM_PHRASES.get(r["kind"] or "", "{hedge}at risk").format(hedge=hedge)
            text = f"{label}{_title(r['title'])} {phrase}"
            entry = dict(rank=2.0 + float(r["confidence"]), needs=True, risk=True)
        else:  # design_feedback
            text = f"New design feedback on {label}{_title(r['title'])}"
            entry = dict(rank=1.5, needs=False, risk=False)
        out.append(
            Entry(
                key=f"{r['item_kind']}:{r['subject_id']}",
                item=Item(
                    text=text, band=b, confidence=float(r["confidence"]), url=url, label=label
                ),
                new=new,
                **entry,
            )
        )
    today = progress.filter(pl.col("as_of_date") == day)
    before = {
        (r["container_type"], r["container_id"]): r
        for r in progress.filter(pl.col("as_of_date") == previous).iter_rows(named=True)
    }
    for r in today.iter_rows(named=True):
        name = r["name"] or r["container_id"]
        scope = r["scope_at_start"] + r["added"] - r["removed"]
        text = (
            f"{r['container_type'].capitalize()} {name}: {r['done']} of {scope} done"
            f" ({r['added']} added, {r['removed']} removed since it started)"
            + (f", ends {r['ends_on']}" if r["ends_on"] else "")
        )
        old = before.get((r["container_type"], r["container_id"]))
        new = old is not None and (old["added"], old["done"], old["removed"]) != (
            r["added"],
            r["done"],
            r["removed"],
        )
        if new and old is not None:
            text += f" — since your last digest {r['done'] - old['done']:+d} done, "
            text += f"{r['added'] - old['added']:+d} added"
        out.append(
            Entry(
                key=f"{r['container_type']}:{r['container_id']}",
                item=Item(text=text),  # counted: no band
                rank=0.2,
                new=new,
            )
        )
    return out


# -- executive -----------------------------------------------------------------------------------

LEVEL_RANK = {"elite": 1, "high": 2, "medium": 3, "low": 4}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{value * 100:.0f} %"
    return f"{value:.1f} {unit}".rstrip()


def trends_of(weekly: pl.DataFrame, *, role: str) -> list[Trend]:
    """The 12-week pictures a role reads, from one team's ``role_digest_trends`` rows."""
    if weekly.is_empty():
        return []
    specs = {
        "executive": [
            ("Deployments per day (DORA, 28 days)", "deployments_per_day", "/day"),
            ("Change lead time p50 (DORA)", "lead_time_p50_hours", "h"),
            ("Change failure rate (DORA, expected)", "change_failure_rate", "%"),
            ("Failed deployment recovery p50 (DORA)", "recovery_time_p50_hours", "h"),
            ("Merged pull requests per week", "merged_pull_requests", ""),
        ],
        "engineering_manager": [
            ("Cycle time p50", "cycle_p50_hours", "h"),
            ("Time to first review p50", "first_review_p50_hours", "h"),
            ("Change lead time p50 (DORA)", "lead_time_p50_hours", "h"),
        ],
    }.get(role, [])
    full = pl.DataFrame({"week": list(range(12))}, schema={"week": pl.Int64}).join(
        weekly.with_columns(pl.col("week").cast(pl.Int64)), on="week", how="left"
    )
    trends = []
    for title, column, unit in specs:
        values = [None if v is None else float(v) for v in full.get_column(column).to_list()]
        latest = next((v for v in reversed(values) if v is not None), None)
        trends.append(
            Trend(title=title, values=values, unit=unit, note=f"now {_fmt(latest, unit)}")
        )
    return trends


def exec_entries(weekly: pl.DataFrame, investment: pl.DataFrame, *, team_name: str) -> list[Entry]:
    """Entries from one team's trend rows (the last is this week) and its investment mix."""
    if weekly.is_empty():
        return []
    now = weekly.row(weekly.height - 1, named=True)
    earlier = weekly.filter(pl.col("week") == now["week"] - 4)
    then = earlier.row(0, named=True) if earlier.height else None
    out = []
    level = now["performance_level"]
    if level:
        text = (
            f"{team_name}: DORA performance {level} — {_fmt(now['deployments_per_day'], '/day')}"
            f" deployments, lead time p50 {_fmt(now['lead_time_p50_hours'], 'h')}, change "
            f"failure rate {_fmt(now['change_failure_rate'], '%')} (95 % interval "
            f"{_fmt(now['change_failure_rate_low'], '%')}–"
            f"{_fmt(now['change_failure_rate_high'], '%')}), recovery p50 "
            f"{_fmt(now['recovery_time_p50_hours'], 'h')}"
        )
        worse = bool(
            then
            and then["performance_level"]
            and LEVEL_RANK.get(level, 0) > LEVEL_RANK.get(then["performance_level"], 0)
        )
        if worse:
            text += f" (down from {then['performance_level']} four weeks ago)"
        out.append(
            Entry(
                key="dora",
                item=Item(text=text),
                rank=2.5 if worse else 1.0,
                needs=worse,
                new=worse,
                risk=worse,
            )
        )
    if now["incidents_opened"]:
        restore = now["restore_p50_hours"]
        text = f"{team_name}: {now['incidents_opened']} incident(s) opened this week" + (
            f", restored in {restore:.1f} h (p50)" if restore is not None else ""
        )
        out.append(
            Entry(
                key="incidents",
                item=Item(text=text),
                rank=2.0,
                needs=True,
                new=True,
                risk=True,
            )
        )
    out.append(
        Entry(
            key="throughput",
            item=Item(
                text=f"{team_name}: {now['merged_pull_requests']} pull requests merged and "
                f"{now['deployments_week']} deployments this week",
            ),
            rank=0.5,
        )
    )
    if investment.height:
        mix = ", ".join(
            f"{r['category']} {r['share'] * 100:.0f} %" for r in investment.iter_rows(named=True)
        )
        out.append(
            Entry(
                key="investment",
                item=Item(
                    text=f"{team_name}: investment over 28 days — {mix}",
                ),
                rank=0.4,
            )
        )
    return out


def model_for(
    *,
    key: str,
    title: str,
    as_of: date,
    entries: list[Entry],
    trends: list[Trend],
    html_url: str,
) -> DigestModel:
    """The digest of arranged entries; a quiet day keeps no lists (its trends, one block, stay)."""
    return DigestModel(
        digest_key=key,
        title=title,
        as_of=as_of,
        sections=arrange(entries),
        html_url=html_url,
        trends=trends,
    )


def recipient_accounts(
    subscription: DigestSubscription, teams: dict[str, TeamConfig], key: str
) -> set[str]:
    """The pseudonyms of the recipient's own accounts (every tool handle and email of the member
    the recipient names), computed with the pseudonym key: no store maps them back."""
    who = (subscription.recipient or "").strip().lower()
    if not who or who.startswith("#"):
        return set()
    for team_key in subscription.teams:
        for member in teams[team_key].members:
            if any(h and h.strip().lower() == who for _, h in _handles(member)):
                return member_accounts(member, key)
    return set()


def member_accounts(member: Member, key: str) -> set[str]:
    """The pseudonyms of one configured member's accounts."""
    return {pseudonym(key, s, h) for s, h in _handles(member) if h}


def _handles(member: Member) -> list[tuple[str, str | None]]:
    handles = [(s, getattr(member, s)) for s in MEMBER_SOURCES]
    if member.email:
        handles.append(("email", member.email))
    return handles


def with_top_three(model: DigestModel) -> DigestModel:
    """The engineering manager's digest led by today's top three: the most confident risks
    (then news, then facts; never the counts), moved — not copied — out of their sections, so
    each item stays listed once."""
    order = ("Risks: ", "New since the previous digest: ", "Facts: ")
    risky = [
        (next(r for r, w in enumerate(order) if w in s.title), -(i.confidence or 0.0), n, k)
        for n, s in enumerate(model.sections)
        if any(w in s.title for w in order)
        for k, i in enumerate(s.items)
    ]
    picked = sorted(risky)[:TOP]
    if not picked:
        return model
    chosen = {(n, k) for _, _, n, k in picked}
    top = Section(
        title="Today's top three", items=[model.sections[n].items[k] for *_, n, k in picked]
    )
    rest = []
    for n, s in enumerate(model.sections):
        items = [i for k, i in enumerate(s.items) if (n, k) not in chosen]
        if items or s.more:
            rest.append(Section(title=s.title, items=items, more=s.more))
    return DigestModel(
        digest_key=model.digest_key,
        title=model.title,
        as_of=model.as_of,
        sections=[top, *rest],
        html_url=model.html_url,
        trends=model.trends,
    )
