"""Digests of the engineer, product-manager and executive roles, rendered from the role views and
statements of a few simulated days: their content, their order, and what each role may see."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flowsync_pipelines.delivery.compose import compose
from flowsync_pipelines.delivery.formats import QUIET
from flowsync_pipelines.delivery.model import SPARKS
from flowsync_pipelines.delivery.roles import recipient_accounts
from flowsync_pipelines.graph.inputs import MEMBER_SOURCES
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import (
    DigestSubscription,
    FlowSyncConfig,
    Paths,
    TeamConfig,
    load_config,
)
from flowsync_pipelines.simulator import World
from tests.conftest import PSEUDONYM_KEY, Deployment, deploy

CHANNELS = ["markdown", "html", "slack", "email", "teams"]
ORDER = [
    "Today's top three",
    "Changed since your last digest",
    "Risks",
    "Details",
]
PSEUDONYM = re.compile(r"p_[0-9a-f]{24}")


@pytest.fixture(scope="module")
def days_run(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Three days materialised once; the digests speak of the last two."""
    for deployment in deploy(world, tmp_path_factory.mktemp("roles") / "home"):
        first = world.start.date() + timedelta(days=2)
        assert deployment.run(first, first + timedelta(days=2)).success
        yield deployment


@pytest.fixture(scope="module")
def config(days_run: Deployment) -> FlowSyncConfig:
    return load_config(days_run.config_file)


@pytest.fixture(scope="module")
def con(days_run: Deployment) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(Paths(home=days_run.home).duckdb), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def day(days_run: Deployment) -> date:
    """The recipients' local day whose morning digest speaks of the last day run."""
    return days_run.world.start.date() + timedelta(days=5)


def accounts_of(member) -> set[str]:
    handles = [(s, getattr(member, s)) for s in MEMBER_SOURCES]
    if member.email:
        handles.append(("email", member.email))
    return {pseudonym(PSEUDONYM_KEY, s, h) for s, h in handles if h}


def names_resolver(teams: dict[str, TeamConfig]):
    """The identity vault's answer, from flowsync.yaml: every configured account's name."""
    names = {p: m.name for t in teams.values() for m in t.members for p in accounts_of(m)}
    return lambda pseudonyms: {p: names[p] for p in pseudonyms if p in names}


def subscription(role: str, teams: list[str], **extra) -> DigestSubscription:
    return DigestSubscription(
        id=f"{'+'.join(teams)}/{role}/{extra.get('recipient', '')}",
        role=role,
        teams=teams,
        channels=CHANNELS,
        weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        timezone="Europe/Berlin",
        email_to=["someone@example.com"],
        teams_webhook_env="TEAMS_URL",
        slack_channel="#digests",
        **extra,
    )


def render(con, config: FlowSyncConfig, sub: DigestSubscription, day: date) -> dict[str, dict]:
    teams = {t.key: t for t in config.teams}
    composed = compose(
        con,
        [(sub, day)],
        teams,
        resolve=names_resolver(teams),
        html_base_url="https://flowsync.example/outbox",
        accounts=lambda s: recipient_accounts(s, teams, PSEUDONYM_KEY),
    )
    assert composed.skipped == []
    return {r["channel"]: r["payload"] for r in composed.rows}


def sections_of(markdown: str) -> dict[str, list[str]]:
    """The Markdown digest's sections and their bullet lines."""
    out: dict[str, list[str]] = {}
    current = None
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = line[3:]
            out[current] = []
        elif line.startswith("- ") and current is not None:
            out[current].append(line[2:])
    return out


BANDED = re.compile(r" · (High|Medium|Low) \(\d\.\d\d\)")
# Lines that state what the tools' records say (counts, waits, progress, DORA figures): no band.
FACT = re.compile(
    r"^(\d+ (pull requests?|tickets?) |Your (pull request|ticket) |CI failing on |\S+ .*waits for "
    r"a review \(|(Sprint|Cycle|Epic|Release|Milestone|Project) .+: \d+ of \d+ done|.+: DORA "
    r"performance |.+: \d+ incident\(s\) opened|.+: \d+ pull requests merged and|.+: investment )"
)


