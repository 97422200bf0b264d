"""Channel payloads stay within each channel's limits and account for every item."""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from flowsync_pipelines.delivery.formats import (
    SLACK_MAX_BLOCKS,
    SLACK_MAX_HEADER,
    SLACK_MAX_SECTION_TEXT,
    TEAMS_MAX_BYTES,
    encoded_size,
    slack_payload,
    teams_message,
)
from flowsync_pipelines.delivery.model import DigestModel, Item, Section

# one line each (a newline inside an item would make the counting below ambiguous)
alphabet = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\n\r…")
texts = st.text(alphabet=alphabet, max_size=900)
statement_items = st.builds(
    Item,
    text=texts,
    band=st.sampled_from(["High", "Medium", "Low"]),
    confidence=st.floats(0, 1),
    url=st.one_of(st.none(), st.just("https://example.com/pr/1")),
    label=st.text(alphabet=alphabet, max_size=30),
)
fact_items = st.builds(  # counts and figures read from the records: no band
    Item,
    text=texts,
    url=st.one_of(st.none(), st.just("https://example.com/pr/1")),
    label=st.text(alphabet=alphabet, max_size=30),
)
items = st.one_of(statement_items, fact_items)
sections = st.builds(
    Section,
    title=st.text(alphabet=alphabet, min_size=1, max_size=200),
    items=st.lists(items, max_size=120),
    more=st.integers(0, 50),
)
models = st.builds(
    DigestModel,
    digest_key=st.just("k"),
    title=st.text(alphabet=alphabet, min_size=1, max_size=400),
    as_of=st.just(date(2026, 3, 29)),
    sections=st.lists(sections, max_size=8),
    html_url=st.sampled_from(["", "https://flowsync.example/d.html"]),
)


@settings(max_examples=60, deadline=None)
@given(models)
def test_slack_blocks_stay_within_limits_and_count_every_item(d: DigestModel) -> None:
    blocks = slack_payload(d)["blocks"]
    assert len(blocks) <= SLACK_MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= SLACK_MAX_HEADER
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(t) <= SLACK_MAX_SECTION_TEXT for t in sections)
    shown = sum(t.count("\n• ") for t in sections)
    said = sum(int(n) for t in sections for n in re.findall(r"\n… and (\d+) more$", t))
    overflow = re.findall(r"^… and (\d+) more", sections[-1]) if sections else []
    total = sum(len(s.items) + s.more for s in d.sections if s.items)
    assert shown + said + sum(int(n) for n in overflow) == total


@settings(max_examples=40, deadline=None)
@given(models)
def test_teams_cards_stay_within_28_kb_and_count_every_item(d: DigestModel) -> None:
    message = teams_message(d)
    assert encoded_size(message) <= TEAMS_MAX_BYTES
    body = message["attachments"][0]["content"]["body"]
    shown = sum(1 for b in body[1:] if b.get("spacing") == "Small")
    more = re.findall(r"^… and (\d+) more$", body[-1]["text"])
    total = sum(len(s.items) for s in d.sections) + sum(s.more for s in d.sections)
    assert shown + sum(int(n) for n in more) == total


def test_a_fact_shows_no_band_in_any_channel_and_a_statement_its_band() -> None:
    from flowsync_pipelines.delivery.formats import render

    d = DigestModel(
        digest_key="k",
        title="Payments — engineering manager digest, 2026-03-29",
        as_of=date(2026, 3, 29),
        sections=[
            Section(
                title="Numbers",
                items=[
                    Item(text="3 pull requests open", url="https://example.com/pr/1", label="#1"),
                    Item(text="PAY-7 likely shipped", band="Medium", confidence=0.71),
                ],
            )
        ],
    )

    def lines(payload: object) -> list[str]:
        if isinstance(payload, dict):
            return [x for v in payload.values() for x in lines(v)]
        if isinstance(payload, list):
            return [x for v in payload for x in lines(v)]
        return re.split(r"\n|<li>", payload) if isinstance(payload, str) else []

    for channel in ("slack", "teams", "email", "markdown", "html"):
        shown = lines(render(channel, d))
        fact = [x for x in shown if "3 pull requests open" in x]
        assert fact and not any(re.search(r"High|Medium|Low|\d\.\d\d", f) for f in fact), channel
        assert any(re.search(r"PAY-7 likely shipped\W.*Medium \(?0\.71", x) for x in shown), channel
