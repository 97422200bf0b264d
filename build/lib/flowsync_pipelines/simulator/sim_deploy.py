"""Deployments of green default-branch commits (staging on every green merge, production in
daily windows, mobile on a weekly release train) and the GitHub releases cut from them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .clock import with_ms, zone
from .model import CiRun, Commit, Deployment, GithubRelease, PullRequest
from .org import CI_BOT_ID, ROLE_ENGINEER, ROLE_MANAGER, Organisation, Repo

_PROD_WINDOWS_LOCAL = (11, 16)  # local hours at which the team promotes to production
_RELEASE_TRAIN_REPO = "acme/mobile-app"
_SPRINTLY_RELEASE_REPOS = ("acme/payments-api",)


def _greens(repo: Repo, runs: list[CiRun]) -> list[tuple[datetime, str]]:
    """(green time, sha) for default-branch commits whose gating CI passed, earliest first."""
    first_green: dict[str, datetime] = {}
    for run in runs:
        if run.repo != repo.full_name or run.branch != "main" or run.system != repo.ci:
            continue
        if run.system == "jenkins" and run.job != f"{repo.name}-ci":
            continue
        green = run.green_at()
        if green is not None and (run.sha not in first_green or green < first_green[run.sha]):
            first_green[run.sha] = green
    return sorted((at, sha) for sha, at in first_green.items())


def _windows(
    repo: Repo, tz: str, start: datetime, end: datetime, rng: random.Random
) -> list[datetime]:
    out = []
    day = start.astimezone(zone(tz)).date()
    while True:
        for hour in _PROD_WINDOWS_LOCAL:
            if repo.full_name == _RELEASE_TRAIN_REPO and (day.weekday() != 3 or hour != 11):
                continue
            local = datetime(
                day.year, day.month, day.day, hour, rng.randint(0, 40), tzinfo=zone(tz)
            )
            if local.weekday() < 5:
                out.append(with_ms(local.astimezone(start.tzinfo), rng))
        day += timedelta(days=1)
        if datetime(day.year, day.month, day.day, tzinfo=zone(tz)) >= end:
            return [w for w in out if start <= w < end]


class _Deployer:
    """Creates one repo's deployments and works out which commits each newly shipped."""

    def __init__(
        self, repo: Repo, history: list[Commit], rng: random.Random, out: list[Deployment]
    ) -> None:
        self.repo = repo
        self.history = history
        self.position = {c.sha: i for i, c in enumerate(history)}
        self.rng = rng
        self.out = out

    def make(
        self, env: str, sha: str, created: datetime, creator: str, fail_rate: float
    ) -> Deployment:
        rng = self.rng
        created = with_ms(created, rng)
        running = with_ms(created + timedelta(seconds=rng.randint(5, 50)), rng)
        final_at = with_ms(running + timedelta(minutes=rng.uniform(1.5, 9)), rng)
        final = "failure" if rng.random() < fail_rate else "success"
        dep = Deployment(
            key=f"{self.repo.full_name}/{env}/{len(self.out):05d}",
            host=self.repo.host,
            repo=self.repo.full_name,
            service=self.repo.service,
            environment=env,
            sha=sha,
            created_at=created,
            creator=creator,
            statuses=[(running, "in_progress"), (final_at, final)],
        )
        self.out.append(dep)
        return dep

    def ship(self, dep: Deployment, previous_index: int) -> int:
        """Record which commits this deploy newly shipped; returns the new high-water mark."""
        if dep.succeeded_at is None:
            return previous_index
        index = self.position[dep.sha]
        if index <= previous_index:
            return previous_index
        shipped = self.history[previous_index + 1 : index + 1]
        dep.shipped_shas = [c.sha for c in shipped]
        dep.pr_keys = sorted({c.pr_key for c in shipped if c.pr_key})
        return index