def assert_shape(markdown: str) -> dict[str, list[str]]:
    """Sections in the promised order, each line once; each statement with its band, each fact
    read from the records without one."""
    sections = sections_of(markdown)
    titles = [t for t in sections if t != "Trends"]
    assert titles == [t for t in ORDER if t in titles]
    lines = [line for t in titles for line in sections[t] if not line.startswith("… and")]
    assert len(lines) == len(set(lines))
    for line in lines:
        assert bool(BANDED.search(line)) != bool(FACT.match(line)), line
        if " · Medium (" in line:
            assert "likely" in line, line
        if " · Low (" in line:
            assert "possibly" in line, line
    return sections


def test_engineer_digest_holds_the_recipients_own_items(con, config, day) -> None:
    as_of = day - timedelta(days=1)
    # the payments member with most items that day
    rows = con.execute(
        "SELECT person, item_kind, entity_id, state, url FROM engineer_items "
        "WHERE as_of_date = $d AND team = 'payments'",
        {"d": as_of},
    ).fetchall()
    team = next(t for t in config.teams if t.key == "payments")
    mine_by_member = {m.email: accounts_of(m) for m in team.members}
    counts = {e: sum(1 for r in rows if r[0] in acc) for e, acc in mine_by_member.items()}
    email = max(counts, key=lambda e: (counts[e], e))
    mine = mine_by_member[email]
    assert counts[email] > 0
    payloads = render(con, config, subscription("engineer", ["payments"], recipient=email), day)
    md = payloads["markdown"]["text"]
    sections = assert_shape(md)
    assert sections and QUIET not in md
    shown = [line for lines in sections.values() for line in lines]
    more = sum(int(m) for m in re.findall(r"^… and (\d+) more", "\n".join(shown), re.M))
    own_prs = {r[2] for r in rows if r[0] in mine and r[1] == "open_pull_request"}
    own_reviews = {r[2] for r in rows if r[0] in mine and r[1] == "review_requested"}
    assert len([s for s in shown if not s.startswith("… and")]) + more >= len(own_prs | own_reviews)
    for pr in own_prs:
        label = pr.rsplit("/", 1)[-1]
        lines = [s for s in shown if f"Your pull request {label} " in s]
        assert len(lines) <= 1
    # someone else's open pull request is never "yours"
    others = {r[2] for r in rows if r[0] not in mine and r[1] == "open_pull_request"} - own_prs
    for pr in others:
        assert f"Your pull request {pr.rsplit('/', 1)[-1]} " not in md
    # changes requested on my pull request is among today's top three
    changes = [r[2] for r in rows if r[0] in mine and r[3] == "changes_requested"]
    if changes:
        top = "\n".join(sections["Today's top three"])
        assert any(c.rsplit("/", 1)[-1] in top for c in changes)
    # every channel carries the same digest
    assert payloads["slack"]["blocks"][0]["text"]["text"].startswith("Payments — engineer digest")
    assert "<h2>Today&#39;s top three</h2>" in payloads["html"]["text"] or (
        "Today's top three" not in sections
    )


def test_engineer_without_items_gets_the_quiet_digest(con, config, day) -> None:
    as_of = day - timedelta(days=1)
    people = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT person FROM engineer_items WHERE as_of_date = $d", {"d": as_of}
        ).fetchall()
    }
    team, member = next(
        (t, m) for t in config.teams for m in t.members if not accounts_of(m) & people
    )
    payloads = render(
        con, config, subscription("engineer", [team.key], recipient=member.email), day
    )
    md = payloads["markdown"]["text"]
    assert QUIET in md and "- " not in md
    assert QUIET in payloads["slack"]["blocks"][1]["text"]["text"]
    assert QUIET in payloads["email"]["text"]


