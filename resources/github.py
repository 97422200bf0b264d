"""GitHub REST connector (github.com or GitHub Enterprise via ``base_url``).

Each repository is synced as seven endpoints, each with its own cursor and first-page ETag:
``pulls`` (+ reviews), ``issues``, ``commits`` (+ each new commit's detail: the files it
changed), ``check_runs`` (of the commits pushed to the default branch), ``workflow_runs``,
``deployments`` (+ statuses) and ``releases``. The first page of every list is requested with
``If-None-Match``, so a sync with nothing new costs one 304 per endpoint and transfers nothing.

What this connector does not read, and why:

* Check suites: a suite only groups the check runs read here (and, for GitHub Actions, the
  workflow runs read as ``workflow_runs``); its webhook is still understood.
* Deletions: GitHub's REST lists never say that something was deleted; a deployment, review or
  release that disappears between syncs simply is not listed any more. An ``inactive``
  deployment status or a ``draft`` release is state, not deletion. So no tombstones are landed
  here; deletions can only come from webhooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync, utc_iso
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.github import GitHubScopes
from flowsync_pipelines.sources.github import records as ids
from resources.http import ApiError, HttpClient, Page, RequestStats
from resources.tool import ToolResource

ENDPOINTS = (
    "pulls",
    "issues",
    "commits",
    "check_runs",
    "workflow_runs",
    "deployments",
    "releases",
)
# Workflow runs and deployments list by creation but change later: GitHub lets a run be re-run for
# 30 days after it was created, and a deployment gains statuses. These lists are re-read this far
# (by creation time) behind the cursor; a change to something older goes unseen.
LATE_UPDATE_DAYS = 30
# Check runs change after their commit (queued, running, completed; re-requested); a commit's are
# re-read while it is this recent, by committer date, behind the newest commit of the last sync.
CHECK_RUN_LATE_HOURS = 24
T = TypeVar("T")


class GitHubResource(ToolResource):
    """Reads pull requests, reviews, issues, commits, check runs, workflow runs, deployments
    and releases."""

    base_url: str = "https://api.github.com"
    repos: list[str] = Field(default_factory=list, description="owner/name of each repository")
    late_update_days: int = Field(
        default=LATE_UPDATE_DAYS,
        description="How far behind the cursor, by creation time, runs and deployments are "
        "re-read for late updates (re-runs, new deployment statuses).",
    )
    check_run_late_hours: int = Field(
        default=CHECK_RUN_LATE_HOURS,
        description="How far behind the newest commit, by committer date, a commit's check runs "
        "are re-read when new commits arrived (checks finish or are re-requested later).",
    )

    @classmethod
    def from_source(cls, source: SourceConfig) -> GitHubResource:
        return cls(
            base_url=source.base_url or "https://api.github.com",
            repos=list(source.scopes_of(GitHubScopes).repos),
            **cls.common_fields(source),
        )

    def connector(self, stats: RequestStats) -> GitHubConnector:
        client = self.http_client(
            "github",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            stats=stats,
        )
        return GitHubConnector(
            client,
            repos=self.repos,
            page_size=self.page_size,
            late_update_window=timedelta(days=self.late_update_days),
            check_run_window=timedelta(hours=self.check_run_late_hours),
        )


def _normalised(stamp: Any) -> str | None:
    """``stamp`` as ISO-8601 UTC text, or None when it is missing or not a timestamp.

    A malformed timestamp must not stop the sync: the record lands and normalisation
    quarantines it with a reason.
    """
    if not isinstance(stamp, str):
        return None
    try:
        return utc_iso(stamp)
    except ValueError:
        return None


def _older_than(stamp: Any, bound: datetime | None) -> bool:
    """Whether ``stamp`` is known to be before ``bound`` (unknown stamps are never older)."""
    normalised = _normalised(stamp)
    return bound is not None and normalised is not None and normalised < bound.isoformat()


def _committed_at(commit: dict[str, Any]) -> Any:
    return ((commit.get("commit") or {}).get("committer") or {}).get("date")


class GitHubConnector:
    source = "github"

    def __init__(
        self,
        client: HttpClient,
        *,
        repos: list[str],
        page_size: int,
        late_update_window: timedelta = timedelta(days=LATE_UPDATE_DAYS),
        check_run_window: timedelta = timedelta(hours=CHECK_RUN_LATE_HOURS),
    ) -> None:
        self.client = client
        self.repos = repos
        self.page_size = page_size
        self.late_update_window = late_update_window
        self.check_run_window = check_run_window

    def endpoints(self) -> list[tuple[str, str]]:
        """``(repository, endpoint)`` pairs, each its own cursor and ETag.

        Lists change at different rates (commits hourly, releases weekly); one validator per
        list is what lets an unchanged list cost a single 304 while its neighbour is re-read.
        """
        return [(repo, endpoint) for repo in self.repos for endpoint in ENDPOINTS]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Records of ``sync.endpoint`` in ``sync.scope`` changed since the cursor."""
        readers = {
            "pulls": self._pulls,
            "issues": self._issues,
            "commits": self._commits,
            "check_runs": self._check_runs,
            "workflow_runs": self._workflow_runs,
            "deployments": self._deployments,
            "releases": self._releases,
        }
        return readers[sync.endpoint](sync)

    def _pages(self, sync: EndpointSync, url: str, params: dict[str, Any]) -> Iterator[Page]:
        """The pages of one list, the first asked for conditionally; a 304 yields nothing.

        The first page's ETag becomes the endpoint's new validator, saved with the cursor once
        everything this sync fetched has landed.
        """
        first = True
        for page in self.client.paginate_link(url, params=params, first_page_etag=sync.etag_before):
            if first:
                sync.etag_after, first = page.etag, False
            yield page

    # -- pull requests and reviews --------------------------------------------------------------
    def _pulls(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Pull requests updated since the cursor, newest first, and the reviews of each.

        The pulls list has no ``since`` filter, so it is read sorted by ``updated`` descending
        and paging stops at the first item older than the cursor. Reviews have no list across a
        repository: one request per changed pull request is the floor the API sets.
        """
        repo = sync.scope
        since = sync.since()
        params = {
            "state": "all",
            "sort": "updated",
            "direction": "desc",
            "per_page": self.page_size,
        }
        changed: list[int] = []
        for page in self._pages(sync, f"/repos/{repo}/pulls", params):
            older_seen = False
            for pull in page.data:
                updated = pull.get("updated_at")
                if _older_than(updated, since):
                    older_seen = True
                    break
                sync.observe(_normalised(updated))
                changed.append(pull.get("number"))
                yield FetchedRecord(
                    kind="pulls",
                    scope=repo,
                    record_id=ids.PULLS(repo=repo, number=pull.get("number", pull.get("id"))),
                    updated_at=updated,
                    payload=pull,
                    request=page.url,
                )
            if older_seen:
                break
        for number in changed:
            if not isinstance(number, int):
                continue  # a malformed pull request; it is quarantined downstream
            reviews_url = f"/repos/{repo}/pulls/{number}/reviews"
            for page in self.client.paginate_link(reviews_url, params={"per_page": 100}):
                for review in page.data:
                    yield FetchedRecord(
                        kind="reviews",
                        scope=repo,
                        record_id=ids.REVIEWS(repo=repo, number=number, id=review.get("id")),
                        updated_at=review.get("submitted_at"),
                        payload=review,
                        request=page.url,
                    )

    # -- issues ---------------------------------------------------------------------------------
    def _issues(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Issues updated since the cursor, newest first; pull requests in the list are skipped.

        GitHub's issues list also holds every pull request (an item with a ``pull_request``
        key); those are read as ``pulls``, with the fields the issues list leaves out. The list
        has a ``since`` filter, but a ``since`` in the URL changes with every cursor and would
        void the saved ETag (see :meth:`_commits`): so, as for pulls, it is read sorted by
        ``updated`` descending and paging stops at the first item older than the cursor. Pull
        requests count for that stop (the list is one order), and move the cursor, since their
        updates also change the list's first page. A repository whose issues are turned off
        answers 410 Gone: it has no issues to read.
        """
        since = sync.since()
        params = {
            "state": "all",
            "sort": "updated",
            "direction": "desc",
            "per_page": self.page_size,
        }
        try:
            yield from self._issue_pages(sync, since, params)
        except ApiError as error:
            if error.status_code != 410:  # "Issues are disabled for this repo"
                raise

    def _issue_pages(
        self, sync: EndpointSync, since: datetime | None, params: dict[str, Any]
    ) -> Iterator[FetchedRecord]:
        repo = sync.scope
        for page in self._pages(sync, f"/repos/{repo}/issues", params):
            older_seen = False
            for issue in page.data:
                updated = issue.get("updated_at")
                if _older_than(updated, since):
                    older_seen = True
                    break
                sync.observe(_normalised(updated))
                if "pull_request" in issue:
                    continue  # polled as a pull request
                yield FetchedRecord(
                    kind="issues",
                    scope=repo,
                    record_id=ids.ISSUES(repo=repo, number=issue.get("number", issue.get("id"))),
                    updated_at=updated,
                    payload=issue,
                    request=page.url,
                )
            if older_seen:
                break

    # -- commits --------------------------------------------------------------------------------
    def _commits(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Default-branch commits committed since the cursor, plus what each merge brought in.

        The list is newest first by committer date, so paging stops at the first commit older
        than the cursor. That is what ``since=`` would filter server-side, but a ``since`` in the
        URL changes with every cursor, so the ETag saved by one sync would never match the next
        request: a stable URL keeps a no-change sync at one 304.

        Committer dates are not arrival times: a pull request's commits keep the date they were
        committed on their branch, often days before the merge put them on the default branch.
        So in an incremental sync every merge commit in the window is followed by one
        ``compare/{first parent}...{other parent}`` (paged), which lists exactly the commits that
        merge added. A full sync reads the whole history and needs no compare.
        """
        repo = sync.scope
        since = sync.since()
        merges: list[tuple[str, str]] = []
        pages = self._pages(sync, f"/repos/{repo}/commits", {"per_page": self.page_size})
        for page in pages:
            older_seen = False
            fresh = []
            for commit in page.data:
                committed = _committed_at(commit)
                if _older_than(committed, since):
                    older_seen = True
                    break
                sync.observe(_normalised(committed))
                fresh.append(commit)
                parents = [p.get("sha") for p in commit.get("parents") or []]
                if since is not None and len(parents) > 1:
                    merges += [(parents[0], other) for other in parents[1:]]
            yield from self._all_detailed(repo, fresh, page.url)
            if older_seen:
                break
        for base, head in merges:
            url = f"/repos/{repo}/compare/{base}...{head}"
            for page in self.client.paginate_link(url, params={"per_page": self.page_size}):
                yield from self._all_detailed(repo, page.data.get("commits") or [], page.url)

    def _all_detailed(
        self, repo: str, commits: list[dict[str, Any]], request: str
    ) -> list[FetchedRecord]:
        """:meth:`_detailed` of each commit of a page, in order."""
        return self._concurrently(lambda commit: self._detailed(repo, commit, request), commits)

    def _concurrently(self, ask: Callable[[Any], T], items: list[Any]) -> list[T]:
        """``ask`` of each item, in order, up to the client's concurrency at a time: one request
        per commit is most of a first import's wait. The first error is raised once all end."""
        workers = min(self.client.max_concurrency, len(items))
        if workers <= 1:
            return [ask(item) for item in items]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="github") as pool:
            return list(pool.map(ask, items))

    def _detailed(self, repo: str, commit: dict[str, Any], request: str) -> FetchedRecord:
        """The commit as ``GET /commits/{sha}`` returns it: the list item plus ``stats`` and
        ``files`` (what it changed), which the list leaves out.

        One request per commit the list brought (only commits new since the cursor, so a
        no-change sync asks for none). A commit whose detail cannot be had (a malformed sha,
        an empty answer) lands as listed; normalisation judges it.
        """
        sha = commit.get("sha")
        if isinstance(sha, str) and sha:
            try:
                page = self.client.get(f"/repos/{repo}/commits/{sha}")
            except ApiError as error:
                if error.status_code not in (404, 409, 422):
                    raise
                page = None  # GitHub: "No commit found for SHA"; an empty repository: 409
            if page is not None and isinstance(page.data, dict) and page.data.get("sha") == sha:
                return self._commit_record(repo, page.data, page.url)
        return self._commit_record(repo, commit, request)

    @staticmethod
    def _commit_record(repo: str, commit: dict[str, Any], request: str) -> FetchedRecord:
        return FetchedRecord(
            kind="commits",
            scope=repo,
            record_id=ids.COMMITS(repo=repo, sha=commit.get("sha")),
            updated_at=_committed_at(commit),
            payload=commit,
            request=request,
        )

    # -- check runs -----------------------------------------------------------------------------
    def _check_runs(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """The check runs of each commit pushed to the default branch in the window.

        GitHub lists check runs only per commit (``/commits/{sha}/check-runs``), so the
        default-branch commit list (stable URL, its own ETag: an unchanged list is one 304) says
        which commits to ask about: those committed since the cursor minus the check-run window
        (a check finishes, or is re-requested, after its commit). Of those, only the commits
        pushed to the branch are asked about, i.e. its first-parent chain from the newest commit:
        push checks run on the pushed head, while a merged branch's own commits were checked on
        their pull request. A commit's check runs are re-read while it is in the window and the
        list has changed, or while a check seen by the last sync had not completed (then no ETag
        is kept: a check finishing on the newest commit changes no list). A check re-requested
        once its commit has left the window is seen by webhook only.
        """
        repo = sync.scope
        since = sync.since()
        horizon = since - self.check_run_window if since is not None else None
        parents: dict[str, str | None] = {}
        newest: str | None = None
        pages = self._pages(sync, f"/repos/{repo}/commits", {"per_page": self.page_size})
        for page in pages:
            horizon_reached = False
            for commit in page.data:
                committed = _committed_at(commit)
                if _older_than(committed, horizon):
                    horizon_reached = True
                    break
                sync.observe(_normalised(committed))
                sha = commit.get("sha")
                if not isinstance(sha, str) or not sha:
                    continue
                newest = newest or sha
                first_parent = (commit.get("parents") or [{}])[0]
                parents[sha] = first_parent.get("sha") if isinstance(first_parent, dict) else None
            if horizon_reached:
                break
        pushed, sha = [], newest
        while sha is not None and sha in parents:
            pushed.append(sha)
            sha = parents.pop(sha)
        for runs in self._concurrently(lambda sha: self._commit_check_runs(repo, sha), pushed):
            for request, run in runs:
                if run.get("status") != "completed":
                    sync.revalidate = True
                yield FetchedRecord(
                    kind="check_runs",
                    scope=repo,
                    record_id=ids.CHECK_RUNS(repo=repo, id=run.get("id")),
                    updated_at=run.get("completed_at") or run.get("started_at"),
                    payload=run,
                    request=request,
                )

    def _commit_check_runs(self, repo: str, sha: str) -> list[tuple[str, dict[str, Any]]]:
        """(request, check run) of every page of one commit's check runs."""
        url = f"/repos/{repo}/commits/{sha}/check-runs"
        try:
            return [
                (page.url, run)
                for page in self.client.paginate_link(url, params={"per_page": 100})
                for run in page.data.get("check_runs") or []
            ]
        except ApiError as error:
            if error.status_code not in (404, 422):
                raise  # 422: "No commit found for SHA" (the branch was force-pushed)
            return []

    # -- workflow runs --------------------------------------------------------------------------
    def _workflow_runs(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Workflow runs updated since the cursor.

        The list is newest first by creation, while a run changes after it was created (it
        starts, finishes, is re-run). So paging stops at the first run created before the
        late-update window behind the cursor, and runs not updated since the cursor are skipped.
        The ``created`` filter would bound the list server-side, but it would put the cursor in
        the URL and void the saved ETag (see :meth:`_commits`).
        """
        repo = sync.scope
        since = sync.since()
        horizon = since - self.late_update_window if since is not None else None
        pages = self._pages(sync, f"/repos/{repo}/actions/runs", {"per_page": self.page_size})
        for page in pages:
            horizon_reached = False
            for run in page.data.get("workflow_runs") or []:
                if _older_than(run.get("created_at"), horizon):
                    horizon_reached = True
                    break
                updated = run.get("updated_at")
                if _older_than(updated, since):
                    continue
                sync.observe(_normalised(updated))
                yield FetchedRecord(
                    kind="workflow_runs",
                    scope=repo,
                    record_id=ids.WORKFLOW_RUNS(repo=repo, id=run.get("id")),
                    updated_at=updated,
                    payload=run,
                    request=page.url,
                )
            if horizon_reached:
                break

    # -- deployments and their statuses ---------------------------------------------------------
    def _deployments(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Deployments updated since the cursor, and every status of each.

        Deployments list newest first with no time filter, and a deployment's ``updated_at``
        moves when a status is added. So paging stops at the first deployment created before
        the late-update window behind the cursor, and older-updated ones are skipped. Statuses
        have no list across a repository: one request per changed deployment is the floor the
        API sets. An ``inactive`` status is state, not a deletion.
        """
        repo = sync.scope
        since = sync.since()
        horizon = since - self.late_update_window if since is not None else None
        changed: list[int] = []
        for page in self._pages(sync, f"/repos/{repo}/deployments", {"per_page": self.page_size}):
            horizon_reached = False
            for deployment in page.data:
                if _older_than(deployment.get("created_at"), horizon):
                    horizon_reached = True
                    break
                updated = deployment.get("updated_at")
                if _older_than(updated, since):
                    continue
                sync.observe(_normalised(updated))
                changed.append(deployment.get("id"))
                yield FetchedRecord(
                    kind="deployments",
                    scope=repo,
                    record_id=ids.DEPLOYMENTS(repo=repo, id=deployment.get("id")),
                    updated_at=updated,
                    payload=deployment,
                    request=page.url,
                )
            if horizon_reached:
                break
        for deployment_id in changed:
            if not isinstance(deployment_id, int):
                continue  # a malformed deployment; it is quarantined downstream
            url = f"/repos/{repo}/deployments/{deployment_id}/statuses"
            for page in self.client.paginate_link(url, params={"per_page": 100}):
                for status in page.data:
                    yield FetchedRecord(
                        kind="deployment_statuses",
                        scope=repo,
                        record_id=ids.DEPLOYMENT_STATUSES(
                            repo=repo, deployment=deployment_id, id=status.get("id")
                        ),
                        updated_at=status.get("updated_at") or status.get("created_at"),
                        payload=status,
                        request=page.url,
                    )

    # -- releases -------------------------------------------------------------------------------
    def _releases(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Every release, whenever the first page changed.

        Releases carry no update time and the list no filter, while a release can be edited
        at any time; so there is no cursor to keep, and a changed first page means re-reading
        the list (landing keeps only versions it has not seen). Lists are short: releases are
        made by hand or per deployment train.
        """
        repo = sync.scope
        for page in self._pages(sync, f"/repos/{repo}/releases", {"per_page": self.page_size}):
            for release in page.data:
                yield FetchedRecord(
                    kind="releases",
                    scope=repo,
                    record_id=ids.RELEASES(repo=repo, id=release.get("id")),
                    updated_at=release.get("published_at") or release.get("created_at"),
                    payload=release,
                    request=page.url,
                )
