"""GitLab REST v4 connector (gitlab.com, or self-managed via ``base_url``; the API is ``/api/v4``).

Each project is synced as five endpoints, each with its own cursor and first-page ETag:
``merge_requests`` (+ approvals and notes of each changed one), ``pipelines`` (+ jobs of each
changed one), ``deployments``, ``issues`` and ``commits`` (default branch; each new commit
with its ``diff``).

Why the lists are read newest-updated first instead of with ``updated_after=<cursor>``: a cursor
in the URL changes the URL whenever the cursor moves, so the ETag one sync saves never matches
the next sync's first request, and a sync with nothing new would re-read the overlap window and
repeat every per-item call in it. ``order_by=updated_at&sort=desc`` without a filter keeps the
first page's URL stable (a no-change sync is one 304 per endpoint), and paging stops at the
first item updated before the cursor minus the overlap. It also pages safely: under offset
paging, an item updated mid-sync jumps to the front of a descending list (the reader sees a
neighbour twice), whereas in an ascending list it jumps behind the reader and shifts an unread
item onto a page already read, where it is never seen.

Deletions GitLab reports, landed as tombstones: an issue moved to another project (it stays,
closed, with ``moved_to_id``), and a merge request or pipeline that answers 404 moments after the
list showed it. GitLab's lists never report deleted notes, merge requests or pipelines: they are
simply absent. System notes ("approved this merge request", "added 2 commits") are not
deletions; they land as notes with ``system: true``, since they are the review and push events.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import Any
from urllib.parse import quote

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync, utc_iso
from flowsync_pipelines.landing import FetchedRecord, tombstone
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.gitlab import GitLabProject, GitLabScopes
from flowsync_pipelines.sources.gitlab import records as ids
from resources.http import ApiError, HttpClient, Page, RequestStats
from resources.tool import ToolResource

API_ROOT = "/api/v4"
MAX_PER_PAGE = 100  # GitLab caps per_page at 100
ENDPOINTS = ("merge_requests", "pipelines", "deployments", "issues", "commits")


def gitlab_time(stamp: Any) -> str | None:
    """A GitLab timestamp as ISO-8601 UTC text, or None when it is absent or unreadable.

    GitLab writes the same instant several ways: ``2026-09-03T10:15:30.123Z`` (REST),
    ``2026-09-03T12:15:30.000+02:00`` (git dates keep the committer's offset), and
    ``2026-09-03 10:15:30 UTC`` or ``2026-09-03 12:15:30 +0200`` (webhooks). Compared as text
    they sort wrongly, so every one is normalised before it becomes a cursor. A malformed stamp
    must not stop the sync: its record lands and normalisation quarantines it.
    """
    if not isinstance(stamp, str) or not stamp.strip():
        return None
    text = stamp.strip()
    if text.endswith(" UTC"):
        text = text[: -len(" UTC")] + "+00:00"
    text = text.replace(" +", "+").replace(" -", "-")
    try:
        return utc_iso(text)
    except ValueError:
        return None


def _gitlab_param(moment: datetime) -> str:
    """An instant as GitLab's API parameters take it: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _updated_before(stamp: str | None, bound: datetime | None) -> bool:
    """Whether a normalised ``stamp`` is known to be before ``bound`` (unknown never is)."""
    return bound is not None and stamp is not None and datetime.fromisoformat(stamp) < bound


def _latest(*stamps: Any) -> str | None:
    """The latest of several GitLab timestamps (jobs have no ``updated_at``)."""
    return max(filter(None, map(gitlab_time, stamps)), default=None)


class GitLabResource(ToolResource):
    """Reads merge requests, approvals, notes, pipelines, jobs, deployments, issues, commits."""

    base_url: str = Field(
        default="https://gitlab.com", description="GitLab URL, e.g. https://gitlab.example.com"
    )
    projects: list[str] = Field(default_factory=list, description="group/name of each project")
    project_ids: dict[str, int] = Field(
        default_factory=dict,
        description="Numeric id per project path, where known; requests by id survive renames.",
    )

    @classmethod
    def from_source(cls, source: SourceConfig) -> GitLabResource:
        """Scopes list projects as ``group/name`` or ``{id: 7, path: group/name}``."""
        paths: list[str] = []
        ids: dict[str, int] = {}
        for entry in source.scopes_of(GitLabScopes).projects:
            if isinstance(entry, GitLabProject):
                if entry.id is not None:
                    ids[entry.path] = entry.id
                paths.append(entry.path)
            else:
                paths.append(entry)
        fields = cls.common_fields(source)
        fields["page_size"] = min(source.page_size, MAX_PER_PAGE)
        return cls(
            base_url=source.base_url or "https://gitlab.com",
            projects=paths,
            project_ids=ids,
            **fields,
        )

    def connector(self, stats: RequestStats) -> GitLabConnector:
        client = self.http_client("gitlab", headers={"PRIVATE-TOKEN": self.token}, stats=stats)
        # Accept a base_url given with or without the API root.
        api_root = "" if self.base_url.rstrip("/").endswith(API_ROOT) else API_ROOT
        return GitLabConnector(
            client,
            projects=self.projects,
            project_ids=self.project_ids,
            page_size=min(self.page_size, MAX_PER_PAGE),
            api_root=api_root,
        )


class GitLabConnector:
    source = "gitlab"

    def __init__(
        self,
        client: HttpClient,
        *,
        projects: list[str],
        project_ids: dict[str, int],
        page_size: int,
        api_root: str = API_ROOT,
    ) -> None:
        self.client = client
        self.projects = projects
        self.project_ids = project_ids
        self.page_size = page_size
        self.api_root = api_root

    def endpoints(self) -> list[tuple[str, str]]:
        return [(path, endpoint) for path in self.projects for endpoint in ENDPOINTS]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        readers = {
            "merge_requests": self._merge_requests,
            "pipelines": self._pipelines,
            "deployments": self._deployments,
            "issues": self._issues,
            "commits": self._commits,
        }
        return readers[sync.endpoint](sync)

    def _project_url(self, path: str) -> str:
        """``/api/v4/projects/<id>``, or the URL-encoded path when no id is configured."""
        project = self.project_ids.get(path)
        return f"{self.api_root}/projects/{project if project is not None else quote(path, '')}"

    def _updated_since(
        self, sync: EndpointSync, url: str, params: dict[str, Any] | None = None
    ) -> Iterator[tuple[Page, dict[str, Any]]]:
        """Items of one project list updated since the cursor (minus the overlap), newest first.

        The first page is asked for conditionally; a 304 yields nothing. Its ETag becomes the
        endpoint's validator, saved with the cursor once everything fetched has landed.
        """
        since = sync.since()
        query = {
            **(params or {}),
            "order_by": "updated_at",
            "sort": "desc",
            "per_page": self.page_size,
        }
        pages = self.client.paginate_link(url, params=query, first_page_etag=sync.etag_before)
        for number, page in enumerate(pages):
            if number == 0:
                sync.etag_after = page.etag
            for item in page.data:
                updated = gitlab_time(item.get("updated_at"))
                if _updated_before(updated, since):
                    return
                sync.observe(updated)
                yield page, item

    # -- merge requests, approvals, notes -------------------------------------------------------
    def _merge_requests(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Merge requests updated since the cursor, then the approvals and notes of each.

        Neither approvals nor notes can be listed across a project: two requests per changed
        merge request (more when it has over 100 notes) are the floor the API sets. Adding a
        note, approving or pushing moves the merge request's ``updated_at``, so its children
        are re-read exactly when it changes.
        """
        path, project = sync.scope, self._project_url(sync.scope)
        changed: dict[int, None] = {}  # ordered and de-duplicated: paging can repeat an item
        for page, merge_request in self._updated_since(
            sync, f"{project}/merge_requests", {"state": "all"}
        ):
            iid = merge_request.get("iid")
            yield FetchedRecord(
                kind="merge_requests",
                scope=path,
                record_id=ids.MERGE_REQUESTS(
                    project=path, iid=iid if iid is not None else merge_request.get("id")
                ),
                updated_at=gitlab_time(merge_request.get("updated_at")),
                payload=merge_request,
                request=page.url,
            )
            if isinstance(iid, int):
                changed[iid] = None  # a malformed one is quarantined downstream
        for iid in changed:
            yield from self._merge_request_children(path, f"{project}/merge_requests/{iid}", iid)

    def _merge_request_children(self, path: str, url: str, iid: int) -> Iterator[FetchedRecord]:
        """Approvals and notes of one merge request; a 404 means it was deleted since listed."""
        record_id = ids.MERGE_REQUESTS(project=path, iid=iid)
        try:
            approvals = self.client.get(f"{url}/approvals")
            notes = [
                (page, note)
                for page in self.client.paginate_link(
                    f"{url}/notes",
                    params={"sort": "asc", "order_by": "created_at", "per_page": MAX_PER_PAGE},
                )
                for note in page.data
            ]
        except ApiError as err:
            if err.status_code != 404:
                raise
            yield tombstone(
                "merge_requests",
                path,
                record_id,
                deleted_at=None,
                reason="GitLab answered 404 for a merge request its list had just shown",
                request=f"{self.client.base_url}{url}",
            )
            return
        if approvals is not None:
            yield FetchedRecord(
                kind="approvals",
                scope=path,
                record_id=ids.APPROVALS(project=path, iid=iid),
                updated_at=gitlab_time(approvals.data.get("updated_at")),
                payload=approvals.data,
                request=approvals.url,
            )
        for page, note in notes:
            yield FetchedRecord(
                kind="notes",
                scope=path,
                record_id=ids.NOTES(project=path, iid=iid, id=note.get("id")),
                updated_at=gitlab_time(note.get("updated_at")),
                payload=note,
                request=page.url,
            )

    # -- pipelines and jobs ---------------------------------------------------------------------
    def _pipelines(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Pipelines updated since the cursor, then the jobs of each (one request each).

        A job lands under its pipeline and *name*, not its id: retrying a job gives it a new id
        and hides the old one from the list, and keyed by name the retry is the next version of
        "unit-tests of pipeline 42" instead of a second job that GitLab no longer shows.
        """
        path, project = sync.scope, self._project_url(sync.scope)
        changed: dict[int, None] = {}
        for page, pipeline in self._updated_since(sync, f"{project}/pipelines"):
            yield FetchedRecord(
                kind="pipelines",
                scope=path,
                record_id=ids.PIPELINES(project=path, id=pipeline.get("id")),
                updated_at=gitlab_time(pipeline.get("updated_at")),
                payload=pipeline,
                request=page.url,
            )
            if isinstance(pipeline.get("id"), int):
                changed[pipeline["id"]] = None
        for pipeline_id in changed:
            yield from self._jobs(path, f"{project}/pipelines/{pipeline_id}", pipeline_id)

    def _jobs(self, path: str, url: str, pipeline_id: int) -> Iterator[FetchedRecord]:
        """Jobs of one pipeline's latest attempt; a 404 means it was deleted since listed."""
        pipeline_record = ids.PIPELINES(project=path, id=pipeline_id)
        try:
            pages = list(self.client.paginate_link(f"{url}/jobs", params={"per_page": 100}))
        except ApiError as err:
            if err.status_code != 404:
                raise
            yield tombstone(
                "pipelines",
                path,
                pipeline_record,
                deleted_at=None,
                reason="GitLab answered 404 for a pipeline its list had just shown",
                request=f"{self.client.base_url}{url}/jobs",
            )
            return
        for page in pages:
            for job in page.data:
                yield FetchedRecord(
                    kind="jobs",
                    scope=path,
                    record_id=ids.JOBS(
                        project=path, pipeline=pipeline_id, name=job.get("name", job.get("id"))
                    ),
                    updated_at=_latest(
                        job.get("created_at"), job.get("started_at"), job.get("finished_at")
                    ),
                    payload=job,
                    request=page.url,
                )

    # -- deployments and issues -----------------------------------------------------------------
    def _deployments(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Deployments updated since the cursor; each embeds its environment and deploy job."""
        path, project = sync.scope, self._project_url(sync.scope)
        for page, deployment in self._updated_since(sync, f"{project}/deployments"):
            yield FetchedRecord(
                kind="deployments",
                scope=path,
                record_id=ids.DEPLOYMENTS(project=path, id=deployment.get("id")),
                updated_at=gitlab_time(deployment.get("updated_at")),
                payload=deployment,
                request=page.url,
            )

    def _issues(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Issues updated since the cursor; one moved to another project also lands a tombstone.

        GitLab moves an issue by closing it and creating a copy elsewhere; the original keeps
        its number with ``moved_to_id`` set, and work on it continues in the copy.
        """
        path, project = sync.scope, self._project_url(sync.scope)
        for page, issue in self._updated_since(sync, f"{project}/issues", {"scope": "all"}):
            record_id = ids.ISSUES(project=path, iid=issue.get("iid", issue.get("id")))
            updated = gitlab_time(issue.get("updated_at"))
            yield FetchedRecord(
                kind="issues",
                scope=path,
                record_id=record_id,
                updated_at=updated,
                payload=issue,
                request=page.url,
            )
            if issue.get("moved_to_id"):
                yield tombstone(
                    "issues",
                    path,
                    record_id,
                    deleted_at=gitlab_time(issue.get("closed_at")) or updated,
                    reason=f"moved to issue id {issue['moved_to_id']}",
                    request=page.url,
                )

    # -- commits --------------------------------------------------------------------------------
    def _commits(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Default-branch commits: the whole history once, then what arrived since the cursor.

        Committer dates are not arrival times: a merge brings in branch commits committed days
        earlier, so ``since=<cursor>`` would miss them. What arrived is a revision range
        instead: ``base..head``, where head is the branch tip and base is where the mainline
        stood at the cursor minus the overlap (``first_parent=true&until=…``, one commit).
        GitLab stamps merge, squash and rebase commits with the time they land, so mainline
        dates only grow.

        The first page of the default listing is asked for conditionally (its URL has no cursor
        in it, so a no-change sync is one 304); its first commit is the tip. The cursor is the
        tip's committer date, not the newest date seen: one commit with a skewed clock must not
        push "where the mainline stood" past commits that have not been read.
        """
        path, url = sync.scope, f"{self._project_url(sync.scope)}/repository/commits"
        since = sync.since()
        pages = self.client.paginate_link(
            url, params={"per_page": self.page_size}, first_page_etag=sync.etag_before
        )
        first = next(pages, None)
        if first is None or not first.data:
            return  # 304, or an empty repository
        sync.etag_after = first.etag
        tip = first.data[0]
        history: Iterator[Page] = chain([first], pages)
        if since is not None:
            base = self._mainline_at(url, tip.get("id"), since)
            if base is not None:
                history = self.client.paginate_link(
                    url, params={"ref_name": f"{base}..{tip.get('id')}", "per_page": self.page_size}
                )
        for page in history:
            for commit in page.data:
                yield FetchedRecord(
                    kind="commits",
                    scope=path,
                    record_id=ids.COMMITS(project=path, sha=commit.get("id")),
                    updated_at=gitlab_time(commit.get("committed_date")),
                    payload=self._with_diff(url, commit),
                    request=page.url,
                )
        sync.observe(gitlab_time(tip.get("committed_date")))

    def _with_diff(self, url: str, commit: dict[str, Any]) -> dict[str, Any]:
        """The listed commit with ``diff``: the files it changed, exactly as
        ``GET …/repository/commits/:sha/diff`` returns them (all pages).

        The commit list carries no files and GitLab has no single call for both, so the diff
        rides along under the endpoint's own name. One request per commit the list brought
        (only those new since the cursor: a no-change sync asks for none). A commit whose diff
        cannot be had (a malformed id, 404) lands as listed.
        """
        sha = commit.get("id")
        if not isinstance(sha, str) or not sha:
            return commit
        diff: list[Any] = []
        try:
            for page in self.client.paginate_link(f"{url}/{sha}/diff", params={"per_page": 100}):
                diff += page.data if isinstance(page.data, list) else []
        except ApiError as error:
            if error.status_code not in (404, 422):
                raise
            return commit
        return {**commit, "diff": diff}

    def _mainline_at(self, url: str, tip: Any, moment: datetime) -> str | None:
        """The sha the default branch's first-parent line had at ``moment`` (None: none yet)."""
        page = self.client.get(
            url,
            params={
                "ref_name": tip,
                "first_parent": "true",
                "until": _gitlab_param(moment),
                "per_page": 1,
            },
        )
        found = page.data if page is not None else []
        return found[0].get("id") if found else None