def test_product_manager_digest_words_follow_the_band_and_progress_is_counted(
    con, config, day
) -> None:
    day = day - timedelta(days=1)  # the platform team shipped three tickets on its data day
    as_of = day - timedelta(days=1)
    team = "platform"
    shipped = con.execute(
        "SELECT subject_id, band FROM pm_items WHERE as_of_date = $d AND team = $t "
        "AND item_kind = 'shipped'",
        {"d": as_of, "t": team},
    ).fetchall()
    assert shipped
    sub = subscription("product_manager", [team], min_band="low")
    md = render(con, config, sub, day)["markdown"]["text"]
    sections = assert_shape(md)
    lines = [line for ls in sections.values() for line in ls]
    for ticket, band in shipped:
        (line,) = [x for x in lines if x.startswith(f"{ticket} ")]
        hedge = {"high": "shipped to production", "medium": "likely shipped", "low": "possibly"}
        assert hedge[band] in line
        if band == "high":
            assert "likely" not in line
        assert "https://" in line  # its evidence
    # a ticket first stated shipped on the data day is news
    changed = "\n".join(
        sections.get("Changed since your last digest", []) + sections.get("Today's top three", [])
    )
    first = con.execute(
        "SELECT subject_id FROM statements WHERE kind = 'ticket_shipped' AND team = $t "
        "AND as_of_date = $d AND first_stated_on = $d",
        {"d": as_of, "t": team},
    ).fetchall()
    for (ticket,) in first:
        assert ticket in changed or "… and" in changed
    progress = con.execute(
        "SELECT container_type, coalesce(name, container_id), done, "
        "scope_at_start + added - removed FROM pm_progress WHERE as_of_date = $d AND team = $t",
        {"d": as_of, "t": team},
    ).fetchall()
    text = "\n".join(lines)
    for kind, name, done, scope in progress:
        assert f"{kind.capitalize()} {name}: {done} of {scope} done" in text or "… and" in text
    assert not PSEUDONYM.search(md)


def test_executive_digest_draws_dora_trends(con, config, day) -> None:
    as_of = day - timedelta(days=1)
    team = "payments"
    level, per_day = con.execute(
        "SELECT performance_level, deployments_per_day FROM dora WHERE team = $t "
        "AND as_of_date = $d AND service = 'all' AND window_days = 28",
        {"d": as_of, "t": team},
    ).fetchone()
    incidents = con.execute(
        "SELECT incidents_opened FROM exec_team_weekly WHERE team = $t AND as_of_date = $d",
        {"d": as_of, "t": team},
    ).fetchone()[0]
    payloads = render(con, config, subscription("executive", [team]), day)
    md = payloads["markdown"]["text"]
    sections = assert_shape(md)
    trends = sections["Trends"]
    assert re.match(r"Deployments per day \(DORA, 28 days\) \(\d+ weeks?\): ", trends[0])
    assert trends[0].endswith(f"now {per_day:.1f} /day")
    assert any(ch in trends[0] for ch in SPARKS)
    if incidents:
        assert f"Payments: {incidents} incident(s) opened this week" in md
    else:
        assert QUIET in md
    if level and QUIET not in md:
        assert f"DORA performance {level}" in md
    html = payloads["html"]["text"]
    drawn = [t for t in trends if not t.endswith(": no data yet")]
    assert len(trends) == 5 and drawn
    assert html.count("<svg") == len(drawn) and "Change failure rate (DORA, expected)" in html
    assert "*Trends*" in json.dumps(payloads["slack"], ensure_ascii=False)
    assert "Trends" in payloads["email"]["text"] and "<svg" in payloads["email"]["html"]
    card = payloads["teams"]["attachments"][0]["content"]["body"]
    assert any("Deployments per day" in b["text"] for b in card)


@pytest.fixture(scope="module")
def who_sees_what(con, config) -> dict:
    """Per team: its members' pseudonyms, their names and emails, and its entities."""
    teams = {t.key: t for t in config.teams}
    return {
        "members": {k: {p for m in t.members for p in accounts_of(m)} for k, t in teams.items()},
        "words": {
            k: {m.name for m in t.members} | {m.email for m in t.members if m.email}
            for k, t in teams.items()
        },
        "entities": {
            k: {
                r[0]
                for r in con.execute(
                    "SELECT entity_id FROM engineer_items WHERE team = $t UNION "
                    "SELECT subject_id FROM pm_items WHERE team = $t",
                    {"t": k},
                ).fetchall()
            }
            for k in teams
        },
    }


TEAM_KEYS = ["growth", "mobile", "payments", "platform"]  # the demo world's teams


