"""Turn a role view into statements with evidence and confidence, then render them.

A statement is one claim a digest makes; it carries a calibrated confidence and its band. Counts
computed directly from tool records are facts and carry none (``confidence=None``): a band on a
count would say how sure we are of arithmetic.
Every statement cites the events and links it rests on, and low-band statements are never worded
as fact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined

from flowsync_pipelines.bands import BAND_ORDER
from flowsync_pipelines.bands import band as _band
from flowsync_pipelines.statements.catalogue import KINDS

# A section lists at most this many statements of one kind, then "and N more".
PER_KIND = 5
KIND_TITLES = {
    "pr_waiting_for_review": "Pull requests waiting for a first review",
    "pr_merged_without_review": "Merged without review",
    "pr_large": "Large pull requests",
    "ci_failing_default_branch": "Default branch CI failing",
    "ticket_reopened": "Tickets reopened",
    "deployment_shipped": "Shipped to production",
    "incident_open": "Open incidents",
    "ticket_shipped": "Tickets shipped",
    "incident_caused_by_deployment": "Incidents and the deployments behind them",
    "ticket_blocked": "Tickets stalled or blocked",
    "work_without_ticket": "Work without a ticket",
    "pr_will_stall": "Pull requests at risk of stalling",
}


def band(confidence: float) -> str:
    """The band as a digest prints it: ``High`` / ``Medium`` / ``Low`` (see :mod:`..bands`)."""
    return _band(confidence).capitalize()


@dataclass(frozen=True)
class Citation:
    label: str
    url: str | None
    detail: str = ""


@dataclass(frozen=True)
class Statement:
    kind: str
    text: str
    confidence: float | None  # None: a count of records, a fact with no band
    citations: list[Citation] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # event ids

    @property
    def band(self) -> str | None:
        return None if self.confidence is None else band(self.confidence)

    @property
    def badge(self) -> str:
        """The band and confidence after a statement (" (High 0.93)"); nothing after a count."""
        return "" if self.confidence is None else f" ({self.band} {self.confidence:.2f})"

    @property
    def slack_line(self) -> str:
        """One mrkdwn line: the sentence, its band (statements only) and its first citation."""
        link = f" <{self.citations[0].url}|{self.citations[0].label}>" if self.citations else ""
        return f"• {self.text}{self.badge}{link}"


@dataclass(frozen=True)
class Group:
    """Statements of one kind in a digest section, cut at :data:`PER_KIND` ("and N more")."""

    title: str
    lines: list[Statement]
    more: int = 0


@dataclass(frozen=True)
class Section:
    title: str
    groups: list[Group]


@dataclass(frozen=True)
class Digest:
    team_key: str
    team_name: str
    role: str
    as_of: date
    statements: list[Statement]
    sections: list[Section] = field(default_factory=list)


def em_sections(
    statements: pl.DataFrame, *, min_band: str = "medium", per_kind: int = PER_KIND
) -> list[Section]:
    """The engineering manager's digest from one team's statements of one day (rows of the
    ``statements`` table): first what is new since the previous digest (first stated that day),
    then risks (inferred claims, with their bands), then facts. Each statement is listed once;
    a kind's list is cut after ``per_kind`` with "and N more". Low-band statements appear only
    when ``min_band`` is ``low``.
    """
    shown = BAND_ORDER[: BAND_ORDER.index(min_band) + 1]
    rows = statements.filter(
        pl.col("audience").list.contains("engineering_manager") & pl.col("band").is_in(shown)
    ).with_columns(
        pl.col("kind")
        .replace_strict({k.name: i for i, k in enumerate(KINDS)}, default=len(KINDS))
        .alias("_order")
    )
    risky = pl.col("kind").is_in([k.name for k in KINDS if k.category != "fact"])
    new = pl.col("first_stated_on") == pl.col("as_of_date")
    parts = [
        ("New since the previous digest", new),
        ("Risks", ~new & risky),
        ("Facts", ~new & ~risky),
    ]
    sections, listed = [], set()
    for title, where in parts:
        part = rows.filter(where & ~pl.col("statement_id").is_in(list(listed)))
        part = part.sort(
            ["_order", "confidence", "subject_id", "object_id"],
            descending=[False, True, False, False],
            nulls_last=True,
        )
        groups = []
        for (kind,), items in part.group_by("kind", maintain_order=True):
            listed.update(items.get_column("statement_id").to_list())
            lines = [_statement_line(r) for r in items.head(per_kind).iter_rows(named=True)]
            groups.append(
                Group(
                    title=KIND_TITLES.get(str(kind), str(kind)),
                    lines=lines,
                    more=max(items.height - per_kind, 0),
                )
            )
        if groups:
            sections.append(Section(title=title, groups=groups))
    return sections


def _statement_line(row: dict) -> Statement:
    urls = row["citations"] or []
    labels = [_label(row["subject_id"]), _label(row["object_id"] or "")]
    return Statement(
        kind=row["kind"],
        text=row["text"],
        confidence=float(row["confidence"]),
        citations=[
            Citation(label=label or "source", url=url)
            for label, url in zip(labels, urls[:2], strict=False)
        ],
        evidence=list(row["evidence"] or []),
    )


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _label(entity_id: str) -> str:
    return entity_id.rsplit("/", 1)[-1]  # "acme/payments-api#42" -> "payments-api#42"


def em_statements(
    counts: Mapping[str, int], items: pl.DataFrame, *, name_of: Callable[[str | None], str]
) -> list[Statement]:
    """Engineering-manager statements for one team and day, from ``em_team_wip`` rows."""

    def cite(kind: str, detail: Callable[[dict], str], *, where: pl.Expr | None = None) -> tuple:
        rows = items.filter(pl.col("item_kind") == kind)
        if where is not None:
            rows = rows.filter(where)
        rows = rows.sort(["since", "entity_id"])
        citations = [
            Citation(label=_label(r["entity_id"]), url=r["url"], detail=detail(r))
            for r in rows.iter_rows(named=True)
        ]
        evidence = sorted({e for r in rows.get_column("evidence").to_list() for e in r})
        return citations, evidence

    def pr_detail(row: dict) -> str:
        waiting = {
            "none": "no review yet",
            "changes_requested": "changes requested",
            "approved": "approved",
            "commented": "commented",
        }.get(row["review_state"] or "", "")
        return f"{row['title']} — {name_of(row['actor'])}, {row['age_days']:.1f} d, {waiting}"

    def merged_detail(row: dict) -> str:
        return f"{row['title']} — {name_of(row['actor'])}, {row['age_days']:.1f} d to merge"

    def ticket_detail(row: dict) -> str:
        return f"{row['title']} — {name_of(row['actor'])}"

    statements = []
    specs = [
        ("open_pull_requests", "open_pull_request", None, "pull request", "open", pr_detail),
        (
            "awaiting_first_review",
            "open_pull_request",
            pl.col("review_state") == "none",
            "pull request",
            "waiting for a first review",
            pr_detail,
        ),
        (
            "stale_pull_requests",
            "open_pull_request",
            pl.col("age_days") > 3,
            "pull request",
            "open for more than 3 days",
            pr_detail,
        ),
        ("merged_today", "merged_pull_request", None, "pull request", "merged", merged_detail),
        ("tickets_in_progress", "ticket_in_progress", None, "ticket", "in progress", ticket_detail),
        ("tickets_done_today", "ticket_done", None, "ticket", "done", ticket_detail),
    ]
    for metric, kind, where, noun, phrase, detail in specs:
        n = int(counts[metric])
        citations, evidence = cite(kind, detail, where=where)
        statements.append(
            Statement(
                kind=metric,
                text=f"{_plural(n, noun)} {phrase}",
                confidence=None,  # counted from the tools' own records: a fact, no band
                citations=citations,
                evidence=evidence,
            )
        )
    return statements


_env = Environment(
    loader=PackageLoader("flowsync_pipelines", "templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False)


def render_markdown(digest: Digest) -> str:
    return _env.get_template("digest.md.j2").render(d=digest)


def render_slack(digest: Digest) -> str:
    """Slack Block Kit JSON (a ``blocks`` payload for ``chat.postMessage``)."""
    rendered = _env.get_template("digest.slack.json.j2").render(d=digest)
    return json.dumps(json.loads(rendered), indent=1, ensure_ascii=False) + "\n"


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` unless the file already holds it; True when the file changed."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return True
