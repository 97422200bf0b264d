"""GitHub REST v3 shapes (api.github.com / github.com) rendered as of an instant."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

from .clock import iso_z
from .ids import github_node_id, hex_id, int_from, legacy_node_id
from .model import CiRun, Commit, Deployment, GithubIssue, PullRequest, Timeline
from .org import DEPENDABOT_ID, ORG_SLUG, Organisation, Person, Repo
from .sim_files import file_changes

API = "https://api.github.com"
WEB = "https://github.com"
GHOST_LOGIN, GHOST_ID = "ghost", 10137
WEB_FLOW_LOGIN, WEB_FLOW_ID = "web-flow", 19864447
SCAN_APP_SLUG, SCAN_APP_ID = "acme-scan", 412_907
_LANGUAGE_NAMES = {"python": "Python", "go": "Go", "typescript": "TypeScript"}
_LABEL_COLOURS = {
    "bug": ("d73a4a", "Something isn't working", True),
    "enhancement": ("a2eeef", "New feature or request", True),
    "documentation": ("0075ca", "Improvements or additions to documentation", True),
    "dependencies": ("0366d6", "Pull requests that update a dependency file", False),
    "needs-qa": ("fbca04", "Needs a QA pass before release", False),
}


def user_object(login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    """GitHub's simple-user object; bot logins are percent-encoded in API urls."""
    quoted = login.replace("[", "%5B").replace("]", "%5D")
    api = f"{API}/users/{quoted}"
    html = f"{WEB}/apps/{login.removesuffix('[bot]')}" if kind == "Bot" else f"{WEB}/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": legacy_node_id(kind, user_id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "site_admin": False,
    }


def ghost_user() -> dict[str, Any]:
    """What GitHub shows in place of a deleted account."""
    return user_object(GHOST_LOGIN, GHOST_ID)


