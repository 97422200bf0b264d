"""Each channel's payload for a :class:`DigestModel`, cut to fit the channel's limits.

Slack Block Kit: at most 50 blocks, section text at most 3,000 characters, header at most 150;
what does not fit becomes "and N more" with a link to the HTML digest. Microsoft Teams: an
Adaptive Card 1.5 whose request body is at most 28 KB. Email: subject, plain text and HTML.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from flowsync_pipelines.delivery.model import DigestModel, Item, Trend

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_TEXT = 3000
SLACK_MAX_HEADER = 150
TEAMS_MAX_BYTES = 28 * 1024
QUIET = "Nothing needs you today."

_env = Environment(
    loader=PackageLoader("flowsync_pipelines", "templates"),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html", "html.j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def trend_line(t: Trend) -> str:
    """One text line of a trend: its title, the sparkline of its weeks, its note."""
    if not t.sparkline:
        return f"{t.title}: no data yet"
    weeks = len(t.sparkline)
    note = f" {t.note}" if t.note else ""
    return f"{t.title} ({weeks} week{'s' if weeks != 1 else ''}): {t.sparkline}{note}"


def svg_chart(t: Trend, width: int = 240, height: int = 48) -> str:
    """An inline SVG line chart of a trend (HTML and email: no image fetch, no extra library)."""
    points = [(i, v) for i, v in enumerate(t.values) if v is not None]
    if not points:
        return ""
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = (high - low) or 1.0
    step = (width - 8) / max(len(t.values) - 1, 1)
    xy = [(4 + i * step, height - 4 - (v - low) / span * (height - 8)) for i, v in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    last_x, last_y = xy[-1]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_xml(t.title)}: '
        f'{_xml(t.sparkline)}"><polyline fill="none" stroke="#3366cc" stroke-width="2" '
        f'points="{path}"/><circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3" fill="#3366cc"/>'
        "</svg>"
    )


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _slack_line(item: Item) -> str:
    link = f" <{item.url}|{_mrkdwn(item.label or 'evidence')}>" if item.url else ""
    line = f"• {_mrkdwn(item.text)}{item.badge()}{link}"
    return _cut(line, SLACK_MAX_SECTION_TEXT - 100)  # room for the section title


def slack_payload(d: DigestModel) -> dict[str, Any]:
    """``chat.postMessage`` arguments (``text`` fallback and ``blocks``) within Slack's limits."""
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": _cut(d.title, SLACK_MAX_HEADER)},
    }
    # (block, items it shows): sections are split where their text would pass 3,000 characters.
    blocks: list[tuple[dict, int]] = []
    for section in d.sections:
        if not section.items:
            continue
        text, shown = f"*{_mrkdwn(section.title)}*", 0
        for item in section.items:
            line = _slack_line(item)
            if len(text) + 1 + len(line) > SLACK_MAX_SECTION_TEXT:
                blocks.append((_section(text), shown))
                text, shown = f"*{_mrkdwn(section.title)}* (continued)", 0
            text, shown = f"{text}\n{line}", shown + 1
        more = f"\n… and {section.more} more" if section.more else ""
        if len(text) + len(more) > SLACK_MAX_SECTION_TEXT:
            blocks.append((_section(text), shown))
            text, shown = f"*{_mrkdwn(section.title)}* (continued)", 0
        # the block saying "and N more" counts those N: cut, it adds them to the overflow
        blocks.append((_section(text + more), shown + section.more))
    if not blocks:
        blocks.append((_section(QUIET), 0))
    trends = []
    if d.trends:
        text = "*Trends*\n" + "\n".join(_mrkdwn(trend_line(t)) for t in d.trends)
        trends = [_section(_cut(text, SLACK_MAX_SECTION_TEXT))]
    # the header, the trends, and the last block says what was left out
    room = SLACK_MAX_BLOCKS - 2 - len(trends)
    kept, dropped = blocks[:room], blocks[room:]
    body = [header, *(b for b, _ in kept), *trends]
    left_out = sum(n for _, n in dropped)
    if dropped:
        where = f" — <{d.html_url}|the full digest>" if d.html_url else ""
        body.append(_section(f"… and {left_out} more{where}"))
    else:
        link = f"<{d.html_url}|Open the full digest>. " if d.html_url else ""
        body.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{link}Every line cites its evidence."}],
            }
        )
    return {"text": _cut(d.title, 3000), "blocks": body}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def teams_message(d: DigestModel) -> dict[str, Any]:
    """The workflow-webhook body carrying one Adaptive Card 1.5, at most 28 KB as UTF-8 JSON.

    Items are dropped from the end (and counted in "and N more") until the card fits.
    """
    flat = [(s, i) for s in d.sections for i in s.items]
    extra = sum(s.more for s in d.sections)

    def build(k: int) -> dict[str, Any]:
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": _cut(d.title, 300),
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
            },
        ]
        current = None
        for section, item in flat[:k]:
            if section is not current:
                body.append(
                    {
                        "type": "TextBlock",
                        "text": section.title,
                        "weight": "Bolder",
                        "wrap": True,
                        "spacing": "Medium",
                    }
                )
                current = section
            link = f" · [{item.label or 'evidence'}]({item.url})" if item.url else ""
            body.append(
                {
                    "type": "TextBlock",
                    "wrap": True,
                    "spacing": "Small",
                    "text": f"- {item.text}{item.badge()}{link}",
                }
            )
        if not flat:
            body.append({"type": "TextBlock", "text": QUIET, "wrap": True})
        for t in d.trends:
            body.append({"type": "TextBlock", "text": _cut(trend_line(t), 500), "wrap": True})
        left_out = len(flat) - k + extra
        if left_out:
            body.append({"type": "TextBlock", "text": f"… and {left_out} more", "wrap": True})
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": body,
        }
        if d.html_url:
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Open the full digest", "url": d.html_url}
            ]
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }

    lo, hi = 0, len(flat)  # the most items that fit: binary search on the encoded size
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if encoded_size(build(mid)) <= TEAMS_MAX_BYTES:
            lo = mid
        else:
            hi = mid - 1
    return build(lo)