def simulate_deployments(
    org: Organisation,
    runs: list[CiRun],
    main_commits: dict[str, list[Commit]],
    seed: int,
    start: datetime,
    end: datetime,
) -> list[Deployment]:
    rng = random.Random(f"{seed}:deploy")
    deployments: list[Deployment] = []
    for repo in org.repos:
        history = main_commits.get(repo.full_name, [])
        position = {c.sha: i for i, c in enumerate(history)}
        greens = [(at, sha) for at, sha in _greens(repo, runs) if sha in position]
        team = org.team(repo.team)
        promoters = [
            p
            for p in (org.person(pid) for pid in team.members)
            if p.role in (ROLE_ENGINEER, ROLE_MANAGER)
        ]

        deployer = _Deployer(repo, history, rng, deployments)
        make, ship = deployer.make, deployer.ship

        staging_index = -1
        staged: list[Deployment] = []
        for green_at, sha in greens:
            dep = make(
                "staging", sha, green_at + timedelta(minutes=rng.uniform(1, 5)), CI_BOT_ID, 0.03
            )
            staging_index = ship(dep, staging_index)
            staged.append(dep)

        production_index = -1
        pending_since: datetime | None = None
        for window in _windows(repo, team.tz, start, end, rng):
            ready = [
                d
                for d in staged
                if d.succeeded_at is not None
                and d.succeeded_at <= window
                and position[d.sha] > production_index
            ]
            if not ready:
                pending_since = None
                continue
            candidate = max(ready, key=lambda d: position[d.sha])
            pending_since = pending_since or window
            overdue = window - pending_since > timedelta(days=2)
            if repo.full_name != _RELEASE_TRAIN_REPO and not overdue and rng.random() > 0.7:
                continue
            active = [p for p in promoters if p.left_at is None or p.left_at > window]
            creator = rng.choice(active).person_id if rng.random() < 0.55 else CI_BOT_ID
            dep = make("production", candidate.sha, window, creator, 0.05)
            new_index = ship(dep, production_index)
            if new_index != production_index:
                production_index, pending_since = new_index, None
    return [d for d in deployments if d.created_at < end]


def simulate_releases(
    org: Organisation,
    deployments: list[Deployment],
    pulls_by_key: dict[str, PullRequest],
    seed: int,
    end: datetime,
) -> list[GithubRelease]:
    """Tag GitHub releases on the mobile release train and once per sprint for payments-api."""
    rng = random.Random(f"{seed}:releases")
    releases: list[GithubRelease] = []
    for repo_name in (_RELEASE_TRAIN_REPO, *_SPRINTLY_RELEASE_REPOS):
        repo = org.repo(repo_name)
        major, minor = (
            (2, rng.randint(10, 20)) if repo_name == _RELEASE_TRAIN_REPO else (1, rng.randint(3, 9))
        )
        last_tag_at: datetime | None = None
        shipped_since: list[str] = []
        for dep in sorted(deployments, key=lambda d: d.created_at):
            if dep.repo != repo_name or dep.environment != "production" or dep.succeeded_at is None:
                continue
            shipped_since += dep.pr_keys
            if (
                repo_name != _RELEASE_TRAIN_REPO
                and last_tag_at
                and dep.created_at - last_tag_at < timedelta(days=14)
            ):
                continue
            minor += 1
            tag = f"v{major}.{minor}.0"
            created = with_ms(dep.succeeded_at + timedelta(minutes=rng.randint(3, 30)), rng)
            if created >= end:
                break
            lines = ["## What's Changed"]
            for key in shipped_since:
                pr = pulls_by_key[key]
                login = org.person(pr.author).accounts.get("github", "ghost")
                lines.append(
                    f"* {pr.title} by @{login} in https://github.com/{repo_name}/pull/{pr.number}"
                )
            releases.append(
                GithubRelease(
                    key=f"{repo_name}/{tag}",
                    repo=repo_name,
                    tag=tag,
                    name=tag if rng.random() < 0.7 else f"{tag} — {repo.service}",
                    sha=dep.sha,
                    author=CI_BOT_ID,
                    created_at=created,
                    published_at=with_ms(created + timedelta(seconds=rng.randint(5, 120)), rng),
                    body="\n".join(lines),
                )
            )
            last_tag_at, shipped_since = dep.created_at, []
    return releases
