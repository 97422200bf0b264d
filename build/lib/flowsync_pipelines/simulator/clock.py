"""Working-hours arithmetic and the timestamp formats each tool's API uses."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

# Jira Cloud renders timestamps in the requesting user's zone; the org's Jira admin sits in
# Berlin, so offsets flip from +0200 to +0100 when DST ends on 2026-10-25 (a real quirk).
JIRA_DISPLAY_TZ = "Europe/Berlin"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def with_ms(t: datetime, rng: random.Random) -> datetime:
    """Give a timestamp a random millisecond part; APIs that print ms must not all say .000."""
    return t.replace(microsecond=rng.randint(0, 999) * 1000)


def align_to_work(
    t: datetime,
    tz: str,
    rng: random.Random,
    *,
    day_start: int = 9,
    day_end: int = 18,
    weekend_chance: float = 0.03,
) -> datetime:
    """Move ``t`` forward to the next moment inside the person's working hours.

    People occasionally work on weekends, so a weekend instant is kept with a small chance.
    """
    local = t.astimezone(zone(tz))
    keep_weekend = rng.random() < weekend_chance
    for _ in range(8):
        if local.weekday() >= 5 and not keep_weekend:
            local = (local + timedelta(days=7 - local.weekday())).replace(
                hour=day_start, minute=rng.randint(0, 50), second=rng.randint(0, 59)
            )
            continue
        if local.hour < day_start:
            local = local.replace(
                hour=day_start, minute=rng.randint(0, 59), second=rng.randint(0, 59)
            )
            continue
        if local.hour >= day_end:
            local = (local + timedelta(days=1)).replace(
                hour=day_start, minute=rng.randint(0, 59), second=rng.randint(0, 59)
            )
            continue
        break
    return with_ms(local.astimezone(UTC), rng)


def work_delay(
    t: datetime,
    tz: str,
    rng: random.Random,
    low_hours: float,
    high_hours: float,
    *,
    day_start: int = 9,
) -> datetime:
    """``t`` plus a random wall-clock delay, then aligned to working hours."""
    delay = timedelta(hours=rng.uniform(low_hours, high_hours))
    return align_to_work(t + delay, tz, rng, day_start=day_start)


def local_date(t: datetime, tz: str) -> str:
    return t.astimezone(zone(tz)).date().isoformat()


# --- API timestamp formats -----------------------------------------------------------------


def iso_z(t: datetime) -> str:
    """GitHub: second precision, literal Z."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms_z(t: datetime) -> str:
    """GitLab / Linear / Figma: millisecond precision, literal Z."""
    u = t.astimezone(UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def iso_us_z(t: datetime) -> str:
    """Sentry: microsecond precision, literal Z."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def jira_ts(t: datetime) -> str:
    """Jira: ``2026-09-03T10:15:30.123+0200`` -- ms, and an offset with no colon."""
    local = t.astimezone(zone(JIRA_DISPLAY_TZ))
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z"))
    )


def epoch_ms(t: datetime) -> int:
    """Jenkins: epoch milliseconds."""
    return (t - _EPOCH) // timedelta(milliseconds=1)
