"""Every channel receives what its digest says, within the channel's limits, once."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from flowsync_pipelines.delivery.formats import TEAMS_MAX_BYTES, encoded_size
from flowsync_pipelines.delivery.outbox import Outbox
from flowsync_pipelines.delivery.send import deliver_pending
from flowsync_pipelines.delivery.senders import EmailSender, FileSender, SlackSender, TeamsSender
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.sandbox.messaging import FaultPlan, SlackServer, SmtpServer, TeamsServer
from tests.delivery_support import DAY, HTML_BASE, rows_for, self_signed, subscription

TOKEN = "xoxb-test-token"
CHANNELS = {"payments-eng": "C0PAYMENTS", "platform-eng": "C0PLATFORM", "mobile-eng": "C0MOBILE"}


@pytest.fixture
def outbox(tmp_path: Path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    yield Outbox(store)
    store.dispose()


def no_sleep(seconds: float) -> None:
    pass


def slack_subs(n: int = 3) -> list:
    names = list(CHANNELS)
    return [
        subscription(
            f"{names[i % 3].split('-')[0]}-{i}", ["slack"], slack_channel=f"#{names[i % 3]}"
        )
        for i in range(n)
    ]


def test_slack_gets_every_digest_within_block_kit_limits_with_overflow_linked(outbox) -> None:
    subs = slack_subs(3)
    outbox.enqueue(rows_for(subs, [2000, 3, 0], text_len=300))
    with SlackServer(token=TOKEN, channels=CHANNELS) as slack:
        sender = SlackSender(TOKEN, base_url=slack.base_url, timeout_s=5)
        report = deliver_pending(outbox, {s.id: s for s in subs}, {"slack": sender})
    assert report.sent == 3 and slack.violations == []
    by_id = {m["metadata"]["event_payload"]["digest_id"]: m for m in slack.messages}
    rows = {r.subscription_id: r for r in outbox.rows()}
    assert set(by_id) == {r.digest_id for r in rows.values()}
    assert all(m["metadata"]["event_type"] == "flowsync_digest" for m in slack.messages)

    big = by_id[rows[subs[0].id].digest_id]
    assert len(big["blocks"]) == 50
    texts = [b["text"]["text"] for b in big["blocks"] if b["type"] == "section"]
    assert max(len(t) for t in texts) <= 3000
    shown = sum(t.count("\n• ") for t in texts)
    # 2,000 risks, one number and the cut group's own "and 3 more", less what is shown
    ((overflow, url),) = re.findall(
        r"… and (\d+) more — <(\S+)\|the full digest>", big["blocks"][-1]["text"]["text"]
    )
    assert int(overflow) == 2001 + 3 - shown and shown > 300
    assert url == f"{HTML_BASE}/{subs[0].id}.html"

    small = by_id[rows[subs[1].id].digest_id]
    lines = [b["text"]["text"] for b in small["blocks"] if b["type"] == "section"]
    assert sum(t.count("• ") for t in lines) == 4  # three risks and one number, each once
    assert (
        "High (0.90)" in lines[0]
        and "<https://github.example/acme/platform/pull/0|platform#0>" in lines[0]
    )
    assert lines[1].endswith(
        "· Medium (0.70) <https://github.example/acme/platform/pull/2|platform#2>\n… and 3 more"
    )

    quiet = by_id[rows[subs[2].id].digest_id]
    assert quiet["blocks"][1]["text"]["text"] == "Nothing needs you today."
    assert {r.state for r in outbox.rows()} == {"sent"}
    assert {r.provider_id for r in outbox.rows()} == {
        f"{m['channel']}/{m['ts']}" for m in slack.messages
    }


def test_slack_header_is_cut_to_150_characters(outbox) -> None:
    (sub,) = slack_subs(1)
    outbox.enqueue(rows_for([sub], [2], team_name="A" * 400))
    with SlackServer(token=TOKEN, channels=CHANNELS) as slack:
        deliver_pending(
            outbox, {sub.id: sub}, {"slack": SlackSender(TOKEN, base_url=slack.base_url)}
        )
    (message,) = slack.messages
    header = message["blocks"][0]
    assert header["type"] == "header" and len(header["text"]["text"]) == 150
    assert slack.violations == []


def test_slack_refuses_a_wrong_token_and_the_row_fails_with_the_reason(outbox) -> None:
    (sub,) = slack_subs(1)
    outbox.enqueue(rows_for([sub], [2]))
    with SlackServer(token=TOKEN, channels=CHANNELS) as slack:
        sender = SlackSender("xoxb-wrong", base_url=slack.base_url)
        report = deliver_pending(outbox, {sub.id: sub}, {"slack": sender})
    assert report.failed == 1 and slack.messages == []
    (row,) = outbox.rows()
    assert (row.state, row.last_error, row.attempts) == ("failed", "slack: invalid_auth", 1)


def test_slack_429_is_retried_after_its_retry_after(outbox) -> None:
    (sub,) = slack_subs(1)
    outbox.enqueue(rows_for([sub], [2]))
    slept: list[float] = []
    faults = FaultPlan(script=["429", "429"])
    with SlackServer(token=TOKEN, channels=CHANNELS, faults=faults) as slack:
        sender = SlackSender(TOKEN, base_url=slack.base_url)
        deliver_pending(outbox, {sub.id: sub}, {"slack": sender}, sleep=slept.append, backoff_s=0)
    assert slack.requests["chat.postMessage"] == 3 and len(slack.messages) == 1
    assert slept.count(1.0) == 2  # the server's Retry-After, twice
    (row,) = outbox.rows()
    assert (row.state, row.attempts) == ("sent", 3)


def test_a_slack_timeout_after_posting_is_found_in_history_not_posted_again(outbox) -> None:
    (sub,) = slack_subs(1)
    outbox.enqueue(rows_for([sub], [2]))
    faults = FaultPlan(script=["timeout"], hang_s=2.0)
    with SlackServer(token=TOKEN, channels=CHANNELS, faults=faults) as slack:
        sender = SlackSender(TOKEN, base_url=slack.base_url, timeout_s=1)
        report = deliver_pending(outbox, {sub.id: sub}, {"slack": sender}, sleep=no_sleep)
    assert len(slack.messages) == 1
    assert slack.requests["chat.postMessage"] == 1 and slack.requests["conversations.history"] == 1
    assert (report.retried, report.found) == (1, 1)
    (row,) = outbox.rows()
    assert row.state == "sent" and row.provider_id == f"C0PAYMENTS/{slack.messages[0]['ts']}"


def test_email_is_multipart_alternative_with_unsubscribe_headers_over_starttls_and_auth(
    outbox, tmp_path: Path
) -> None:
    subs = [
        subscription("payments-1", ["email"], email_to=["ada@example.com", "lin@example.com"]),
        subscription("mobile-2", ["email"], email_to=["raj@example.com"]),
    ]
    outbox.enqueue(rows_for(subs, [4, 0]))
    cert, key = self_signed(tmp_path)
    with SmtpServer(users={"flowsync": "s3cret"}, tls_cert=(cert, key)) as smtp:
        sender = EmailSender(
            host="127.0.0.1",
            port=smtp.port,
            mail_from="digests@flowsync.example",
            unsubscribe_url="https://flowsync.example/unsubscribe",
            starttls=True,
            ca_file=str(cert),
            user="flowsync",
            password="s3cret",
        )
        report = deliver_pending(outbox, {s.id: s for s in subs}, {"email": sender})
    assert report.sent == 2 and smtp.sessions_tls == [True, True]
    rows = {r.subscription_id: r for r in outbox.rows()}
    first = next(m for m in smtp.messages if m["To"] == "ada@example.com, lin@example.com")
    assert first.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in first.iter_parts()]
    assert parts == ["text/plain", "text/html"]  # plain first, HTML last
    assert first["Message-ID"] == f"<{rows['payments-1'].digest_id}@flowsync.example>"
    assert " ".join(str(first["List-Unsubscribe"]).split()) == (  # unfolded
        "<https://flowsync.example/unsubscribe?subscription=payments-1>, "
        "<mailto:digests@flowsync.example?subject=unsubscribe%20payments-1>"
    )
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = (p.get_content() for p in first.iter_parts())
    assert re.search(
        r"  - payments pull request #0 waits for review x+ \[High 0\.90\] "
        r"https://github\.example/acme/payments/pull/0\r?\n",
        plain,
    )
    assert '<a href="https://github.example/acme/payments/pull/0">payments#0</a>' in html
    assert sorted(to for _, to in smtp.envelopes) == [
        ["ada@example.com", "lin@example.com"],
        ["raj@example.com"],
    ]
    quiet = next(m for m in smtp.messages if m["To"] == "raj@example.com")
    assert "Nothing needs you today." in quiet.get_body(("plain",)).get_content()


def test_email_with_a_wrong_password_fails_with_the_servers_reason(outbox) -> None:
    sub = subscription("payments-1", ["email"], email_to=["ada@example.com"])
    outbox.enqueue(rows_for([sub], [1]))
    with SmtpServer(users={"flowsync": "s3cret"}) as smtp:
        sender = EmailSender(
            host="127.0.0.1",
            port=smtp.port,
            mail_from="d@flowsync.example",
            unsubscribe_url="https://flowsync.example/u",
            user="flowsync",
            password="nope",
        )
        deliver_pending(outbox, {sub.id: sub}, {"email": sender})
    (row,) = outbox.rows()
    assert row.state == "failed" and "535" in row.last_error and smtp.messages == []


def test_teams_gets_adaptive_cards_within_28_kb_at_most_four_a_second(
    outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = [
        subscription(f"payments-{i}", ["teams"], teams_webhook_env=f"TEAMS_URL_{i}")
        for i in range(6)
    ]
    outbox.enqueue(rows_for(subs, [3000, 4, 0, 1, 1, 1], text_len=200))
    with TeamsServer() as teams:
        for i in range(6):
            monkeypatch.setenv(f"TEAMS_URL_{i}", teams.workflow_url(f"flow{i}"))
        report = deliver_pending(outbox, {s.id: s for s in subs}, {"teams": TeamsSender()})
    assert report.sent == 6 and teams.violations == []
    assert sorted(c["workflow"] for c in teams.cards) == [f"flow{i}" for i in range(6)]
    big = next(c for c in teams.cards if c["workflow"] == "flow0")
    assert 20_000 < big["bytes"] <= TEAMS_MAX_BYTES
    card = big["body"]["attachments"][0]["content"]
    assert card["version"] == "1.5" and card["type"] == "AdaptiveCard"
    shown = sum(1 for b in card["body"] if b["text"].startswith("- "))
    (more,) = re.findall(r"^… and (\d+) more$", card["body"][-1]["text"])
    assert int(more) == 3001 + 3 - shown  # items cut here plus the group's own "and 3 more"
    assert card["actions"][0]["url"] == f"{HTML_BASE}/payments-0.html"
    arrivals = sorted(teams.arrivals)
    assert all(b - a >= 0.95 for a, b in zip(arrivals, arrivals[4:], strict=False))


def test_the_teams_card_fits_even_with_one_huge_item(outbox) -> None:
    from flowsync_pipelines.delivery.formats import teams_message
    from tests.delivery_support import digest, model

    sub = subscription("payments-0", ["teams"], teams_webhook_env="X")
    card = teams_message(model(sub, digest("payments", 40, text_len=5000)))
    assert encoded_size(card) <= TEAMS_MAX_BYTES


def test_enqueue_is_idempotent_and_a_sent_row_never_changes(outbox, tmp_path: Path) -> None:
    subs = [subscription("payments-1", ["markdown", "html"])]
    rows = rows_for(subs, [3])
    assert outbox.enqueue(rows) == (2, 0)
    assert outbox.enqueue(rows) == (0, 0)
    changed = rows_for(subs, [5])  # late data: the pending rows take the new payload
    assert outbox.enqueue(changed) == (0, 2)
    senders = {"markdown": FileSender(tmp_path / "out"), "html": FileSender(tmp_path / "out")}
    deliver_pending(outbox, {s.id: s for s in subs}, senders)
    before = outbox.rows()
    assert [r.payload for r in before] == [{}, {}]  # sent: the names it held are not kept
    assert outbox.enqueue(rows) == (0, 0)  # sent: the old payload does not come back
    assert outbox.rows() == before
    assert deliver_pending(outbox, {s.id: s for s in subs}, senders).sent == 0
    md = (tmp_path / "out" / str(DAY) / "payments-1.md").read_text()
    assert md.count("waits for review") == 6  # five risks and one number
    assert (
        (tmp_path / "out" / str(DAY) / "payments-1.html").read_text().startswith("<!doctype html>")
    )


def test_every_channel_delivers_exactly_once_under_20_percent_faults(
    outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = list(CHANNELS)
    subs = [
        subscription(
            f"{names[i % 3].split('-')[0]}-{i}",
            ["slack", "email", "teams"],
            slack_channel=f"#{names[i % 3]}",
            email_to=[f"lead{i}@example.com"],
            teams_webhook_env=f"TEAMS_URL_{i}",
        )
        for i in range(15)
    ]
    outbox.enqueue(rows_for(subs, [i % 5 for i in range(15)]))
    slack_faults = FaultPlan(rate=0.2, seed=3, hang_s=1.5)
    teams_faults = FaultPlan(rate=0.2, seed=4, kinds=("429", "5xx", "drop"), hang_s=1.5)
    smtp_faults = FaultPlan(rate=0.2, seed=5, kinds=("451",))
    with (
        SlackServer(token=TOKEN, channels=CHANNELS, faults=slack_faults) as slack,
        TeamsServer(faults=teams_faults) as teams,
        SmtpServer(faults=smtp_faults) as smtp,
    ):
        for i in range(15):
            monkeypatch.setenv(f"TEAMS_URL_{i}", teams.workflow_url(f"flow{i}"))
        senders = {
            "slack": SlackSender(TOKEN, base_url=slack.base_url, timeout_s=1),
            "teams": TeamsSender(timeout_s=1),
            "email": EmailSender(
                host="127.0.0.1",
                port=smtp.port,
                mail_from="d@flowsync.example",
                unsubscribe_url="https://flowsync.example/u",
            ),
        }
        report = deliver_pending(
            outbox, {s.id: s for s in subs}, senders, backoff_s=0.05, rounds=12, max_attempts=12
        )
    assert sum(slack_faults.injected.values()) >= 2 and "timeout" in slack_faults.injected
    assert sum(teams_faults.injected.values()) >= 2 and sum(smtp_faults.injected.values()) >= 2
    rows = outbox.rows()
    assert {r.state for r in rows} == {"sent"}, report
    expected = {
        ch: sorted(r.digest_id for r in rows if r.channel == ch)
        for ch in ("slack", "teams", "email")
    }
    assert sorted(slack.digest_ids()) == expected["slack"]
    assert sorted(c["digest_id"] for c in teams.cards) == expected["teams"]
    message_ids = [m["Message-ID"].strip("<>").split("@")[0] for m in smtp.messages]
    assert sorted(message_ids) == expected["email"]
    assert max(Counter(slack.digest_ids()).values()) == 1
    assert slack.violations == [] and teams.violations == []


def test_a_channel_without_settings_keeps_its_rows_waiting(outbox) -> None:
    (sub,) = slack_subs(1)
    outbox.enqueue(rows_for([sub], [2]))
    report = deliver_pending(outbox, {sub.id: sub}, {}, sleep=no_sleep)
    assert report.skipped == 1 and report.sent == 0
    (row,) = outbox.rows()
    assert (row.state, row.attempts) == ("pending", 0)


def test_a_row_leased_by_a_live_process_is_left_to_it(outbox, tmp_path: Path) -> None:
    sub = subscription("payments-1", ["markdown"])
    outbox.enqueue(rows_for([sub], [1]))
    (row,) = outbox.pending()
    assert outbox.claim(row.digest_id) is not None  # this (live) process holds it now
    report = deliver_pending(outbox, {sub.id: sub}, {"markdown": FileSender(tmp_path)})
    assert report.sent == 0
    (row,) = outbox.rows()
    assert (row.state, row.attempts, row.in_flight) == ("pending", 1, True)


def test_the_outbox_works_the_same_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    store = MetadataStore(postgres_url)
    try:
        queue = Outbox(store)
        sub = subscription("payments-pg", ["markdown", "html"])
        rows = rows_for([sub], [2])
        assert queue.enqueue(rows) == (2, 0) and queue.enqueue(rows) == (0, 0)
        senders = {"markdown": FileSender(tmp_path), "html": FileSender(tmp_path)}
        assert deliver_pending(queue, {sub.id: sub}, senders).sent == 2
        assert queue.counts() == {"sent": 2}
        assert queue.enqueued_days([sub.id], DAY) == {sub.id}
    finally:
        store.dispose()
