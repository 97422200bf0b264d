"""Sentry issues: regressions caused by specific production deploys, plus background noise.

A regression raises in a file the causing deployment's commits changed (its culprit and last
in-app stack frame), under framework frames. Depending on the conventions, some regressions
first show only after a later, unrelated production deployment of the same service (a code path
that runs rarely): their events carry the release running then, as Sentry's SDK tags them.
Noise issues raise in any file of the service, and some are deliberately first seen shortly
after an unrelated deploy so that a naive "first seen within N hours of a deploy" heuristic has
confounders to get wrong.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .clock import with_ms
from .conventions import DEMO, Conventions, sentry_slug
from .ids import base36, int_from
from .model import Commit, Deployment, SentryIssue
from .org import ORG_SLUG, Organisation
from .sim_files import file_tree, functions_of, is_source

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


def _changed_sources(dep: Deployment, commits: dict[str, Commit]) -> list[str]:
    """Application files the commits a deployment newly shipped changed."""
    return sorted(
        {
            f
            for sha in dep.shipped_shas
            if sha in commits
            for f in commits[sha].files
            if is_source(f)
        }
    )


def _late_window(
    dep: Deployment, production: list[Deployment], end: datetime
) -> tuple[datetime, datetime] | None:
    """When a regression of ``dep`` can first show after the service's next deployment."""
    later = [d for d in production if d.service == dep.service and d.created_at > dep.created_at]
    if not later or later[0].succeeded_at is None:
        return None
    shown_after = later[0].succeeded_at
    earliest = shown_after + timedelta(minutes=5)
    latest = min(shown_after + timedelta(hours=24), end)
    if len(later) > 1:
        latest = min(latest, later[1].created_at - timedelta(minutes=1))
    return (earliest, latest) if latest - earliest >= timedelta(minutes=10) else None


def simulate_sentry(
    org: Organisation,
    deployments: list[Deployment],
    main_commits: dict[str, list[Commit]],
    seed: int,
    start: datetime,
    end: datetime,
    conventions: Conventions = DEMO,
) -> list[SentryIssue]:
    rng = random.Random(f"{seed}:sentry")
    habits = random.Random(f"{seed}:sentry-habits")
    commits = {c.sha: c for history in main_commits.values() for c in history}
    conv = conventions
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
    caused = [
        d
        for d in eligible
        if rng.random()
        < min(
            conv.incident_max_rate,
            conv.incident_base_rate + conv.incident_per_pr_rate * len(d.pr_keys),
        )
    ]
    minimum = max(3, len(production) // 12)
    caused_keys = {d.key for d in caused}
    spare = [d for d in eligible if d.key not in caused_keys]
    if len(caused) < minimum and spare:
        caused += rng.sample(spare, min(len(spare), minimum - len(caused)))
    # Only a deployment that changed application code can ship a bug raised in it: one that
    # shipped only manifests or docs hands its bug to another deployment that changed code.
    with_code = [d for d in eligible if _changed_sources(d, commits)]
    chosen = {d.key for d in caused}
    for n, dep in enumerate(caused):
        if not _changed_sources(dep, commits):
            free = [d for d in with_code if d.key not in chosen]
            if free:
                caused[n] = habits.choice(free)
                chosen.add(caused[n].key)
    caused = [d for d in caused if _changed_sources(d, commits)]
    caused_keys = {d.key for d in caused}
    for dep in sorted(caused, key=lambda d: d.created_at):
        earliest, latest = windows[dep.key]
        late = None
        if conv.late_manifest_share > 0 and habits.random() < conv.late_manifest_share:
            late = _late_window(dep, production, end)
        if late is not None:
            earliest, latest = late
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
                "late": late is not None,
                "raised_in": habits.choice(_changed_sources(dep, commits)),
            }
        )

    # Background noise per service, two of them landing right after an unrelated deploy.
    scale = (end - start).days / 60
    confounder_deploys = [d for d in production if d.key not in caused_keys]
    confounders: dict[str, list[Deployment]] = {}
    for dep in rng.sample(
        confounder_deploys, min(conv.confounder_incidents, len(confounder_deploys))
    ):
        confounders.setdefault(dep.service, []).append(dep)
    for repo in org.repos:
        planned = confounders.get(repo.service, [])
        low, high = conv.noise_incidents_per_service
        for i in range(max(len(planned), round(rng.randint(low, high) * scale))):
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
                    "late": False,
                    "raised_in": habits.choice(file_tree(repo, conv.modules_per_area).sources),
                }
            )

    drafts.sort(key=lambda d: (d["first"], d["service"]))
    next_id = int_from(5_600_000_000, 6_200_000_000, seed, "sentry-first-id")
    short_counters = {r.service: int_from(40, 1200, seed, "short-id", r.service) for r in org.repos}
    languages = {r.service: r.language for r in org.repos}
    trees = {r.service: file_tree(r, conv.modules_per_area) for r in org.repos}
    frames_rng = random.Random(f"{seed}:sentry-frames")
    issues: list[SentryIssue] = []
    for n, d in enumerate(drafts):
        next_id += int_from(1, 90_000, seed, "sentry-id-gap", n)
        short_counters[d["service"]] += 1
        error_type, value, _, _ = rng.choice(_ERRORS[languages[d["service"]]])
        language, filename = languages[d["service"]], d["raised_in"]
        slug = sentry_slug(conv.sentry_slug_style, d["service"], ORG_SLUG)
        function = frames_rng.choice(functions_of(language, filename))
        callers = frames_rng.sample(trees[d["service"]].sources, frames_rng.randint(1, 2))
        frames = [(c, frames_rng.choice(functions_of(language, c))) for c in callers]
        frames = [f for f in frames if f[0] != filename] + [(filename, function)]
        issues.append(
            SentryIssue(
                key=f"sentry-{n:04d}",
                project=d["service"],
                id=str(next_id),
                short_id=f"{slug.upper()}-{base36(short_counters[d['service']])}",
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
                frames=frames,
                late_manifest=d["late"],
            )
        )
    return issues