def _every_role_and_team(test):
    """Each role on each team, both days, as explicit examples beside the drawn ones."""
    for role in ("engineer", "product_manager", "executive", "engineering_manager"):
        for key in TEAM_KEYS:
            for back in (0, 1):
                test = example(role=role, chosen=[key], member=back * 3, min_band="low", back=back)(
                    test
                )
    return test


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@_every_role_and_team
@given(
    role=st.sampled_from(["engineer", "product_manager", "executive", "engineering_manager"]),
    chosen=st.lists(st.sampled_from(TEAM_KEYS), min_size=1, max_size=2, unique=True),
    member=st.integers(0, 20),
    min_band=st.sampled_from(["high", "medium", "low"]),
    back=st.integers(0, 1),
)
def test_random_subscriptions_show_no_foreign_team_and_no_person_the_role_may_not_see(
    con, config, day, who_sees_what, role, chosen, member, min_band, back
) -> None:
    teams = {t.key: t for t in config.teams}
    assert sorted(teams) == TEAM_KEYS
    extra: dict = {"min_band": min_band}
    if role == "engineer":  # one team, the recipient one of its members
        chosen = chosen[:1]
        members_of = teams[chosen[0]].members
        extra["recipient"] = members_of[member % len(members_of)].email
    payloads = render(con, config, subscription(role, chosen, **extra), day - timedelta(days=back))
    text = json.dumps(payloads, ensure_ascii=False)
    members, words, entities = (who_sees_what[k] for k in ("members", "words", "entities"))
    own = set().union(*(members[k] for k in chosen))
    own_entities = set().union(*(entities[k] for k in chosen))
    seen = set(PSEUDONYM.findall(text))
    foreign = set(teams) - set(chosen)
    if role in ("product_manager", "executive"):
        assert not seen
        for k in teams:
            assert not any(w in text for w in words[k]), k
    else:
        assert seen <= own, seen - own
        for k in foreign:
            assert not any(w in text for w in words[k]), k
    for k in foreign:
        for entity in entities[k] - own_entities:
            label = re.escape(entity.rsplit("/", 1)[-1].split(" ", 1)[0])
            assert not re.search(rf"(?<![\w-]){label}(?![\w])", text), entity
        assert teams[k].name not in text or any(teams[k].name in teams[c].name for c in chosen)


def test_the_demo_writes_what_each_channel_would_receive(days_run, config) -> None:
    from flowsync_pipelines.demo import preview_digests

    last = days_run.world.start.date() + timedelta(days=4)
    previews = preview_digests(days_run.home, days_run.config_file, last)
    team = config.teams[0]
    assert [p.role for p in previews] == [
        "engineer",
        "engineering_manager",
        "product_manager",
        "executive",
    ]
    for p in previews:
        html = p.html.read_text()
        assert html.startswith("<!doctype html>") and f"<h1>{team.name} — " in html
        assert p.html.parent == days_run.home / "demo" / "digests" / str(last + timedelta(days=1))
        assert set(p.channels) == {"slack", "email", "teams", "markdown"}
        slack_file = Path(p.channels["slack"].rsplit("(", 1)[1].rstrip(")"))
        assert json.loads(slack_file.read_text())["blocks"][0]["type"] == "header"
        assert p.channels["slack"].startswith(f"#{team.key}-digests: ")
        assert Path(p.channels["markdown"]).read_text().startswith(f"# {team.name} — ")
    executive = previews[-1].html.read_text()
    assert "<svg" in executive
    # a second run rewrites nothing
    before = {p.html: p.html.stat().st_mtime_ns for p in previews}
    preview_digests(days_run.home, days_run.config_file, last)
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_sparklines_and_charts_follow_the_values() -> None:
    from flowsync_pipelines.delivery.formats import svg_chart, trend_line
    from flowsync_pipelines.delivery.model import Trend, sparkline

    assert sparkline([None, None, 1.0, 2.0, None, 8.0]) == "▁▂ █"
    assert sparkline([3.0, 3.0]) == "▁▁" and sparkline([None]) == ""
    t = Trend(title="Cycle time p50", values=[None, 10.0, 5.0, 20.0], unit="h", note="now 20.0 h")
    assert trend_line(t) == "Cycle time p50 (3 weeks): ▃▁█ now 20.0 h"
    svg = svg_chart(t)
    assert svg.startswith("<svg") and svg.count(",") == 3  # three points, one per known week
    assert trend_line(Trend(title="Recovery", values=[None] * 12)) == "Recovery: no data yet"


