"""GitLab REST v4 shapes (gitlab.com) rendered as of an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import iso_ms_z, zone
from .ids import hex_id, int_from
from .model import CiAttempt, CiRun, Commit, Deployment, GitlabIssue, PullRequest, Timeline
from .org import CI_BOT_ID, ORG_SLUG, Organisation, Repo
from .sim_files import file_changes

WEB = "https://gitlab.com"
_RUNNER_HOST = "saas-linux-small-amd64.runners-manager.gitlab.com"
_JOB_PIPELINE_KEYS = (
    "id",
    "iid",
    "project_id",
    "sha",
    "ref",
    "status",
    "source",
    "created_at",
    "updated_at",
    "web_url",
)


def commit_date(t: datetime, tz: str) -> str:
    """GitLab prints git dates with the committer's own UTC offset: ``...T12:15:30.000+02:00``."""
    local = t.astimezone(zone(tz))
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])
    )


class GitlabRenderer:
    def __init__(self, org: Organisation, timeline: Timeline, seed: int) -> None:
        self.org = org
        self.seed = seed
        self.projects = {r.numeric_id: r for r in org.repos if r.host == "gitlab"}
        self.by_name = {r.full_name: r for r in self.projects.values()}
        self.mrs: dict[str, list[PullRequest]] = {name: [] for name in self.by_name}
        for pr in timeline.pulls:
            if pr.host == "gitlab":
                self.mrs[pr.repo].append(pr)
        for mrs in self.mrs.values():
            mrs.sort(key=lambda p: p.id)
        self.mr_by_iid = {(p.repo, p.number): p for p in timeline.pulls if p.host == "gitlab"}
        self.pulls_by_key = {p.key: p for p in timeline.pulls}
        self.pipelines: dict[str, list[CiRun]] = {name: [] for name in self.by_name}
        for run in timeline.ci_runs:
            if run.system == "gitlab":
                self.pipelines[run.repo].append(run)
        for runs in self.pipelines.values():
            runs.sort(key=lambda r: r.id)
        self.pipeline_by_id = {r.id: r for runs in self.pipelines.values() for r in runs}
        self.main_pipeline_by_sha = {
            r.sha: r for runs in self.pipelines.values() for r in runs if r.branch == "main"
        }
        self.deployments: dict[str, list[Deployment]] = {name: [] for name in self.by_name}
        for dep in timeline.deployments:
            if dep.host == "gitlab":
                self.deployments[dep.repo].append(dep)
        self.issues: dict[str, list[GitlabIssue]] = {name: [] for name in self.by_name}
        for issue in timeline.gitlab_issues:
            self.issues[issue.project].append(issue)
        self.main_commits = timeline.main_commits
        self.commit_by_sha = {
            (repo, c.sha): c for repo, history in timeline.main_commits.items() for c in history
        }
        self.notes = self._build_notes()

    # --- shared objects -------------------------------------------------------------------

    def user(self, person_id: str | None, as_of: datetime) -> dict[str, Any] | None:
        if person_id is None:
            return None
        person = self.org.person(person_id)
        username = person.accounts.get("gitlab")
        if username is None:
            return None
        return {
            "id": person.gitlab_id,
            "username": username,
            "name": person.name if not person.is_bot else "Acme CI Bot",
            # Leavers are blocked rather than deleted on GitLab.
            "state": "blocked" if person.has_left(as_of) else "active",
            "locked": False,
            "avatar_url": "https://secure.gravatar.com/avatar/"
            + hex_id(64, "gl-avatar", username)
            + "?s=80&d=identicon",
            "web_url": f"{WEB}/{username}",
        }

    def _project_path(self, project_id: int) -> str:
        return self.projects[project_id].full_name

    def _commit(self, commit: Commit) -> dict[str, Any]:
        author = self.org.person(commit.author)
        committer_tz = author.tz
        return {
            "id": commit.sha,
            "short_id": commit.sha[:8],
            "created_at": commit_date(commit.committed_at, committer_tz),
            "parent_ids": list(commit.parents),
            "title": commit.message.split("\n", 1)[0],
            "message": commit.message,
            "author_name": commit.author_name,
            "author_email": commit.author_email,
            "authored_date": commit_date(commit.authored_at, author.tz),
            "committer_name": commit.committer_name,
            "committer_email": commit.committer_email,
            "committed_date": commit_date(commit.committed_at, committer_tz),
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{WEB}/{commit.repo}/-/commit/{commit.sha}",
        }

    def projects_list(self) -> list[dict[str, Any]]:
        out = []
        for project_id in sorted(self.projects):
            repo = self.projects[project_id]
            out.append(
                {
                    "id": project_id,
                    "description": repo.description,
                    "name": repo.name,
                    "name_with_namespace": f"Acme / {repo.name}",
                    "path": repo.name,
                    "path_with_namespace": repo.full_name,
                    "created_at": "2021-03-11T09:12:44.000Z",
                    "default_branch": "main",
                    "tag_list": [],
                    "topics": [repo.team],
                    "ssh_url_to_repo": f"git@gitlab.com:{repo.full_name}.git",
                    "http_url_to_repo": f"{WEB}/{repo.full_name}.git",
                    "web_url": f"{WEB}/{repo.full_name}",
                    "readme_url": f"{WEB}/{repo.full_name}/-/blob/main/README.md",
                    "forks_count": 0,
                    "avatar_url": None,
                    "star_count": 0,
                    "last_activity_at": iso_ms_z(
                        max([p.updated_at(p.created_at) for p in self.mrs[repo.full_name]] or [])
                    )
                    if self.mrs[repo.full_name]
                    else None,
                    "namespace": {
                        "id": int_from(9_000_000, 12_000_000, self.seed, "gl-group"),
                        "name": "acme",
                        "path": ORG_SLUG,
                        "kind": "group",
                        "full_path": ORG_SLUG,
                        "parent_id": None,
                        "avatar_url": None,
                        "web_url": f"{WEB}/groups/{ORG_SLUG}",
                    },
                    "visibility": "private",
                }
            )
        return out

    # --- merge requests -------------------------------------------------------------------

    def _reviewers(self, mr: PullRequest, as_of: datetime) -> list[dict[str, Any]]:
        seen: list[str] = []
        for request in mr.requests:
            if request.at <= as_of and request.reviewer not in seen:
                seen.append(request.reviewer)
        return [u for pid in seen if (u := self.user(pid, as_of)) is not None]

    def _approvers(self, mr: PullRequest, as_of: datetime) -> list[str]:
        out: list[str] = []
        for review in mr.reviews:
            if review.at <= as_of and review.state == "APPROVED" and review.reviewer not in out:
                out.append(review.reviewer)
        return out

    def merge_request(self, mr: PullRequest, as_of: datetime) -> dict[str, Any]:
        repo = self.by_name[mr.repo]
        merged = mr.merged_at is not None and mr.merged_at <= as_of
        closed = not merged and mr.closed_at is not None and mr.closed_at <= as_of
        state = "merged" if merged else "closed" if closed else "opened"
        draft = mr.is_draft_at(as_of)
        approved = bool(self._approvers(mr, as_of))
        if state != "opened":
            detailed = "not_open"
        elif draft:
            detailed = "draft_status"
        elif not approved:
            detailed = "not_approved"
        else:
            detailed = "mergeable"
        author = self.user(mr.author, as_of)
        user_notes = sum(
            1 for n in self.notes.get(mr.key, []) if not n["system"] and n["at"] <= as_of
        )
        return {
            "id": mr.id,
            "iid": mr.number,
            "project_id": repo.numeric_id,
            # GitLab marks drafts by a title prefix.
            "title": f"Draft: {mr.title}" if draft else mr.title,
            "description": mr.body if mr.body is not None else "",
            "state": state,
            "created_at": iso_ms_z(mr.created_at),
            "updated_at": iso_ms_z(mr.updated_at(as_of)),
            "merged_by": self.user(mr.merged_by, as_of) if merged else None,
            "merge_user": self.user(mr.merged_by, as_of) if merged else None,
            "merged_at": iso_ms_z(mr.merged_at) if merged and mr.merged_at else None,
            "closed_by": self.user(mr.closed_by, as_of) if closed else None,
            "closed_at": iso_ms_z(mr.closed_at) if closed and mr.closed_at else None,
            "target_branch": "main",
            "source_branch": mr.head_ref,
            "user_notes_count": user_notes,
            "upvotes": 0,
            "downvotes": 0,
            "author": author,
            "assignees": [author] if author else [],
            "assignee": author,
            "reviewers": self._reviewers(mr, as_of),
            "source_project_id": repo.numeric_id,
            "target_project_id": repo.numeric_id,
            "labels": list(mr.labels),
            "draft": draft,
            "work_in_progress": draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": detailed,
            "sha": mr.head_sha_at(as_of),
            "merge_commit_sha": mr.merge_commit.sha if merged and mr.merge_commit else None,
            "squash_commit_sha": None,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": True,
            "prepared_at": iso_ms_z(mr.created_at),
            "reference": f"!{mr.number}",
            "references": {
                "short": f"!{mr.number}",
                "relative": f"!{mr.number}",
                "full": f"{mr.repo}!{mr.number}",
            },
            "web_url": f"{WEB}/{mr.repo}/-/merge_requests/{mr.number}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": False,
            "squash_on_merge": False,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False,
            "blocking_discussions_resolved": True,
            "approvals_before_merge": None,
        }

    def list_merge_requests(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        repo = self.projects.get(project_id)
        if repo is None:
            return []
        return [
            self.merge_request(m, as_of) for m in self.mrs[repo.full_name] if m.created_at <= as_of
        ]

    def approvals(self, project_id: int, iid: int, as_of: datetime) -> dict[str, Any]:
        repo = self.projects.get(project_id)
        mr = self.mr_by_iid.get((repo.full_name, iid)) if repo else None
        if mr is None or mr.created_at > as_of:
            return {}
        base = self.merge_request(mr, as_of)
        approvers = self._approvers(mr, as_of)
        return {
            "id": mr.id,
            "iid": mr.number,
            "project_id": project_id,
            "title": base["title"],
            "description": base["description"],
            "state": base["state"],
            "created_at": base["created_at"],
            "updated_at": base["updated_at"],
            "merge_status": base["merge_status"],
            "approved": bool(approvers),
            "approvals_required": 1,
            "approvals_left": 0 if approvers else 1,
            "require_password_to_approve": False,
            "approved_by": [
                {"user": u} for pid in approvers if (u := self.user(pid, as_of)) is not None
            ],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": False,
            "user_can_approve": False,
            "approval_rules_left": [],
            "has_approval_rules": True,
            "merge_request_approvers_available": True,
            "multiple_approval_rules_available": True,
            "invalid_approvers_rules": [],
        }

    def _mr_notes(self, mr: PullRequest) -> list[dict[str, Any]]:
        """Reviewer comments plus the system notes GitLab writes for pushes, requests, approvals."""
        notes: list[dict[str, Any]] = []

        def add(
            at: datetime, author: str, body: str, system: bool, kind: str | None = None
        ) -> None:
            notes.append({"at": at, "author": author, "body": body, "system": system, "type": kind})

        for request in mr.requests:
            username = self.org.person(request.reviewer).accounts.get("gitlab", "ghost")
            add(request.at, request.by, f"requested review from @{username}", True)
        for push in mr.pushes:
            if push.at <= mr.created_at:
                continue
            lines = "".join(
                f"<li>{c.sha[:8]} - {c.message.splitlines()[0]}</li>" for c in push.commits
            )
            count = len(push.commits)
            plural = "s" if count > 1 else ""
            add(push.at, push.actor, f"added {count} commit{plural}\n\n<ul>{lines}</ul>", True)
        if mr.starts_draft and mr.draft_until is not None:
            add(mr.draft_until, mr.author, "marked this merge request as **ready**", True)
        for review in mr.reviews:
            if review.reviewer == CI_BOT_ID:
                continue
            if review.body:
                kind = "DiffNote" if review.state == "CHANGES_REQUESTED" else None
                add(review.at, review.reviewer, review.body, False, kind)
            if review.state == "APPROVED":
                add(review.at, review.reviewer, "approved this merge request", True)
            elif review.state == "CHANGES_REQUESTED":
                add(review.at, review.reviewer, "requested changes", True)
        if mr.closed_at is not None and mr.merged_at is None and mr.closed_by:
            add(mr.closed_at, mr.closed_by, "closed", True)
        return notes

    def _build_notes(self) -> dict[str, list[dict[str, Any]]]:
        """Note ids come from one instance-wide counter, so they increase with time."""
        drafts: list[tuple[datetime, str, int, dict[str, Any]]] = []
        for mrs in self.mrs.values():
            for mr in mrs:
                for n, note in enumerate(self._mr_notes(mr)):
                    drafts.append((note["at"], mr.key, n, note))
        drafts.sort(key=lambda d: (d[0], d[1], d[2]))
        first = int_from(1_900_000_000, 2_000_000_000, self.seed, "gl-note-id")
        out: dict[str, list[dict[str, Any]]] = {}
        for i, (_, key, _, note) in enumerate(drafts):
            note["id"] = first + i * 7 + int_from(0, 6, self.seed, "gl-note-gap", i)
            out.setdefault(key, []).append(note)
        return out

    def notes_for(self, project_id: int, iid: int, as_of: datetime) -> list[dict[str, Any]]:
        repo = self.projects.get(project_id)
        mr = self.mr_by_iid.get((repo.full_name, iid)) if repo else None
        if mr is None or mr.created_at > as_of:
            return []
        out = []
        for note in self.notes.get(mr.key, []):
            if note["at"] > as_of:
                continue
            out.append(
                {
                    "id": note["id"],
                    "type": note["type"],
                    "body": note["body"],
                    "attachment": None,
                    "author": self.user(note["author"], as_of),
                    "created_at": iso_ms_z(note["at"]),
                    "updated_at": iso_ms_z(note["at"]),
                    "system": note["system"],
                    "noteable_id": mr.id,
                    "noteable_type": "MergeRequest",
                    "project_id": project_id,
                    "resolvable": note["type"] == "DiffNote",
                    "confidential": False,
                    "internal": False,
                    "noteable_iid": mr.number,
                    "commands_changes": {},
                }
            )
        return sorted(out, key=lambda n: n["id"])

    # --- pipelines and jobs ---------------------------------------------------------------

    def _pipeline_ref(self, run: CiRun) -> tuple[str, str]:
        mr = self.pulls_by_key.get(run.pr_key or "")
        if run.branch != "main" and mr is not None and mr.created_at <= run.created_at:
            return f"refs/merge-requests/{mr.number}/head", "merge_request_event"
        return run.branch, "push"

    @staticmethod
    def _status(attempt: CiAttempt, as_of: datetime) -> str:
        if as_of < attempt.started_at:
            return "pending"
        if as_of < attempt.finished_at:
            return "running"
        return "success" if attempt.conclusion == "success" else "failed"

    def pipeline(self, run: CiRun, as_of: datetime) -> dict[str, Any]:
        repo = self.by_name[run.repo]
        current = run.attempts_at(as_of)[-1]
        ref, source = self._pipeline_ref(run)
        moments = [
            t for t in (run.created_at, current.started_at, current.finished_at) if t <= as_of
        ]
        return {
            "id": run.id,
            "iid": run.number,
            "project_id": repo.numeric_id,
            "sha": run.sha,
            "ref": ref,
            "status": self._status(current, as_of),
            "source": source,
            "created_at": iso_ms_z(run.created_at),
            "updated_at": iso_ms_z(max(moments, default=run.created_at)),
            "web_url": f"{WEB}/{run.repo}/-/pipelines/{run.id}",
            "name": None,
        }

    def list_pipelines(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        repo = self.projects.get(project_id)
        if repo is None:
            return []
        return [
            self.pipeline(r, as_of) for r in self.pipelines[repo.full_name] if r.created_at <= as_of
        ]

    def _job_specs(self, run: CiRun) -> list[tuple[str, str]]:
        specs = [("build", "build"), ("test", "unit-tests"), ("test", "lint")]
        if run.branch == "main":
            specs.append(("deploy", "deploy:staging"))
        return specs

    def jobs(self, project_id: int, pipeline_id: int, as_of: datetime) -> list[dict[str, Any]]:
        run = self.pipeline_by_id.get(pipeline_id)
        if run is None or run.created_at > as_of or self.by_name[run.repo].numeric_id != project_id:
            return []
        attempt_index = len(run.attempts_at(as_of)) - 1
        attempt = run.attempts[attempt_index]
        pipeline = self.pipeline(run, as_of)
        specs = self._job_specs(run)
        span = (attempt.finished_at - attempt.started_at) / len(specs)
        head = run.commits[-1] if run.commits else None
        user = self.user(attempt.actor, as_of) or self.user(CI_BOT_ID, as_of)
        out = []
        for slot, (stage, name) in enumerate(specs):
            started = attempt.started_at + span * slot
            finished = started + span
            failing = attempt.conclusion == "failure" and name == "unit-tests"
            # jobs after a failed stage never run
            skipped = attempt.conclusion == "failure" and stage == "deploy"
            if skipped:
                status = "skipped"
            elif as_of < started:
                status = "created"
            elif as_of < finished:
                status = "running"
            else:
                status = "failed" if failing else "success"
            # retried jobs get fresh ids; the list shows only the latest attempt's jobs
            job_id = run.id * 10 + slot + (5 if attempt_index else 0)
            job: dict[str, Any] = {
                "id": job_id,
                "status": status,
                "stage": stage,
                "name": name,
                "ref": pipeline["ref"],
                "tag": False,
                "coverage": 81.4 if name == "unit-tests" and status == "success" else None,
                "allow_failure": False,
                "created_at": iso_ms_z(run.created_at),
                "started_at": iso_ms_z(started) if status not in ("created", "skipped") else None,
                "finished_at": iso_ms_z(finished) if status in ("success", "failed") else None,
                "erased_at": None,
                "duration": round(span.total_seconds(), 3)
                if status in ("success", "failed")
                else None,
                "queued_duration": round((attempt.started_at - run.created_at).total_seconds(), 3),
                "user": user,
                "commit": self._commit(head) if head else None,
                "pipeline": {k: pipeline[k] for k in _JOB_PIPELINE_KEYS},
                "web_url": f"{WEB}/{run.repo}/-/jobs/{job_id}",
                "project": {"ci_job_token_scope_enabled": False},
                "artifacts": [],
                "runner": None
                if status in ("created", "skipped")
                else {
                    "id": 12270831 + slot,
                    "description": f"{slot + 1}-green.{_RUNNER_HOST}/default",
                    "ip_address": None,
                    "active": True,
                    "paused": False,
                    "is_shared": True,
                    "runner_type": "instance_type",
                    "name": "gitlab-runner",
                    "online": True,
                    "status": "online",
                },
                "artifacts_expire_at": None,
                "archived": False,
                "tag_list": [],
            }
            if status == "failed":
                job["failure_reason"] = "script_failure"
            out.append(job)
        return sorted(out, key=lambda j: j["id"])

    # --- deployments, issues, commits -----------------------------------------------------

    def deployment(self, dep: Deployment, as_of: datetime) -> dict[str, Any]:
        state = dep.state_at(as_of)
        status = {
            None: "created",
            "in_progress": "running",
            "success": "success",
            "failure": "failed",
        }[state]
        seen = [at for at, _ in dep.statuses if at <= as_of]
        updated = max(seen, default=dep.created_at)
        run = self.main_pipeline_by_sha.get(dep.sha)
        commit = next((c for c in self.main_commits.get(dep.repo, []) if c.sha == dep.sha), None)
        env_id = int_from(9_000_000, 9_900_000, self.seed, "gl-env", dep.repo, dep.environment)
        started = dep.statuses[0][0] if dep.statuses and dep.statuses[0][0] <= as_of else None
        finished = dep.statuses[-1][0] if len(seen) == len(dep.statuses) and len(seen) > 1 else None
        prefix = "" if dep.environment == "production" else "staging."
        deployable_status = {
            "created": "created",
            "running": "running",
            "success": "success",
            "failed": "failed",
        }[status]
        return {
            "id": dep.id,
            "iid": dep.iid,
            "ref": "main",
            "sha": dep.sha,
            "created_at": iso_ms_z(dep.created_at),
            "updated_at": iso_ms_z(updated),
            "status": status,
            "user": self.user(dep.creator, as_of),
            "environment": {
                "id": env_id,
                "name": dep.environment,
                "slug": dep.environment,
                "external_url": f"https://{prefix}{dep.service}.acme.example",
                "state": "available",
                "tier": dep.environment,
                "created_at": "2021-03-11T09:30:00.000Z",
                "updated_at": iso_ms_z(updated),
            },
            "deployable": {
                "id": dep.id * 3 + 1,
                "status": deployable_status,
                "stage": "deploy",
                "name": f"deploy:{dep.environment}",
                "ref": "main",
                "tag": False,
                "coverage": None,
                "created_at": iso_ms_z(dep.created_at),
                "started_at": iso_ms_z(started) if started else None,
                "finished_at": iso_ms_z(finished) if finished else None,
                "duration": round((finished - started).total_seconds(), 3)
                if started and finished
                else None,
                "queued_duration": 1.2,
                "user": self.user(dep.creator, as_of),
                "commit": self._commit(commit) if commit else None,
                "pipeline": self.pipeline(run, as_of) if run and run.created_at <= as_of else None,
                "web_url": f"{WEB}/{dep.repo}/-/jobs/{dep.id * 3 + 1}",
                "artifacts": [],
                "runner": None,
                "artifacts_expire_at": None,
            },
        }

    def list_deployments(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        repo = self.projects.get(project_id)
        if repo is None:
            return []
        deps = sorted(self.deployments[repo.full_name], key=lambda d: d.id)
        return [self.deployment(d, as_of) for d in deps if d.created_at <= as_of]

    def list_issues(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        repo = self.projects.get(project_id)
        if repo is None:
            return []
        out = []
        for issue in sorted(self.issues[repo.full_name], key=lambda i: i.id):
            if issue.created_at > as_of:
                continue
            closed = issue.closed_at is not None and issue.closed_at <= as_of
            assignee = self.user(issue.assignee, as_of)
            web = f"{WEB}/{repo.full_name}/-/issues/{issue.iid}"
            api = f"{WEB}/api/v4/projects/{project_id}"
            out.append(
                {
                    "id": issue.id,
                    "iid": issue.iid,
                    "project_id": project_id,
                    "title": issue.title,
                    "description": issue.description,
                    "state": "closed" if closed else "opened",
                    "created_at": iso_ms_z(issue.created_at),
                    "updated_at": iso_ms_z(
                        issue.closed_at if closed and issue.closed_at else issue.created_at
                    ),
                    "closed_at": iso_ms_z(issue.closed_at) if closed and issue.closed_at else None,
                    "closed_by": self.user(issue.assignee or issue.author, as_of)
                    if closed
                    else None,
                    "labels": list(issue.labels),
                    "milestone": None,
                    "assignees": [assignee] if assignee else [],
                    "author": self.user(issue.author, as_of),
                    "type": "ISSUE",
                    "assignee": assignee,
                    "user_notes_count": 0,
                    "merge_requests_count": 0,
                    "upvotes": 0,
                    "downvotes": 0,
                    "due_date": None,
                    "confidential": False,
                    "discussion_locked": None,
                    "issue_type": "issue",
                    "web_url": web,
                    "time_stats": {
                        "time_estimate": 0,
                        "total_time_spent": 0,
                        "human_time_estimate": None,
                        "human_total_time_spent": None,
                    },
                    "task_completion_status": {"count": 0, "completed_count": 0},
                    "has_tasks": False,
                    "_links": {
                        "self": f"{api}/issues/{issue.iid}",
                        "notes": f"{api}/issues/{issue.iid}/notes",
                        "award_emoji": f"{api}/issues/{issue.iid}/award_emoji",
                        "project": api,
                        "closed_as_duplicate_of": None,
                    },
                    "references": {
                        "short": f"#{issue.iid}",
                        "relative": f"#{issue.iid}",
                        "full": f"{repo.full_name}#{issue.iid}",
                    },
                    "severity": "UNKNOWN",
                    "moved_to_id": None,
                    "service_desk_reply_to": None,
                }
            )
        return out

    def list_commits(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        """Default-branch commits, newest first (as GitLab returns them)."""
        repo: Repo | None = self.projects.get(project_id)
        if repo is None:
            return []
        visible = [
            c
            for c in self.main_commits.get(repo.full_name, [])
            if c.on_main_at is not None and c.on_main_at <= as_of
        ]
        visible.sort(key=lambda c: (c.committed_at, c.sha), reverse=True)
        return [self._commit(c) for c in visible]

    def commit_diff(self, project_id: int, sha: str, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /projects/:id/repository/commits/:sha/diff`` (a merge: against its first parent).

        ``[]`` when the commit is not on the default branch at ``as_of``.
        """
        repo: Repo | None = self.projects.get(project_id)
        commit = self.commit_by_sha.get((repo.full_name, sha)) if repo else None
        if commit is None or commit.on_main_at is None or commit.on_main_at > as_of:
            return []
        mode = "100644"
        return [
            {
                "diff": change.patch + "\n",
                "collapsed": False,
                "too_large": False,
                "new_path": change.path,
                "old_path": change.path,
                "a_mode": mode,
                "b_mode": mode,
                "new_file": change.status == "added",
                "renamed_file": change.status == "renamed",
                "deleted_file": change.status == "removed",
                "generated_file": change.path.endswith(("lock.json", ".sum")),
            }
            for change in file_changes(self.seed, commit.sha, commit.files)
        ]