def encoded_size(payload: Any) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def html(d: DigestModel) -> str:
    """A standalone HTML page (also the email's HTML part)."""
    charts = [(t, Markup(svg_chart(t))) for t in d.trends]
    return _env.get_template("delivery.html.j2").render(d=d, charts=charts)


def plain_text(d: DigestModel) -> str:
    lines = [d.title, "=" * min(len(d.title), 72), ""]
    if d.quiet:
        lines += [QUIET, ""]
    for s in d.sections:
        if not s.items:
            continue
        lines.append(s.title)
        for i in s.items:
            lines.append(
                f"  - {i.text}{i.badge(' [{band} {confidence:.2f}]')}"
                + (f" {i.url}" if i.url else "")
            )
        if s.more:
            lines.append(f"  - … and {s.more} more")
        lines.append("")
    if d.trends:
        lines += ["Trends", *(f"  {trend_line(t)}" for t in d.trends), ""]
    if d.html_url:
        lines.append(f"The full digest: {d.html_url}")
    return "\n".join(lines) + "\n"


def markdown(d: DigestModel) -> str:
    lines = [f"# {d.title}", ""]
    if d.quiet:
        lines += [QUIET, ""]
    for s in d.sections:
        if not s.items:
            continue
        lines += [f"## {s.title}", ""]
        for i in s.items:
            link = f" · [{i.label or 'evidence'}]({i.url})" if i.url else ""
            lines.append(f"- {i.text}{i.badge()}{link}")
        if s.more:
            lines.append(f"- … and {s.more} more")
        lines.append("")
    if d.trends:
        lines += ["## Trends", "", *(f"- {trend_line(t)}" for t in d.trends), ""]
    return "\n".join(lines)


def email_parts(d: DigestModel) -> dict[str, str]:
    return {"subject": d.title, "text": plain_text(d), "html": html(d)}


def render(channel: str, d: DigestModel) -> dict[str, Any]:
    """The outbox payload of one channel: what its sender transports, nothing more."""
    if channel == "slack":
        return slack_payload(d)
    if channel == "teams":
        return teams_message(d)
    if channel == "email":
        return email_parts(d)
    if channel == "markdown":
        return {"text": markdown(d)}
    if channel == "html":
        return {"text": html(d)}
    raise ValueError(f"no renderer for channel {channel!r}")
