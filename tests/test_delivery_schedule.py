"""Subscriptions go out at their local send_at on their weekdays, across daylight saving."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from flowsync_pipelines.delivery.jobs import digest_subscriptions_sensor
from flowsync_pipelines.delivery.model import digest_id
from flowsync_pipelines.delivery.outbox import Outbox
from flowsync_pipelines.delivery.schedule import data_day, due, send_instant
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.settings import DigestSubscription, FlowSyncConfig
from resources.stores import MetadataResource, OrganisationResource

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def sub(tz: str, send_at: str = "09:00", weekdays: list[str] | None = None) -> DigestSubscription:
    return DigestSubscription(
        id=f"em/{tz}",
        teams=["t"],
        timezone=tz,
        send_at=send_at,
        weekdays=weekdays or EVERY_DAY,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (zone, local day, UTC instant of 09:00 that day): the days around each 2026 transition.
NINE_AM = [
    ("Europe/Berlin", date(2026, 3, 28), utc(2026, 3, 28, 8)),  # CET, +01:00
    ("Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 29, 7)),  # CEST from 02:00 that night
    ("Europe/Berlin", date(2026, 10, 24), utc(2026, 10, 24, 7)),
    ("Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 25, 8)),  # back to CET at 03:00
    ("America/New_York", date(2026, 3, 7), utc(2026, 3, 7, 14)),  # EST, -05:00
    ("America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 13)),  # EDT
    ("America/New_York", date(2026, 10, 31), utc(2026, 10, 31, 13)),
    ("America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 14)),
    ("Asia/Kolkata", date(2026, 3, 29), utc(2026, 3, 29, 3, 30)),  # IST, no DST, +05:30
    ("Asia/Kolkata", date(2026, 11, 1), utc(2026, 11, 1, 3, 30)),
]


@pytest.mark.parametrize(("tz", "day", "instant"), NINE_AM)
def test_nine_am_local_is_due_at_its_utc_instant_not_a_minute_before(tz, day, instant) -> None:
    s = sub(tz)
    assert send_instant(s, day) == instant
    assert due(s, instant) == day
    assert due(s, instant - timedelta(minutes=1)) is None


def test_a_wall_time_skipped_by_spring_forward_goes_out_an_hour_later_the_same_day() -> None:
    s = sub("Europe/Berlin", send_at="02:30")  # 02:00–03:00 does not exist on 29 March
    assert send_instant(s, date(2026, 3, 29)) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    s = sub("America/New_York", send_at="02:30")
    assert send_instant(s, date(2026, 3, 8)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT


def test_a_wall_time_repeated_by_fall_back_goes_out_at_its_first_occurrence() -> None:
    s = sub("Europe/Berlin", send_at="02:30")  # 02:00–03:00 happens twice on 25 October
    assert send_instant(s, date(2026, 10, 25)) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    s = sub("America/New_York", send_at="01:30")
    assert send_instant(s, date(2026, 11, 1)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


@pytest.mark.parametrize(
    ("tz", "send_at", "start"),
    [
        ("Europe/Berlin", "02:30", utc(2026, 3, 27)),
        ("Europe/Berlin", "02:30", utc(2026, 10, 23)),
        ("America/New_York", "01:30", utc(2026, 10, 30)),
        ("America/New_York", "09:00", utc(2026, 3, 6)),
        ("Asia/Kolkata", "23:45", utc(2026, 3, 27)),
    ],
)
def test_a_ticking_dispatcher_enqueues_each_local_day_once_at_its_send_time(
    tz: str, send_at: str, start: datetime
) -> None:
    """Every five minutes for four days across a transition: each local day becomes due once,
    at the first tick at or after its send instant, and never earlier."""
    s = sub(tz, send_at=send_at)
    enqueued: dict[date, datetime] = {}
    now = start
    while now < start + timedelta(days=4):
        day = due(s, now)
        # (a local day whose send time passed before the first tick is not this test's business)
        if day is not None and day not in enqueued and send_instant(s, day) >= start:
            enqueued[day] = now
        now += timedelta(minutes=5)
    assert len(enqueued) >= 3
    for day, at in enqueued.items():
        instant = send_instant(s, day)
        assert instant <= at < instant + timedelta(minutes=5), (day, at, instant)


def test_weekdays_are_the_recipients_local_weekdays() -> None:
    s = sub("Asia/Kolkata", send_at="08:00", weekdays=["mon", "tue", "wed", "thu", "fri"])
    # Sunday 2026-03-29 22:00 UTC is Monday 03:30 in Kolkata: not yet 08:00
    assert due(s, utc(2026, 3, 29, 22)) is None
    assert due(s, utc(2026, 3, 30, 2, 30)) == date(2026, 3, 30)  # Monday 08:00 IST
    assert due(s, utc(2026, 3, 28, 12)) is None  # Saturday


def test_the_digest_for_day_d_uses_the_last_day_complete_by_its_local_morning() -> None:
    assert data_day(sub("Europe/Berlin"), date(2026, 3, 29)) == date(2026, 3, 28)
    assert data_day(sub("America/New_York"), date(2026, 11, 1)) == date(2026, 10, 31)
    assert data_day(sub("Asia/Kolkata"), date(2026, 3, 29)) == date(2026, 3, 28)
    # 09:00 in Auckland is 20:00 UTC the day before: that UTC day has not ended yet.
    assert data_day(sub("Pacific/Auckland"), date(2026, 3, 10)) == date(2026, 3, 8)


def test_due_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        due(sub("UTC"), datetime(2026, 3, 1, 9))


# -- settings -------------------------------------------------------------------------------------
TEAMS = [
    {
        "key": "payments",
        "name": "Payments",
        "timezone": "Europe/Berlin",
        "members": [{"name": "Ada L", "email": "ada@example.com", "github": "ada"}],
    },
    {"key": "platform", "name": "Platform", "timezone": "America/New_York"},
    {"key": "mobile", "name": "Mobile", "timezone": "Asia/Kolkata"},
]


def config(*digests: dict) -> FlowSyncConfig:
    return FlowSyncConfig.model_validate({"teams": TEAMS, "digests": list(digests)})


def test_a_subscription_takes_its_first_teams_zone_and_its_recipients_email() -> None:
    (d,) = config(
        {"recipient": "ada", "teams": ["payments", "platform"], "channels": ["email"]}
    ).digests
    assert d.timezone == "Europe/Berlin"
    assert d.email_to == ["ada@example.com"]
    # the id names no one: the outbox and file names keep it
    assert re.fullmatch(r"payments\+platform/engineering_manager/[0-9a-f]{10}", d.id)
    assert d.weekdays == ["mon", "tue", "wed", "thu", "fri"]


def test_team_is_still_accepted_as_teams() -> None:
    (d,) = config({"team": "mobile", "channels": ["markdown"]}).digests
    assert d.teams == ["mobile"]
    assert d.timezone == "Asia/Kolkata"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"teams": ["nope"]}, "unknown team nope"),
        ({"teams": ["payments"], "recipient": "bob"}, "neither a '#channel' nor a member"),
        ({"teams": ["payments"], "send_at": "9am"}, "send_at must be HH:MM"),
        ({"teams": ["payments"], "send_at": "24:00"}, "send_at must be HH:MM"),
        ({"teams": ["payments"], "timezone": "Mars/Olympus"}, "not an IANA zone"),
        ({"teams": ["payments"], "channels": ["slack"]}, "needs slack_channel"),
        ({"teams": ["platform"], "channels": ["email"]}, "needs email_to"),
        ({"teams": ["payments"], "channels": ["teams"]}, "needs teams_webhook_env"),
        (
            {"teams": ["payments"], "channels": ["teams"], "teams_webhook_env": "https://x"},
            "names an env var",
        ),
        ({"teams": ["payments"], "channels": ["fax"]}, "channels"),
        ({"teams": ["payments"], "weekdays": ["monday"]}, "weekdays"),
        ({"teams": ["payments"], "cc": ["x@y"]}, "cc"),
        ({"team": "payments", "teams": ["mobile"]}, "not both"),
    ],
)
def test_a_bad_subscription_is_refused_with_a_reason(entry: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(entry)


def test_two_subscriptions_with_one_id_are_refused() -> None:
    with pytest.raises(ValueError, match="share this id"):
        config({"teams": ["payments"]}, {"teams": ["payments"]})


# -- the sensor -----------------------------------------------------------------------------------
@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, str]:
    digests = [
        {"id": "berlin", "teams": ["payments"], "weekdays": EVERY_DAY},
        {"id": "newyork", "teams": ["platform"], "weekdays": EVERY_DAY},
        {"id": "kolkata", "teams": ["mobile"], "weekdays": EVERY_DAY},
    ]
    path = tmp_path / "flowsync.yaml"
    path.write_text(yaml.safe_dump({"teams": TEAMS, "digests": digests}))
    return path, f"sqlite:///{tmp_path / 'metadata.sqlite'}"


def evaluate(deployment: tuple[Path, str], now: datetime) -> list[dg.RunRequest]:
    path, url = deployment
    sensor = digest_subscriptions_sensor(clock=lambda: now)
    context = dg.build_sensor_context(
        resources={
            "organisation": OrganisationResource(config_path=str(path)),
            "metadata": MetadataResource(url=url),
        }
    )
    result = sensor(context)
    return [] if isinstance(result, dg.SkipReason) else list(result.run_requests or [])


def requested(requests: list[dg.RunRequest]) -> dict[str, str]:
    """``{subscription id: local day}`` over the requested runs (one run per local day)."""
    found = {}
    for r in requests:
        config = r.run_config["ops"]["deliver_digests"]["config"]
        assert r.tags["flowsync/day"] == config["day"]
        found.update({sid: config["day"] for sid in config["subscription_ids"]})
    return found


def test_sensor_dispatches_each_zone_at_its_morning_across_the_march_change(deployment) -> None:
    # 29 March 2026: Berlin is on CEST (09:00 = 07:00 UTC); New York already on EDT since the 8th.
    # 03:29 UTC is still the 28th in New York, whose 09:00 has passed and was never sent.
    early = requested(evaluate(deployment, utc(2026, 3, 29, 3, 29)))
    assert early == {"newyork": "2026-03-28"}
    at_kolkata_nine = requested(evaluate(deployment, utc(2026, 3, 29, 3, 30)))
    assert at_kolkata_nine == {"kolkata": "2026-03-29", "newyork": "2026-03-28"}
    assert "berlin" not in requested(evaluate(deployment, utc(2026, 3, 29, 6, 59)))
    assert requested(evaluate(deployment, utc(2026, 3, 29, 7, 0)))["berlin"] == "2026-03-29"
    assert "newyork" not in requested(evaluate(deployment, utc(2026, 3, 29, 12, 59)))
    assert requested(evaluate(deployment, utc(2026, 3, 29, 13, 0)))["newyork"] == "2026-03-29"


def test_sensor_dispatches_each_zone_at_its_morning_across_the_october_change(deployment) -> None:
    # 25 October 2026: Berlin back on CET (09:00 = 08:00 UTC); New York still on EDT until 1 Nov.
    assert "berlin" not in requested(evaluate(deployment, utc(2026, 10, 25, 7, 59)))
    assert requested(evaluate(deployment, utc(2026, 10, 25, 8, 0)))["berlin"] == "2026-10-25"
    assert "newyork" not in requested(evaluate(deployment, utc(2026, 11, 1, 13, 59)))
    assert requested(evaluate(deployment, utc(2026, 11, 1, 14, 0)))["newyork"] == "2026-11-01"


def test_sensor_skips_what_the_outbox_holds_and_names_runs_once_per_hour(deployment) -> None:
    now = utc(2026, 3, 29, 13, 0)
    (run,) = evaluate(deployment, now)  # one run for the local day all three share
    assert run.run_config["ops"]["deliver_digests"]["config"] == {
        "subscription_ids": ["berlin", "kolkata", "newyork"],
        "day": "2026-03-29",
    }
    assert run.run_key.startswith("digest:2026-03-29:") and run.run_key.endswith(":20260329T13")
    assert [r.run_key for r in evaluate(deployment, now)] == [run.run_key]  # same tick, same key
    store = MetadataStore(deployment[1])
    Outbox(store).enqueue(
        [
            {
                "digest_id": digest_id("berlin", date(2026, 3, 29), "markdown"),
                "subscription_id": "berlin",
                "day": date(2026, 3, 29),
                "channel": "markdown",
                "payload": {"text": "# digest"},
            }
        ]
    )
    store.dispose()
    (later,) = evaluate(deployment, now)
    assert set(requested([later])) == {"kolkata", "newyork"} and later.run_key != run.run_key
