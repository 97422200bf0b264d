"""Jenkins connector: builds of each configured job, from the JSON API's ``tree`` ranges.

Jenkins has no "updated since" filter and no page links. A job's builds come newest first, and a
range in the ``tree`` parameter pages through them: ``allBuilds[…]{0,100}`` is the newest 100,
``{100,200}`` the next. (``builds`` is capped at the newest 100, so ranges past it are empty;
``allBuilds`` is the same list uncapped.) Paging stops at the first page that reaches a build
started before the cursor minus the overlap.

A build changes until it finishes (``building``, ``result``, ``duration``) and never after. So the
cursor is the start time of the newest finished build that no running build precedes: every
build still running when this sync read it is started after the cursor, and the next sync reads
it again, until it has finished.

Jenkins' remote API sends no ``ETag`` or ``Last-Modified``, so a sync with nothing new is one
ranged read per job rather than a 304. Builds removed by a job's "discard old builds" policy are
simply absent from the list; Jenkins reports no deletions, so no tombstones are landed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.jenkins import JenkinsScopes
from flowsync_pipelines.sources.jenkins.records import BUILDS
from resources.http import ApiError, HttpClient, Page, RequestStats
from resources.tool import ToolResource

# The fields of a build FlowSync reads. Pipeline runs list their commits in ``changeSets``,
# freestyle builds in ``changeSet``; a field a build does not have is left out, not an error.
_CHANGE = (
    "kind,items[commitId,id,timestamp,date,msg,comment,authorEmail,"
    "author[fullName,absoluteUrl],affectedPaths,paths[editType,file]]"
)
BUILD_FIELDS = (
    "number,id,url,displayName,fullDisplayName,description,result,building,timestamp,duration,"
    "estimatedDuration,queueId,builtOn,keepLog,"
    "actions[causes[shortDescription,userId,userName],parameters[name,value],"
    "lastBuiltRevision[SHA1,branch[SHA1,name]],remoteUrls],"
    f"changeSet[{_CHANGE}],changeSets[{_CHANGE}],"
    "culprits[fullName,absoluteUrl],artifacts[fileName,relativePath]"
)


def basic_authorization(user: str, token: str) -> str:
    """``Authorization`` for a Jenkins API token: HTTP basic with the token's user.

    The token may carry its user as ``user:token`` (the form ``curl -u`` takes), which is how
    a single ``token_env`` secret can hold both.
    """
    credentials = token if (not user and ":" in token) else f"{user}:{token}"
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def job_path(job: str) -> str:
    """``/job/<name>``, with a job inside folders given as ``folder/name``."""
    return "".join(f"/job/{quote(part, safe='')}" for part in job.split("/"))


def _epoch_ms_iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp / 1000, UTC).isoformat()


def _is_millis(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class JenkinsResource(ToolResource):
    """Reads the builds of the configured jobs, incrementally by start time."""

    base_url: str = Field(description="Jenkins URL, with its context path: https://ci.example.com")
    user: str = Field(
        default="", description="User the API token belongs to; empty when the token is user:token"
    )
    jobs: list[str] = Field(default_factory=list, description="Job names; in folders: folder/job")

    @classmethod
    def from_source(cls, source: SourceConfig) -> JenkinsResource:
        return cls(
            base_url=source.base_url,
            jobs=list(source.scopes_of(JenkinsScopes).jobs),
            **cls.common_fields(source),
        )

    def connector(self, stats: RequestStats) -> JenkinsConnector:
        client = self.http_client(
            "jenkins",
            headers={"Authorization": basic_authorization(self.user, self.token)},
            stats=stats,
        )
        return JenkinsConnector(client, jobs=self.jobs, page_size=self.page_size)


class JenkinsConnector:
    source = "jenkins"

    def __init__(self, client: HttpClient, *, jobs: list[str], page_size: int) -> None:
        self.client = client
        self.jobs = jobs
        self.page_size = page_size

    def endpoints(self) -> list[tuple[str, str]]:
        return [(job, "builds") for job in self.jobs]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Builds started since the cursor (minus the overlap), newest first, a range at a time."""
        job = sync.scope
        url = f"{job_path(job)}/api/json"
        since = sync.since()
        since_ms = since.timestamp() * 1000 if since is not None else None
        read: list[dict[str, Any]] = []
        start = 0
        while True:
            end = start + self.page_size
            page = self._get(job, url, {"tree": f"allBuilds[{BUILD_FIELDS}]{{{start},{end}}}"})
            builds = page.data.get("allBuilds") or []
            older_seen = False
            for build in builds:
                started = build.get("timestamp")
                if since_ms is not None and _is_millis(started) and started < since_ms:
                    older_seen = True
                    continue
                read.append(build)
                yield FetchedRecord(
                    kind="builds",
                    scope=job,
                    record_id=BUILDS(job=job, number=build.get("number")),
                    updated_at=_finished_or_started(build),
                    payload=build,
                    request=page.url,
                )
            if older_seen or len(builds) < self.page_size:
                break
            start += len(builds)
        _advance_past_finished(sync, read)

    def _get(self, job: str, url: str, params: dict[str, str]) -> Page:
        """One ranged read; a 404 means the configured job does not exist."""
        try:
            page = self.client.get(url, params=params)
        except ApiError as err:
            if err.status_code != 404:
                raise
            raise ApiError(
                f"Jenkins at {self.client.base_url} has no job {job!r} ({url} answered 404). "
                "Check scopes.jobs in flowsync.yaml; a job inside folders is 'folder/job'.",
                status_code=404,
            ) from err
        assert page is not None  # only a conditional request can answer 304
        return page


def _finished_or_started(build: dict[str, Any]) -> int | None:
    """When a build last changed: its end once finished, its start while it runs (epoch ms)."""
    started, duration = build.get("timestamp"), build.get("duration")
    if not _is_millis(started):
        return None
    if build.get("building") is False and _is_millis(duration):
        return started + duration
    return started


def _advance_past_finished(sync: EndpointSync, builds: list[dict[str, Any]]) -> None:
    """Move the cursor to the newest finished build that no running build precedes.

    A build reported ``building`` (or without a readable state) holds the cursor below its
    start, so the next sync reads it again until it has finished.
    """
    running = [
        b.get("timestamp")
        for b in builds
        if b.get("building") is not False and _is_millis(b.get("timestamp"))
    ]
    horizon = min(running, default=None)
    finished = [
        b["timestamp"]
        for b in builds
        if b.get("building") is False
        and _is_millis(b.get("timestamp"))
        and (horizon is None or b["timestamp"] < horizon)
    ]
    if finished:
        sync.observe(_epoch_ms_iso(max(finished)))