def test_engineering_manager_digest_leads_with_its_top_three_listed_once(con, config, day) -> None:
    as_of = day - timedelta(days=1)
    risks = con.execute(
        "SELECT count(*) FROM statements WHERE team = 'payments' AND as_of_date = $d "
        "AND band IN ('high', 'medium') AND list_contains(audience, 'engineering_manager')",
        {"d": as_of},
    ).fetchone()[0]
    assert risks
    payloads = render(con, config, subscription("engineering_manager", ["payments"]), day)
    md = payloads["markdown"]["text"]
    sections = sections_of(md)
    titles = list(sections)
    assert titles[0] == "Today's top three" and 1 <= len(sections[titles[0]]) <= 3
    assert titles[-1] == "Trends" and "Numbers" in titles
    lines = [x for t in titles[:-1] for x in sections[t] if not x.startswith("… and")]
    statements = [x for x in lines if not re.match(r"\d+ (pull request|ticket)", x)]
    assert len(statements) == len(set(statements))
    numbers = sections["Numbers"]
    assert numbers and all(FACT.match(x) and not BANDED.search(x) for x in numbers), numbers
    counted = 0
    for channel in ("slack", "teams", "email", "html"):  # no count carries a band anywhere
        for line in lines_of(payloads[channel]):
            if re.match(r"^\W*\d+ (pull requests?|tickets?) ", line):
                counted += 1
                assert not re.search(r"High|Medium|Low|\d\.\d\d", line), (channel, line)
    assert counted >= 4 * len(numbers)  # slack, teams, the email's two parts, html

    for line in sections["Today's top three"]:
        assert re.search(r" · (High|Medium) \(\d\.\d\d\) · \[", line)  # band and evidence
    assert any("Cycle time p50" in t for t in sections["Trends"])
    assert "<svg" in payloads["html"]["text"]


def lines_of(payload: object) -> list[str]:
    """Every line of every string in a channel payload (HTML split at its list items)."""
    if isinstance(payload, dict):
        return [x for v in payload.values() for x in lines_of(v)]
    if isinstance(payload, list):
        return [x for v in payload for x in lines_of(v)]
    if isinstance(payload, str):
        return [x.strip() for x in re.split(r"\n|<li>", payload)]
    return []


# The README's picture (docs/digest-em.png) is this test's screenshot: `make readme-png`.
SHOT_WIDTH, SHOT_HEIGHT = 900, 1600


def test_a_digest_renders_to_a_png_in_headless_chromium(con, config, day, tmp_path) -> None:
    from PIL import Image, ImageChops

    from flowsync_pipelines.delivery.screenshot import PNG_SIGNATURE, png_size, screenshot_html

    # the team whose engineering-manager digest has most to show
    rendered = {
        t.key: render(con, config, subscription("engineering_manager", [t.key]), day)
        for t in config.teams
    }
    team = max(rendered, key=lambda k: (rendered[k]["html"]["text"].count("<li>"), k))
    page = rendered[team]["html"]["text"]
    assert "band High" in page and "<svg" in page
    out = screenshot_html(page, tmp_path / "digest-em.png", width=SHOT_WIDTH, height=SHOT_HEIGHT)
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert png_size(out) == (SHOT_WIDTH, SHOT_HEIGHT)
    assert 20_000 < len(data) < 5_000_000
    with Image.open(out) as image:
        pixels = image.convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text is anti-aliased: many shades

    def near(rgb: tuple[int, int, int], box: tuple[int, int, int, int] | None = None) -> int:
        area = pixels.crop(box) if box else pixels
        return sum(
            n
            for n, c in area.getcolors(maxcolors=1 << 20)
            if max(abs(a - b) for a, b in zip(c, rgb, strict=True)) <= 12
        )

    assert near((0x1D, 0x1D, 0x1F), (0, 0, SHOT_WIDTH, 120)) > 500  # the title, drawn in ink
    assert near((0xD7, 0xF2, 0xDC)) > 200  # a High band's green badge
    assert near((0x33, 0x66, 0xCC)) > 30  # the trend charts' blue
    # the page's content ends within the window: nothing of the digest is cut off
    drawn = ImageChops.difference(pixels, Image.new("RGB", pixels.size, "white")).getbbox()
    assert drawn is not None and drawn[3] < SHOT_HEIGHT - 20
    if docs := os.environ.get("FLOWSYNC_DIGEST_PNG"):  # the README's copy, cut below the content
        pixels.crop((0, 0, SHOT_WIDTH, drawn[3] + 24)).save(docs, optimize=True)
