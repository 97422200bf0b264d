"""Sentry issues: regressions caused by specific production deploys, plus background noise.

Some noise issues are deliberately first seen shortly after an unrelated deploy so that a
naive "first seen within N hours of a deploy" heuristic has confounders to get wrong.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .clock import with_ms
from .ids import base36, int_from
from .model import Deployment, SentryIssue
from .org import Organisation

_ERRORS = {
    "python": [
        ("KeyError", "'currency'", "app/payments/refunds.py", "process_refund"),
        (
            "IntegrityError",
            "duplicate key value violates unique constraint",
            "app/db/models.py",
            "save",
        ),
        ("TimeoutError", "upstream request timed out after 30s", "app/clients/http.py", "request"),
        (
            "ValueError",
            "invalid literal for int() with base 10: ''",
            "app/jobs/invoice.py",
            "render",
        ),
        (
            "AttributeError",
            "'NoneType' object has no attribute 'amount'",
            "app/api/views.py",
            "charge",
        ),
    ],
    "go": [
        (
            "runtime.Error",
            "invalid memory address or nil pointer dereference",
            "handlers/session.go",
            "(*Store).Refresh",
        ),
        ("context.DeadlineExceeded", "context deadline exceeded", "proxy/upstream.go", "RoundTrip"),
        ("*errors.errorString", "token signature is invalid", "auth/jwks.go", "Verify"),
        (
            "*net.OpError",
            "dial tcp 10.0.3.7:6379: connect: connection refused",
            "store/redis.go",
            "Get",
        ),
    ],
    "typescript": [
        (
            "TypeError",
            "Cannot read properties of undefined (reading 'amount')",
            "src/screens/Checkout.tsx",
            "handleSubmit",
        ),
        ("Error", "Network request failed", "src/api/client.ts", "fetchJson"),
        ("RangeError", "Maximum call stack size exceeded", "src/state/cart.ts", "recompute"),
        ("TypeError", "undefined is not a function", "src/components/Carousel.tsx", "onScroll"),
        (
            "UnhandledRejection",
            "Non-Error promise rejection captured with value: timeout",
            "src/index.ts",
            "main",
        ),
    ],
}


def _bursts(
    rng: random.Random, first: datetime, stop: datetime, *, hot: bool
) -> list[tuple[datetime, int, int]]:
    """Event bursts between first and stop; incidents are dense, noise is sparse."""
    bursts = [(first, rng.randint(1, 12) if hot else 1, 1)]
    t = first
    while True:
        t = with_ms(t + timedelta(hours=rng.uniform(0.2, 2.5) if hot else rng.uniform(4, 40)), rng)
        if t >= stop or len(bursts) >= 60:
            return bursts
        events = rng.randint(5, 80) if hot else rng.randint(1, 4)
        bursts.append((t, events, rng.randint(1, max(1, events // 2))))


def simulate_sentry(
    org: Organisation, deployments: list[Deployment], seed: int, start: datetime, end: datetime
) -> list[SentryIssue]:
    rng = random.Random(f"{seed}:sentry")
    drafts: list[dict] = []
    production = sorted(
        (d for d in deployments if d.environment == "production" and d.succeeded_at is not None),
        key=lambda d: d.created_at,
    )

    # Regressions: a deploy ships a bug; events start within hours and stop at the next deploy.
    # The first event lands after the deploy finished and before the service's next production
    # deploy, so the release running when it appeared is the culprit's.
    windows: dict[str, tuple[datetime, datetime]] = {}
    for dep in production:
        assert dep.succeeded_at is not None
        following = next(
            (d for d in production if d.service == dep.service and d.created_at > dep.created_at),
            None,
        )
        earliest = dep.succeeded_at + timedelta(minutes=5)
        latest = min(dep.succeeded_at + timedelta(hours=4), end)
        if following is not None:
            latest = min(latest, following.created_at - timedelta(minutes=1))
        if latest - earliest >= timedelta(minutes=10):
            windows[dep.key] = (earliest, latest)
    eligible = [d for d in production if d.key in windows]
    caused = [d for d in eligible if rng.random() < min(0.15, 0.03 + 0.01 * len(d.pr_keys))]
    minimum = max(3, len(production) // 12)
    caused_keys = {d.key for d in caused}
    spare = [d for d in eligible if d.key not in caused_keys]
    if len(caused) < minimum and spare:
        caused += rng.sample(spare, min(len(spare), minimum - len(caused)))
    caused_keys = {d.key for d in caused}
    for dep in sorted(caused, key=lambda d: d.created_at):
        earliest, latest = windows[dep.key]
        first = with_ms(earliest + (latest - earliest) * rng.random(), rng)
        fix = next(
            (
                d
                for d in production
                if d.repo == dep.repo and d.created_at > first + timedelta(hours=1)
            ),
            None,
        )
        stop = fix.succeeded_at if fix and fix.succeeded_at else end
        resolved = with_ms(stop + timedelta(minutes=rng.uniform(10, 120)), rng) if fix else None
        drafts.append(
            {
                "service": dep.service,
                "first": first,
                "bursts": _bursts(rng, first, min(stop, end), hot=True),
                "resolved": resolved if resolved and resolved < end else None,
                "ignored": None,
                "cause": dep.key,
                "level": "error" if rng.random() < 0.8 else "fatal",
            }
        )

    # Background noise per service, two of them landing right after an unrelated deploy.
    scale = (end - start).days / 60
    confounder_deploys = [d for d in production if d.key not in caused_keys]
    confounders: dict[str, list[Deployment]] = {}
    for dep in rng.sample(confounder_deploys, min(2, len(confounder_deploys))):
        confounders.setdefault(dep.service, []).append(dep)
    for repo in org.repos:
        planned = confounders.get(repo.service, [])
        for i in range(max(len(planned), round(rng.randint(3, 7) * scale))):
            first = with_ms(start + (end - start) * rng.random(), rng)
            if i < len(planned):
                after = planned[i].succeeded_at
                first = with_ms(
                    (after or planned[i].created_at) + timedelta(minutes=rng.uniform(20, 180)), rng
                )
            if first >= end:
                continue
            roll = rng.random()
            resolved = ignored = None
            if roll < 0.25:
                resolved = with_ms(first + timedelta(hours=rng.uniform(2, 200)), rng)
            elif roll < 0.4:
                ignored = with_ms(first + timedelta(hours=rng.uniform(1, 48)), rng)
            stop = resolved or end
            drafts.append(
                {
                    "service": repo.service,
                    "first": first,
                    "bursts": _bursts(rng, first, min(stop, end), hot=False),
                    "resolved": resolved if resolved and resolved < end else None,
                    "ignored": ignored if ignored and ignored < end else None,
                    "cause": None,
                    "level": rng.choice(["error", "error", "warning", "info"]),
                }
            )

    drafts.sort(key=lambda d: (d["first"], d["service"]))
    next_id = int_from(5_600_000_000, 6_200_000_000, seed, "sentry-first-id")
    short_counters = {r.service: int_from(40, 1200, seed, "short-id", r.service) for r in org.repos}
    languages = {r.service: r.language for r in org.repos}
    issues: list[SentryIssue] = []
    for n, d in enumerate(drafts):
        next_id += int_from(1, 90_000, seed, "sentry-id-gap", n)
        short_counters[d["service"]] += 1
        error_type, value, filename, function = rng.choice(_ERRORS[languages[d["service"]]])
        issues.append(
            SentryIssue(
                key=f"sentry-{n:04d}",
                project=d["service"],
                id=str(next_id),
                short_id=f"{d['service'].upper()}-{base36(short_counters[d['service']])}",
                title=f"{error_type}: {value}",
                culprit=f"{filename} in {function}",
                level=d["level"],
                error_type=error_type,
                error_value=value,
                filename=filename,
                function=function,
                first_seen=d["first"],
                bursts=d["bursts"],
                resolved_at=d["resolved"],
                ignored_at=d["ignored"],
                cause_deployment=d["cause"],
            )
        )
    return issues
