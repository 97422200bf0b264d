"""CI runs per push: GitHub Actions workflow runs, GitLab pipelines, Jenkins builds and CircleCI
pipelines.

Runs are created while the code simulation pushes, because whether a run is green decides
when an author can merge and what can be deployed.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .clock import with_ms
from .model import CiAttempt, CiRun, Commit
from .org import Repo

OUTCOME_WEIGHTS_BRANCH = {"success": 80, "failure": 12, "flaky": 8}
OUTCOME_WEIGHTS_MAIN = {"success": 95, "failure": 3, "flaky": 2}
_MINUTES_BY_LANGUAGE = {"go": (3, 7), "python": (5, 11), "typescript": (7, 15)}


def roll_outcome(rng: random.Random, *, main: bool) -> str:
    weights = OUTCOME_WEIGHTS_MAIN if main else OUTCOME_WEIGHTS_BRANCH
    return rng.choices(list(weights), list(weights.values()))[0]


class CiSimulator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}:ci")
        self.runs: list[CiRun] = []
        self._count = 0

    def _attempt(self, repo: Repo, start: datetime, conclusion: str, actor: str) -> CiAttempt:
        low, high = _MINUTES_BY_LANGUAGE[repo.language]
        started = with_ms(start + timedelta(seconds=self.rng.randint(4, 70)), self.rng)
        finished = with_ms(started + timedelta(minutes=self.rng.uniform(low, high)), self.rng)
        return CiAttempt(started, finished, conclusion, actor)

    def _key(self) -> str:
        self._count += 1
        return f"ci-{self._count:06d}"

    def _run(
        self,
        system: str,
        job: str,
        repo: Repo,
        *,
        sha: str,
        branch: str,
        event: str,
        actor: str,
        at: datetime,
        commits: list[Commit],
        pr_key: str | None,
        outcome: str,
        rerun_actor: str,
    ) -> datetime | None:
        created = with_ms(at + timedelta(seconds=self.rng.randint(2, 25)), self.rng)
        first = self._attempt(
            repo, created, "success" if outcome == "success" else "failure", actor
        )
        run = CiRun(
            key=self._key(),
            system=system,
            repo=repo.full_name,
            job=job,
            sha=sha,
            branch=branch,
            event=event,
            actor=actor,
            created_at=created,
            attempts=[first],
            pr_key=pr_key,
            commits=commits,
            flaky=outcome == "flaky",
        )
        self.runs.append(run)
        if outcome != "flaky":
            return first.finished_at if outcome == "success" else None
        # Flaky: someone re-runs the same sha and it passes.
        retry_at = first.finished_at + timedelta(minutes=self.rng.uniform(8, 90))
        if system == "jenkins":
            retry = CiRun(
                key=self._key(),
                system=system,
                repo=repo.full_name,
                job=job,
                sha=sha,
                branch=branch,
                event=event,
                actor=rerun_actor,
                created_at=with_ms(retry_at, self.rng),
                attempts=[self._attempt(repo, retry_at, "success", rerun_actor)],
                pr_key=pr_key,
                commits=[],
                flaky=True,
                retry_of=run.key,
            )
            self.runs.append(retry)
            return retry.attempts[0].finished_at
        second = self._attempt(repo, retry_at, "success", rerun_actor)
        run.attempts.append(second)
        return second.finished_at

    def on_push(
        self,
        repo: Repo,
        *,
        sha: str,
        branch: str,
        actor: str,
        at: datetime,
        commits: list[Commit],
        pr_key: str | None,
        outcome: str,
        rerun_actor: str,
    ) -> datetime | None:
        """Start the repo's CI for a push; returns when the sha went green (None if it failed)."""
        on_main = branch == "main"
        event = "push" if on_main else "pull_request"
        system = repo.ci
        job = {
            "actions": "CI",
            "gitlab": "pipeline",
            "jenkins": f"{repo.name}-ci",
            "circleci": "build-and-test",
        }[system]
        green = self._run(
            system,
            job,
            repo,
            sha=sha,
            branch=branch,
            event=event,
            actor=actor,
            at=at,
            commits=commits,
            pr_key=pr_key,
            outcome=outcome,
            rerun_actor=rerun_actor,
        )
        if on_main and repo.extra_jenkins_job:
            # An integration suite on Jenkins runs after merges; it does not gate deploys.
            self._run(
                "jenkins",
                repo.extra_jenkins_job,
                repo,
                sha=sha,
                branch=branch,
                event=event,
                actor=actor,
                at=at + timedelta(minutes=1),
                commits=commits,
                pr_key=pr_key,
                outcome=roll_outcome(self.rng, main=False),
                rerun_actor=rerun_actor,
            )
        return green
