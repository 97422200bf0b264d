"""Jenkins JSON API shapes (``/job/:name/api/json?tree=builds[...]``) as of an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import epoch_ms, zone
from .model import CiRun, Commit, Timeline
from .org import Organisation

BASE = "https://jenkins.acme.example"


def _jenkins_date(t: datetime, tz: str) -> str:
    """Git changeSet dates as the git plugin prints them: ``2026-09-03 12:15:30 +0200``."""
    return t.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S %z")


class JenkinsRenderer:
    def __init__(self, org: Organisation, timeline: Timeline, seed: int) -> None:
        self.org = org
        self.seed = seed
        self.builds: dict[str, list[CiRun]] = {}
        for run in timeline.ci_runs:
            if run.system == "jenkins":
                self.builds.setdefault(run.job, []).append(run)
        for runs in self.builds.values():
            runs.sort(key=lambda r: r.number)
        self.by_key = {r.key: r for runs in self.builds.values() for r in runs}

    def jobs(self) -> list[str]:
        return sorted(self.builds)

    def _person_name(self, person_id: str) -> str:
        return self.org.person(person_id).name

    def _change(self, commit: Commit) -> dict[str, Any]:
        author = self.org.person(commit.author)
        return {
            "_class": "hudson.plugins.git.GitChangeSet",
            "affectedPaths": [f"src/{commit.sha[:6]}.py"],
            "commitId": commit.sha,
            "timestamp": epoch_ms(commit.committed_at),
            "author": {
                "absoluteUrl": f"{BASE}/user/{commit.author_email.split('@')[0].lower()}",
                "fullName": commit.author_name,
            },
            "authorEmail": commit.author_email,
            "comment": commit.message + "\n",
            "date": _jenkins_date(commit.committed_at, author.tz),
            "id": commit.sha,
            "msg": commit.message.split("\n", 1)[0],
            "paths": [{"editType": "edit", "file": f"src/{commit.sha[:6]}.py"}],
        }

    def _causes(self, run: CiRun) -> list[dict[str, Any]]:
        actor = self.org.person(run.actor)
        if run.retry_of is not None:
            original = self.by_key[run.retry_of]
            return [
                {
                    "_class": "hudson.model.Cause$UserIdCause",
                    "shortDescription": f"Started by user {actor.name}",
                    "userId": actor.work_email.split("@")[0],
                    "userName": actor.name,
                },
                {
                    "_class": "org.jenkinsci.plugins.workflow.cps.replay.ReplayCause",
                    "shortDescription": f"Replayed #{original.number}",
                },
            ]
        login = actor.accounts.get("github", actor.name)
        return [
            {
                "_class": "com.cloudbees.jenkins.GitHubPushCause",
                "shortDescription": f"Started by GitHub push by {login}",
            }
        ]

    def build(self, run: CiRun, as_of: datetime) -> dict[str, Any]:
        attempt = run.attempts[0]
        building = as_of < attempt.finished_at
        result = None
        if not building:
            result = "SUCCESS" if attempt.conclusion == "success" else "FAILURE"
            # test failures are reported by the JUnit plugin as UNSTABLE on some builds
            if result == "FAILURE" and run.number % 3 == 0:
                result = "UNSTABLE"
        duration = 0 if building else epoch_ms(attempt.finished_at) - epoch_ms(attempt.started_at)
        estimated = epoch_ms(attempt.finished_at) - epoch_ms(attempt.started_at)
        commits = run.commits if run.retry_of is None else []
        culprits = []
        for commit in commits:
            entry = {
                "absoluteUrl": f"{BASE}/user/{commit.author_email.split('@')[0].lower()}",
                "fullName": commit.author_name,
            }
            if entry not in culprits:
                culprits.append(entry)
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "actions": [
                {"_class": "hudson.model.CauseAction", "causes": self._causes(run)},
                {
                    "_class": "hudson.plugins.git.util.BuildData",
                    "lastBuiltRevision": {
                        "SHA1": run.sha,
                        "branch": [{"SHA1": run.sha, "name": f"refs/remotes/origin/{run.branch}"}],
                    },
                    "remoteUrls": [f"https://github.com/{run.repo}.git"],
                    "scmName": "",
                },
            ],
            "artifacts": [],
            "building": building,
            "description": None,
            "displayName": f"#{run.number}",
            "duration": duration,
            "estimatedDuration": estimated,
            "executor": {} if building else None,
            "fullDisplayName": f"{run.job} #{run.number}",
            "id": str(run.number),
            "keepLog": False,
            "number": run.number,
            "queueId": run.number * 7 + 113,
            "result": result,
            "timestamp": epoch_ms(attempt.started_at),
            "url": f"{BASE}/job/{run.job}/{run.number}/",
            "builtOn": f"agent-{run.number % 4 + 1}",
            "changeSet": {
                "_class": "hudson.plugins.git.GitChangeSetList",
                "items": [self._change(c) for c in commits],
                "kind": "git",
            },
            "culprits": culprits,
        }

    def list_builds(self, job: str, as_of: datetime) -> list[dict[str, Any]]:
        """Builds that had started by ``as_of``, by number ascending."""
        return [
            self.build(r, as_of)
            for r in self.builds.get(job, [])
            if r.attempts[0].started_at <= as_of
        ]
