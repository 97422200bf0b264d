"""CircleCI API v2 shapes (pipelines, their workflows, the jobs of each) as of an instant.

A repository whose ``ci`` is ``circleci`` runs its CI runs there instead of GitHub Actions. Each
run is a pipeline (``gh/<owner>/<name>``, numbered per project), triggered by the push; each
attempt is a workflow of that pipeline (a flaky run's re-run is a second workflow, as "Rerun
workflow from failed" makes one); each workflow runs ``test`` then ``build``. Times are
CircleCI's: UTC with milliseconds and a literal ``Z``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import iso_ms_z
from .ids import uuid_from
from .model import CiAttempt, CiRun, Timeline
from .org import Organisation

APP = "https://app.circleci.com"
WORKFLOW = "build-and-test"
JOBS = ("test", "build")  # build requires test


def project_slug(repo: str) -> str:
    """``gh/acme/api``: the slug CircleCI's OAuth GitHub integration gives a repository."""
    return f"gh/{repo}"


class CircleciRenderer:
    def __init__(self, org: Organisation, timeline: Timeline, seed: int) -> None:
        self.org = org
        self.seed = seed
        self.runs: dict[str, list[CiRun]] = {}
        for run in timeline.ci_runs:
            if run.system == "circleci":
                self.runs.setdefault(project_slug(run.repo), []).append(run)
        for runs in self.runs.values():
            runs.sort(key=lambda r: r.number)
        self.by_pipeline_id = {self.pipeline_id(r): r for rs in self.runs.values() for r in rs}
        self.by_workflow_id = {
            self.workflow_id(r, i): (r, i)
            for rs in self.runs.values()
            for r in rs
            for i in range(len(r.attempts))
        }
        # Job numbers count up per project across every job that ran, oldest first.
        self.job_numbers: dict[tuple[str, int, str], int] = {}
        for runs in self.runs.values():
            started = sorted(
                (a.started_at, r.key, i, name)
                for r in runs
                for i, a in enumerate(r.attempts)
                for name in JOBS
            )
            for n, (_, key, i, name) in enumerate(started, start=1):
                self.job_numbers[key, i, name] = n

    # -- ids --------------------------------------------------------------------------------
    def pipeline_id(self, run: CiRun) -> str:
        return uuid_from(self.seed, "circleci-pipeline", run.key)

    def workflow_id(self, run: CiRun, attempt: int) -> str:
        return uuid_from(self.seed, "circleci-workflow", run.key, attempt)

    def job_id(self, run: CiRun, attempt: int, name: str) -> str:
        return uuid_from(self.seed, "circleci-job", run.key, attempt, name)

    def user_id(self, person_id: str) -> str:
        return uuid_from(self.seed, "circleci-user", person_id)

    # -- public -----------------------------------------------------------------------------
    def projects(self) -> list[str]:
        return sorted(self.runs)

    def pipelines(self, slug: str, as_of: datetime) -> list[dict[str, Any]]:
        """Pipelines created by ``as_of``, newest first (as CircleCI lists them)."""
        runs = [r for r in self.runs.get(slug, []) if r.created_at <= as_of]
        return [self.pipeline(r) for r in reversed(runs)]

    def workflows(self, pipeline_id: str, as_of: datetime) -> list[dict[str, Any]] | None:
        """The pipeline's workflows that had started by ``as_of``; None for an unknown id."""
        run = self.by_pipeline_id.get(pipeline_id)
        if run is None or run.created_at > as_of:
            return None
        return [
            self.workflow(run, i, as_of)
            for i, attempt in enumerate(run.attempts)
            if attempt.started_at <= as_of
        ]

    def jobs(self, workflow_id: str, as_of: datetime) -> list[dict[str, Any]] | None:
        """The workflow's jobs at ``as_of``; None for an unknown (or not yet started) id."""
        found = self.by_workflow_id.get(workflow_id)
        if found is None or found[0].attempts[found[1]].started_at > as_of:
            return None
        run, i = found
        return self._jobs(run, i, as_of)

    # -- shapes -----------------------------------------------------------------------------
    def pipeline(self, run: CiRun) -> dict[str, Any]:
        actor = self.org.person(run.actor)
        login = actor.accounts.get("github", actor.name)
        head = run.commits[-1] if run.commits else None
        url = f"https://github.com/{run.repo}"
        vcs: dict[str, Any] = {
            "provider_name": "GitHub",
            "origin_repository_url": url,
            "target_repository_url": url,
            "revision": run.sha,
            "branch": run.branch,
        }
        if head is not None:
            subject, _, body = head.message.partition("\n")
            vcs["commit"] = {"subject": subject, "body": body.strip()}
        created = iso_ms_z(run.created_at)
        return {
            "id": self.pipeline_id(run),
            "errors": [],
            "project_slug": project_slug(run.repo),
            "updated_at": created,
            "number": run.number,
            "trigger_parameters": {},
            "state": "created",
            "created_at": created,
            "trigger": {
                "type": "webhook",
                "received_at": created,
                "actor": {
                    "login": login,
                    "avatar_url": f"https://avatars.githubusercontent.com/u/{actor.github_id or 0}",
                },
            },
            "vcs": vcs,
        }

    def _status(self, attempt: CiAttempt, as_of: datetime) -> str:
        if as_of < attempt.finished_at:
            return "running"
        return "success" if attempt.conclusion == "success" else "failed"

    def workflow(self, run: CiRun, i: int, as_of: datetime) -> dict[str, Any]:
        attempt = run.attempts[i]
        status = self._status(attempt, as_of)
        slug = project_slug(run.repo)
        workflow_id = self.workflow_id(run, i)
        return {
            "pipeline_id": self.pipeline_id(run),
            "id": workflow_id,
            "name": WORKFLOW,
            "project_slug": slug,
            "status": status,
            "started_by": self.user_id(attempt.actor),
            "pipeline_number": run.number,
            "created_at": iso_ms_z(attempt.started_at),
            "stopped_at": None if status == "running" else iso_ms_z(attempt.finished_at),
            "tag": None,
            "errored_by": None,
            "canceled_by": None,
        }

    def _jobs(self, run: CiRun, i: int, as_of: datetime) -> list[dict[str, Any]]:
        attempt = run.attempts[i]
        slug = project_slug(run.repo)
        middle = attempt.started_at + (attempt.finished_at - attempt.started_at) / 2
        failed = attempt.conclusion != "success"
        # test runs first; a failing attempt fails in test and build never runs.
        spans = {
            "test": (attempt.started_at, attempt.finished_at if failed else middle),
            "build": (None, None) if failed else (middle, attempt.finished_at),
        }
        out = []
        for name in JOBS:
            start, stop = spans[name]
            job: dict[str, Any] = {
                "dependencies": [] if name == "test" else [self.job_id(run, i, "test")],
                "name": name,
                "project_slug": slug,
                "type": "build",
            }
            if start is None or as_of < start:
                job["status"] = "blocked"
                out.append(job)
                continue
            done = stop is not None and as_of >= stop
            job.update(
                {
                    "id": self.job_id(run, i, name),
                    "job_number": self.job_numbers[run.key, i, name],
                    "started_at": iso_ms_z(start),
                    "stopped_at": iso_ms_z(stop) if done and stop is not None else None,
                    "status": ("failed" if failed else "success") if done else "running",
                }
            )
            out.append(job)
        return out

    def web_url(self, run: CiRun, i: int) -> str:
        return (
            f"{APP}/pipelines/{project_slug(run.repo)}/{run.number}"
            f"/workflows/{self.workflow_id(run, i)}"
        )