class GithubRenderer:
    def __init__(self, org: Organisation, timeline: Timeline, seed: int) -> None:
        self.org = org
        self.seed = seed
        self.repos = {r.full_name: r for r in org.repos if r.host == "github"}
        self.org_id = int_from(8_000_000, 90_000_000, seed, "gh-org-id")
        self.pulls: dict[str, list[PullRequest]] = {name: [] for name in self.repos}
        for pr in timeline.pulls:
            if pr.host == "github":
                self.pulls[pr.repo].append(pr)
        for prs in self.pulls.values():
            prs.sort(key=lambda p: p.id)
        self.pulls_by_key = {p.key: p for p in timeline.pulls}
        self.pull_by_number = {(p.repo, p.number): p for p in timeline.pulls}
        self.main_commits = timeline.main_commits
        self.commit_by_sha = {
            (repo, c.sha): c for repo, history in timeline.main_commits.items() for c in history
        }
        self.runs: dict[str, list[CiRun]] = {name: [] for name in self.repos}
        for run in timeline.ci_runs:
            if run.system == "actions":
                self.runs[run.repo].append(run)
        for runs in self.runs.values():
            runs.sort(key=lambda r: r.id)
        self.deployments: dict[str, list[Deployment]] = {name: [] for name in self.repos}
        for dep in timeline.deployments:
            if dep.host == "github":
                self.deployments[dep.repo].append(dep)
        for deps in self.deployments.values():
            deps.sort(key=lambda d: d.id)
        self.deployment_by_id = {d.id: d for d in timeline.deployments if d.host == "github"}
        self.releases = {
            name: [r for r in timeline.releases if r.repo == name] for name in self.repos
        }
        self.issues: dict[str, list[GithubIssue]] = {name: [] for name in self.repos}
        for issue in timeline.github_issues:
            self.issues[issue.repo].append(issue)
        # push instants per repo, for the repository object's pushed_at
        self.push_times: dict[str, list[datetime]] = {}
        for name in self.repos:
            times = [p.at for pr in self.pulls[name] for p in pr.pushes]
            times += [pr.merged_at for pr in self.pulls[name] if pr.merged_at]
            self.push_times[name] = sorted(times)

    # --- shared objects -------------------------------------------------------------------

    def person_user(self, person_id: str, as_of: datetime) -> dict[str, Any]:
        person = self.org.person(person_id)
        if person.has_left(as_of) or "github" not in person.accounts:
            return ghost_user()
        return user_object(
            person.accounts["github"], person.github_id or 0, "Bot" if person.is_bot else "User"
        )

    def _association(self, person_id: str, as_of: datetime) -> str:
        person = self.org.person(person_id)
        if person.has_left(as_of):
            return "NONE"
        if person.person_id == DEPENDABOT_ID:
            return "CONTRIBUTOR"
        return "NONE" if person.is_bot else "MEMBER"

    def _owner(self) -> dict[str, Any]:
        return user_object(ORG_SLUG, self.org_id, "Organization")

    def repository(self, repo: Repo, as_of: datetime, *, minimal: bool = False) -> dict[str, Any]:
        api = f"{API}/repos/{repo.full_name}"
        out: dict[str, Any] = {
            "id": repo.numeric_id,
            "node_id": github_node_id("R", self.seed, repo.full_name),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": True,
            "owner": self._owner(),
            "html_url": f"{WEB}/{repo.full_name}",
            "description": repo.description,
            "fork": False,
            "url": api,
        }
        for key, suffix in (
            ("forks_url", "/forks"),
            ("keys_url", "/keys{/key_id}"),
            ("collaborators_url", "/collaborators{/collaborator}"),
            ("teams_url", "/teams"),
            ("hooks_url", "/hooks"),
            ("issue_events_url", "/issues/events{/number}"),
            ("events_url", "/events"),
            ("assignees_url", "/assignees{/user}"),
            ("branches_url", "/branches{/branch}"),
            ("tags_url", "/tags"),
            ("blobs_url", "/git/blobs{/sha}"),
            ("git_tags_url", "/git/tags{/sha}"),
            ("git_refs_url", "/git/refs{/sha}"),
            ("trees_url", "/git/trees{/sha}"),
            ("statuses_url", "/statuses/{sha}"),
            ("languages_url", "/languages"),
            ("stargazers_url", "/stargazers"),
            ("contributors_url", "/contributors"),
            ("subscribers_url", "/subscribers"),
            ("subscription_url", "/subscription"),
            ("commits_url", "/commits{/sha}"),
            ("git_commits_url", "/git/commits{/sha}"),
            ("comments_url", "/comments{/number}"),
            ("issue_comment_url", "/issues/comments{/number}"),
            ("contents_url", "/contents/{+path}"),
            ("compare_url", "/compare/{base}...{head}"),
            ("merges_url", "/merges"),
            ("archive_url", "/{archive_format}{/ref}"),
            ("downloads_url", "/downloads"),
            ("issues_url", "/issues{/number}"),
            ("pulls_url", "/pulls{/number}"),
            ("milestones_url", "/milestones{/number}"),
            ("notifications_url", "/notifications{?since,all,participating}"),
            ("labels_url", "/labels{/name}"),
            ("releases_url", "/releases{/id}"),
            ("deployments_url", "/deployments"),
        ):
            out[key] = api + suffix
        if minimal:
            return out
        pushes = self.push_times[repo.full_name]
        idx = bisect_right(pushes, as_of)
        pushed_at = pushes[idx - 1] if idx else None
        open_count = sum(1 for pr in self.pulls[repo.full_name] if pr.is_open(as_of))
        created = datetime(
            2019 + repo.numeric_id % 5, 1 + repo.numeric_id % 12, 3, tzinfo=as_of.tzinfo
        )
        out.update(
            {
                "created_at": iso_z(created),
                "updated_at": iso_z(pushed_at or created),
                "pushed_at": iso_z(pushed_at or created),
                "git_url": f"git://github.com/{repo.full_name}.git",
                "ssh_url": f"git@github.com:{repo.full_name}.git",
                "clone_url": f"{WEB}/{repo.full_name}.git",
                "svn_url": f"{WEB}/{repo.full_name}",
                "homepage": None,
                "size": int_from(800, 90_000, self.seed, "repo-size", repo.full_name),
                "stargazers_count": 0,
                "watchers_count": 0,
                "language": _LANGUAGE_NAMES[repo.language],
                "has_issues": True,
                "has_projects": False,
                "has_downloads": True,
                "has_wiki": False,
                "has_pages": False,
                "has_discussions": False,
                "forks_count": 0,
                "mirror_url": None,
                "archived": False,
                "disabled": False,
                "open_issues_count": open_count,
                "license": None,
                "allow_forking": False,
                "is_template": False,
                "web_commit_signoff_required": False,
                "topics": [repo.team, repo.language],
                "visibility": "private",
                "forks": 0,
                "open_issues": open_count,
                "watchers": 0,
                "default_branch": "main",
            }
        )
        return out

    def _label(self, repo: str, name: str) -> dict[str, Any]:
        colour, description, default = _LABEL_COLOURS.get(name, ("ededed", "", False))
        label_id = int_from(1_000_000_000, 9_000_000_000, self.seed, "label", repo, name)
        return {
            "id": label_id,
            "node_id": github_node_id("LA", self.seed, repo, name),
            "url": f"{API}/repos/{repo}/labels/{name}",
            "name": name,
            "color": colour,
            "default": default,
            "description": description,
        }

    # --- pull requests --------------------------------------------------------------------

    def _requested_reviewers(self, pr: PullRequest, as_of: datetime) -> list[dict[str, Any]]:
        pending: dict[str, datetime] = {}
        for request in pr.requests:
            if request.at <= as_of:
                pending[request.reviewer] = request.at
        for review in pr.reviews:
            if (
                review.at <= as_of
                and review.reviewer in pending
                and review.at >= pending[review.reviewer]
            ):
                del pending[review.reviewer]
        return [
            self.person_user(pid, as_of)
            for pid, _ in sorted(pending.items(), key=lambda kv: kv[1])
            if not self.org.person(pid).has_left(as_of)
        ]

    def pull(self, pr: PullRequest, as_of: datetime) -> dict[str, Any]:
        repo = self.repos[pr.repo]
        api = f"{API}/repos/{pr.repo}"
        html = f"{WEB}/{pr.repo}/pull/{pr.number}"
        merged = pr.merged_at is not None and pr.merged_at <= as_of
        closed = merged or (pr.closed_at is not None and pr.closed_at <= as_of)
        head_sha = pr.head_sha_at(as_of)
        author = self.person_user(pr.author, as_of)
        return {
            "url": f"{api}/pulls/{pr.number}",
            "id": pr.id,
            "node_id": github_node_id("PR", self.seed, pr.key),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{pr.number}",
            "number": pr.number,
            "state": "closed" if closed else "open",
            "locked": False,
            "title": pr.title,
            "user": author,
            "body": pr.body,
            "created_at": iso_z(pr.created_at),
            "updated_at": iso_z(pr.updated_at(as_of)),
            "closed_at": iso_z(pr.closed_at) if closed and pr.closed_at else None,
            "merged_at": iso_z(pr.merged_at) if merged and pr.merged_at else None,
            "merge_commit_sha": pr.merge_commit.sha if merged and pr.merge_commit else None,
            "assignee": author if pr.author != DEPENDABOT_ID else None,
            "assignees": [author] if pr.author != DEPENDABOT_ID else [],
            "requested_reviewers": self._requested_reviewers(pr, as_of),
            "requested_teams": [],
            "labels": [self._label(pr.repo, name) for name in pr.labels],
            "milestone": None,
            "draft": pr.is_draft_at(as_of),
            "commits_url": f"{api}/pulls/{pr.number}/commits",
            "review_comments_url": f"{api}/pulls/{pr.number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{pr.number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}",
            "head": {
                "label": f"{ORG_SLUG}:{pr.head_ref}",
                "ref": pr.head_ref,
                "sha": head_sha,
                "user": self._owner(),
                "repo": self.repository(repo, as_of),
            },
            "base": {
                "label": f"{ORG_SLUG}:main",
                "ref": "main",
                "sha": pr.base_sha,
                "user": self._owner(),
                "repo": self.repository(repo, as_of),
            },
            "_links": {
                "self": {"href": f"{api}/pulls/{pr.number}"},
                "html": {"href": html},
                "issue": {"href": f"{api}/issues/{pr.number}"},
                "comments": {"href": f"{api}/issues/{pr.number}/comments"},
                "review_comments": {"href": f"{api}/pulls/{pr.number}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/pulls/{pr.number}/commits"},
                "statuses": {"href": f"{api}/statuses/{head_sha}"},
            },
            "author_association": self._association(pr.author, as_of),
            "auto_merge": None,
            "active_lock_reason": None,
        }

    def list_pulls(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        return [self.pull(pr, as_of) for pr in self.pulls[repo] if pr.created_at <= as_of]

    def list_reviews(self, repo: str, number: int, as_of: datetime) -> list[dict[str, Any]]:
        pr = self.pull_by_number.get((repo, number))
        if pr is None or pr.created_at > as_of:
            return []
        html = f"{WEB}/{repo}/pull/{number}"
        api = f"{API}/repos/{repo}/pulls/{number}"
        return [
            {
                "id": review.id,
                "node_id": github_node_id("PRR", self.seed, review.key),
                "user": self.person_user(review.reviewer, as_of),
                "body": review.body,
                "state": review.state,
                "html_url": f"{html}#pullrequestreview-{review.id}",
                "pull_request_url": api,
                "_links": {
                    "html": {"href": f"{html}#pullrequestreview-{review.id}"},
                    "pull_request": {"href": api},
                },
                "submitted_at": iso_z(review.at),
                "commit_id": review.commit_sha,
                "author_association": self._association(review.reviewer, as_of),
            }
            for review in sorted(pr.reviews, key=lambda r: r.id)
            if review.at <= as_of
        ]

    # --- issues -----------------------------------------------------------------------------

    def _issue_common(self, repo: str, number: int, as_of: datetime) -> dict[str, Any]:
        api = f"{API}/repos/{repo}"
        return {
            "url": f"{api}/issues/{number}",
            "repository_url": api,
            "labels_url": f"{api}/issues/{number}/labels{{/name}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "events_url": f"{api}/issues/{number}/events",
            "number": number,
            "locked": False,
            "milestone": None,
            "comments": 0,
            "active_lock_reason": None,
            "timeline_url": f"{api}/issues/{number}/timeline",
            "performed_via_github_app": None,
        }

    def issue(self, issue: GithubIssue, as_of: datetime) -> dict[str, Any]:
        """An item of ``GET /repos/{o}/{r}/issues``: an issue as the list shows it."""
        closed = issue.closed_at is not None and issue.closed_at <= as_of
        author = self.person_user(issue.author, as_of)
        return {
            **self._issue_common(issue.repo, issue.number, as_of),
            "html_url": f"{WEB}/{issue.repo}/issues/{issue.number}",
            "id": issue.id,
            "node_id": github_node_id("I", self.seed, issue.key),
            "title": issue.title,
            "user": author,
            "labels": [self._label(issue.repo, name) for name in issue.labels],
            "state": "closed" if closed else "open",
            "assignee": None,
            "assignees": [],
            "created_at": iso_z(issue.created_at),
            "updated_at": iso_z(
                issue.closed_at if closed and issue.closed_at else issue.created_at
            ),
            "closed_at": iso_z(issue.closed_at) if closed and issue.closed_at else None,
            "author_association": self._association(issue.author, as_of),
            "body": issue.body or None,
            "closed_by": self.person_user(issue.closed_by, as_of)
            if closed and issue.closed_by
            else None,
            "state_reason": "completed" if closed else None,
        }

    def pull_as_issue(self, pr: PullRequest, as_of: datetime) -> dict[str, Any]:
        """A pull request as the issues list shows it: issue fields plus a ``pull_request`` key."""
        pull = self.pull(pr, as_of)
        html = pull["html_url"]
        return {
            **self._issue_common(pr.repo, pr.number, as_of),
            "html_url": html,
            "id": pr.id,
            "node_id": pull["node_id"],
            "title": pull["title"],
            "user": pull["user"],
            "labels": pull["labels"],
            "state": pull["state"],
            "assignee": pull["assignee"],
            "assignees": pull["assignees"],
            "created_at": pull["created_at"],
            "updated_at": pull["updated_at"],
            "closed_at": pull["closed_at"],
            "author_association": pull["author_association"],
            "draft": pull["draft"],
            "pull_request": {
                "url": pull["url"],
                "html_url": html,
                "diff_url": pull["diff_url"],
                "patch_url": pull["patch_url"],
                "merged_at": pull["merged_at"],
            },
            "body": pull["body"],
            "state_reason": None,
        }

    def list_issues(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /repos/{o}/{r}/issues?state=all`` items, pull requests included (by number)."""
        issues = [self.issue(i, as_of) for i in self.issues[repo] if i.created_at <= as_of]
        pulls = [self.pull_as_issue(pr, as_of) for pr in self.pulls[repo] if pr.created_at <= as_of]
        return sorted(issues + pulls, key=lambda item: item["number"])

    # --- commits ----------------------------------------------------------------------------

    def _linked_user(self, person_id: str, email: str, as_of: datetime) -> dict[str, Any] | None:
        """GitHub links a commit to an account only through a verified email on that account."""
        if person_id == "web-flow":
            return user_object(WEB_FLOW_LOGIN, WEB_FLOW_ID)
        person: Person = self.org.person(person_id)
        if person.has_left(as_of) or "github" not in person.accounts:
            return None
        linked = email == person.work_email or email.endswith("@users.noreply.github.com")
        return self.person_user(person_id, as_of) if linked else None

    def commit(self, commit: Commit, as_of: datetime) -> dict[str, Any]:
        api = f"{API}/repos/{commit.repo}"
        signed = commit.committer == "web-flow" or commit.author == DEPENDABOT_ID
        return {
            "sha": commit.sha,
            "node_id": github_node_id("C", self.seed, commit.sha),
            "commit": {
                "author": {
                    "name": commit.author_name,
                    "email": commit.author_email,
                    "date": iso_z(commit.authored_at),
                },
                "committer": {
                    "name": commit.committer_name,
                    "email": commit.committer_email,
                    "date": iso_z(commit.committed_at),
                },
                "message": commit.message,
                "tree": {"sha": commit.tree_sha, "url": f"{api}/git/trees/{commit.tree_sha}"},
                "url": f"{api}/git/commits/{commit.sha}",
                "comment_count": 0,
                "verification": {
                    "verified": signed,
                    "reason": "valid" if signed else "unsigned",
                    "signature": (
                        "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQBQJ"
                        + hex_id(40, "sig", commit.sha)
                        + "\n-----END PGP SIGNATURE-----\n"
                    )
                    if signed
                    else None,
                    "payload": f"tree {commit.tree_sha}\nparent {commit.parents[0]}\n"
                    if signed
                    else None,
                    "verified_at": iso_z(commit.committed_at) if signed else None,
                },
            },
            "url": f"{api}/commits/{commit.sha}",
            "html_url": f"{WEB}/{commit.repo}/commit/{commit.sha}",
            "comments_url": f"{api}/commits/{commit.sha}/comments",
            "author": self._linked_user(commit.author, commit.author_email, as_of),
            "committer": self._linked_user(commit.committer, commit.committer_email, as_of),
            "parents": [
                {
                    "sha": sha,
                    "url": f"{api}/commits/{sha}",
                    "html_url": f"{WEB}/{commit.repo}/commit/{sha}",
                }
                for sha in commit.parents
            ],
        }

    def list_commits(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        visible = [
            c
            for c in self.main_commits.get(repo, [])
            if c.on_main_at is not None and c.on_main_at <= as_of
        ]
        visible.sort(key=lambda c: (c.committed_at, c.sha), reverse=True)
        return [self.commit(c, as_of) for c in visible]

    def commit_detail(self, repo: str, sha: str, as_of: datetime) -> dict[str, Any]:
        """``GET /repos/{o}/{r}/commits/{sha}``: the list item plus ``stats`` and ``files``.

        A merge commit's files are its diff against the first parent, as GitHub shows them.
        ``{}`` when the commit is not on the default branch at ``as_of``.
        """
        commit = self.commit_by_sha.get((repo, sha))
        if commit is None or commit.on_main_at is None or commit.on_main_at > as_of:
            return {}
        changes = file_changes(self.seed, commit.sha, commit.files)
        files = []
        for change in changes:
            raw = f"{WEB}/{repo}/raw/{commit.sha}/{change.path}"
            files.append(
                {
                    "sha": change.blob_sha,
                    "filename": change.path,
                    "status": change.status,
                    "additions": change.additions,
                    "deletions": change.deletions,
                    "changes": change.additions + change.deletions,
                    "blob_url": f"{WEB}/{repo}/blob/{commit.sha}/{change.path}",
                    "raw_url": raw,
                    "contents_url": f"{API}/repos/{repo}/contents/{change.path}?ref={commit.sha}",
                    "patch": change.patch,
                }
            )
        additions = sum(c.additions for c in changes)
        deletions = sum(c.deletions for c in changes)
        return {
            **self.commit(commit, as_of),
            "stats": {
                "total": additions + deletions,
                "additions": additions,
                "deletions": deletions,
            },
            "files": files,
        }

    # --- check runs -------------------------------------------------------------------------

    def check_runs(self, repo: str, sha: str, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /repos/{o}/{r}/commits/{sha}/check-runs`` items.

        A third-party app (``acme-scan``) checks each commit pushed to the default branch
        (merge commits: branch commits were checked on their pull request). It starts one to
        four minutes after the push and takes two to nine. ``[]`` for any other commit.
        """
        commit = self.commit_by_sha.get((repo, sha))
        if commit is None or commit.kind != "merge" or commit.on_main_at is None:
            return []
        started = commit.on_main_at + timedelta(
            seconds=int_from(60, 240, self.seed, "check-start", sha)
        )
        if started > as_of:
            return []
        completed = started + timedelta(seconds=int_from(120, 540, self.seed, "check-took", sha))
        roll = int_from(0, 99, self.seed, "check-outcome", sha)
        conclusion = "failure" if roll < 8 else "neutral" if roll < 12 else "success"
        done = completed <= as_of
        run_id = int_from(30_000_000_000, 39_000_000_000, self.seed, "check-run", repo, sha)
        suite_id = int_from(20_000_000_000, 29_000_000_000, self.seed, "check-suite", repo, sha)
        api = f"{API}/repos/{repo}"
        return [
            {
                "id": run_id,
                "name": "security-scan",
                "node_id": github_node_id("CR", self.seed, repo, sha),
                "head_sha": sha,
                "external_id": hex_id(12, "scan", sha),
                "url": f"{api}/check-runs/{run_id}",
                "html_url": f"{WEB}/{repo}/runs/{run_id}",
                "details_url": f"https://scan.acme.example/{repo}/{sha[:12]}",
                "status": "completed" if done else "in_progress",
                "conclusion": conclusion if done else None,
                "started_at": iso_z(started),
                "completed_at": iso_z(completed) if done else None,
                "output": {
                    "title": f"Security scan {conclusion}" if done else None,
                    "summary": None,
                    "text": None,
                    "annotations_count": 0,
                    "annotations_url": f"{api}/check-runs/{run_id}/annotations",
                },
                "check_suite": {"id": suite_id},
                "app": {
                    "id": SCAN_APP_ID,
                    "slug": SCAN_APP_SLUG,
                    "node_id": legacy_node_id("App", SCAN_APP_ID),
                    "owner": self._owner(),
                    "name": "Acme Scan",
                    "description": "Dependency and secret scanning",
                    "external_url": "https://scan.acme.example",
                    "html_url": f"{WEB}/apps/{SCAN_APP_SLUG}",
                    "created_at": "2024-02-01T10:00:00Z",
                    "updated_at": "2024-02-01T10:00:00Z",
                    "permissions": {"checks": "write", "contents": "read"},
                    "events": [],
                },
                "pull_requests": [],
            }
        ]

    # --- actions ----------------------------------------------------------------------------

    def workflow_run(self, run: CiRun, as_of: datetime) -> dict[str, Any]:
        repo = self.repos[run.repo]
        api = f"{API}/repos/{run.repo}"
        url = f"{api}/actions/runs/{run.id}"
        attempts = run.attempts_at(as_of)
        current = attempts[-1]
        if as_of < current.started_at:
            status, conclusion = "queued", None
        elif as_of < current.finished_at:
            status, conclusion = "in_progress", None
        else:
            status, conclusion = "completed", current.conclusion
        updated = (
            max(t for t in (run.created_at, current.started_at, current.finished_at) if t <= as_of)
            if as_of >= run.created_at
            else run.created_at
        )
        pr = self.pulls_by_key.get(run.pr_key or "")
        has_pr = pr is not None and pr.created_at <= run.created_at
        head = run.commits[-1] if run.commits else None
        workflow_id = int_from(40_000_000, 90_000_000, self.seed, "workflow", run.repo)
        check_suite_id = int_from(20_000_000_000, 29_000_000_000, self.seed, "suite", run.key)
        repo_min = self.repository(repo, as_of, minimal=True)
        pull_requests = []
        if has_pr and pr is not None and run.branch != "main":
            pull_requests.append(
                {
                    "url": f"{api}/pulls/{pr.number}",
                    "id": pr.id,
                    "number": pr.number,
                    "head": {
                        "ref": pr.head_ref,
                        "sha": run.sha,
                        "repo": {"id": repo.numeric_id, "url": api, "name": repo.name},
                    },
                    "base": {
                        "ref": "main",
                        "sha": pr.base_sha,
                        "repo": {"id": repo.numeric_id, "url": api, "name": repo.name},
                    },
                }
            )
        display = (
            pr.title if has_pr and pr is not None else (head.message.split("\n")[0] if head else "")
        )
        return {
            "id": run.id,
            "name": run.job,
            "node_id": github_node_id("WFR", self.seed, run.key),
            "head_branch": run.branch,
            "head_sha": run.sha,
            "path": ".github/workflows/ci.yml",
            "display_title": display,
            "run_number": run.number,
            "event": "pull_request" if has_pr and run.branch != "main" else "push",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": workflow_id,
            "check_suite_id": check_suite_id,
            "check_suite_node_id": github_node_id("CS", self.seed, run.key),
            "url": url,
            "html_url": f"{WEB}/{run.repo}/actions/runs/{run.id}",
            "pull_requests": pull_requests,
            "created_at": iso_z(run.created_at),
            "updated_at": iso_z(updated),
            "actor": self.person_user(run.actor, as_of),
            "run_attempt": len(attempts),
            "referenced_workflows": [],
            "run_started_at": iso_z(current.started_at),
            "triggering_actor": self.person_user(current.actor, as_of),
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{api}/check-suites/{check_suite_id}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "previous_attempt_url": f"{url}/attempts/{len(attempts) - 1}"
            if len(attempts) > 1
            else None,
            "workflow_url": f"{api}/actions/workflows/{workflow_id}",
            "head_commit": {
                "id": run.sha,
                "tree_id": head.tree_sha if head else "",
                "message": head.message if head else "",
                "timestamp": iso_z(head.committed_at) if head else iso_z(run.created_at),
                "author": {"name": head.author_name, "email": head.author_email} if head else None,
                "committer": {"name": head.committer_name, "email": head.committer_email}
                if head
                else None,
            },
            "repository": repo_min,
            "head_repository": self.repository(repo, as_of, minimal=True),
        }

    def list_workflow_runs(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        return [self.workflow_run(r, as_of) for r in self.runs[repo] if r.created_at <= as_of]

    # --- deployments and releases -------------------------------------------------------

    def deployment(self, dep: Deployment, as_of: datetime) -> dict[str, Any]:
        api = f"{API}/repos/{dep.repo}"
        seen = [at for at, _ in dep.statuses if at <= as_of]
        return {
            "url": f"{api}/deployments/{dep.id}",
            "id": dep.id,
            "node_id": github_node_id("DE", self.seed, dep.key),
            "sha": dep.sha,
            "ref": "main",
            "task": "deploy",
            "payload": {},
            "original_environment": dep.environment,
            "environment": dep.environment,
            "description": None,
            "creator": self.person_user(dep.creator, as_of),
            "created_at": iso_z(dep.created_at),
            "updated_at": iso_z(max(seen, default=dep.created_at)),
            "statuses_url": f"{api}/deployments/{dep.id}/statuses",
            "repository_url": api,
            "transient_environment": False,
            "production_environment": dep.environment == "production",
            "performed_via_github_app": None,
        }

    def list_deployments(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        return [self.deployment(d, as_of) for d in self.deployments[repo] if d.created_at <= as_of]

    def list_deployment_statuses(
        self, repo: str, deployment_id: int, as_of: datetime
    ) -> list[dict[str, Any]]:
        dep = self.deployment_by_id.get(deployment_id)
        if dep is None or dep.repo != repo:
            return []
        api = f"{API}/repos/{repo}"
        prefix = "" if dep.environment == "production" else "staging."
        service_host = f"https://{prefix}{dep.service}.acme.example"
        out = []
        for (at, state), status_id in zip(dep.statuses, dep.status_ids, strict=True):
            if at > as_of:
                continue
            out.append(
                {
                    "url": f"{api}/deployments/{dep.id}/statuses/{status_id}",
                    "id": status_id,
                    "node_id": github_node_id("DES", self.seed, dep.key, status_id),
                    "state": state,
                    "creator": self.person_user(dep.creator, as_of),
                    "description": "" if state == "in_progress" else f"Deployment {state}",
                    "environment": dep.environment,
                    "target_url": "",
                    "created_at": iso_z(at),
                    "updated_at": iso_z(at),
                    "deployment_url": f"{api}/deployments/{dep.id}",
                    "repository_url": api,
                    "environment_url": service_host if state == "success" else "",
                    "log_url": "",
                    "performed_via_github_app": None,
                }
            )
        return sorted(out, key=lambda s: s["id"])

    def list_releases(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        api = f"{API}/repos/{repo}"
        out = []
        for rel in sorted(self.releases.get(repo, []), key=lambda r: r.id):
            if rel.published_at > as_of:
                continue
            out.append(
                {
                    "url": f"{api}/releases/{rel.id}",
                    "assets_url": f"{api}/releases/{rel.id}/assets",
                    "upload_url": f"https://uploads.github.com/repos/{repo}/releases/{rel.id}/assets{{?name,label}}",
                    "html_url": f"{WEB}/{repo}/releases/tag/{rel.tag}",
                    "id": rel.id,
                    "author": self.person_user(rel.author, as_of),
                    "node_id": github_node_id("RE", self.seed, rel.key),
                    "tag_name": rel.tag,
                    "target_commitish": "main",
                    "name": rel.name,
                    "draft": False,
                    "prerelease": rel.prerelease,
                    "created_at": iso_z(rel.created_at),
                    "published_at": iso_z(rel.published_at),
                    "assets": [],
                    "tarball_url": f"{api}/tarball/{rel.tag}",
                    "zipball_url": f"{api}/zipball/{rel.tag}",
                    "body": rel.body,
                }
            )
        return out
