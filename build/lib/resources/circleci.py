"""CircleCI connector: pipelines of each project, the workflows of each, the jobs of each workflow.

API v2 (``https://circleci.com/api/v2``, personal token in ``Circle-Token``) lists a project's
pipelines newest first, 20 a page, paged by an opaque ``next_page_token`` (``page-token`` on the
next request), with no "updated since" filter and no ``ETag``. So a sync pages the list until a
page reaches a pipeline created before the cursor minus the overlap, lands those pipelines, and
asks ``/pipeline/{id}/workflow`` and ``/workflow/{id}/job`` for each pipeline that is not known
to be settled.

A pipeline is *settled* when every workflow it has finished and its newest workflow of each name
either succeeded or stopped more than :data:`RERUN_GRACE` before the newest pipeline the project
listed (a failed workflow is often re-run: "Rerun workflow from failed" adds a workflow to the
same pipeline). The cursor is the creation time of the newest settled pipeline that no unsettled
one precedes, so a running or recently failed pipeline is read again on every sync until it
settles. Pipelines in the overlap window at or before the cursor were settled when the cursor
passed them: they are landed again from the list page (landing keeps one copy) without asking for
their workflows, so a sync with nothing new is one request per project. A re-run started after
its pipeline settled is not polled; the ``workflow-completed`` webhook reports it.

Workflows and jobs carry no repository, commit or branch of their own: each is landed with the
``pipeline`` it belongs to (as listed) under that key, and each job with its ``workflow``, so
the normalisers need no join across kinds. Rate limits (429 with ``Retry-After``) are waited out
by the shared HTTP layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync, utc_iso
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.circleci import CircleCIScopes
from resources.http import ApiError, HttpClient, Page, RequestStats
from resources.tool import ToolResource

DEFAULT_BASE_URL = "https://circleci.com"
API = "/api/v2"
# How long after a workflow fails a re-run of it is still looked for by polling.
RERUN_GRACE = timedelta(hours=2)
# Workflow states that can still change (CircleCI's API: running, on_hold, failing).
UNFINISHED = frozenset({"running", "on_hold", "failing"})


def _when(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(utc_iso(stamp))
    except ValueError:
        return None


class CircleCIResource(ToolResource):
    """Reads the pipelines, workflows and jobs of the configured projects."""

    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="CircleCI host: https://circleci.com, or a server"
    )
    projects: list[str] = Field(
        default_factory=list, description="Project slugs: gh/<org>/<repo>, bb/<org>/<repo>"
    )

    @classmethod
    def from_source(cls, source: SourceConfig) -> CircleCIResource:
        return cls(
            base_url=source.base_url or DEFAULT_BASE_URL,
            projects=list(source.scopes_of(CircleCIScopes).projects),
            **cls.common_fields(source),
        )

    def connector(self, stats: RequestStats) -> CircleCIConnector:
        client = self.http_client("circleci", headers={"Circle-Token": self.token}, stats=stats)
        return CircleCIConnector(client, projects=self.projects)


class CircleCIConnector:
    source = "circleci"

    def __init__(self, client: HttpClient, *, projects: list[str]) -> None:
        self.client = client
        self.projects = projects

    def endpoints(self) -> list[tuple[str, str]]:
        return [(project, "pipelines") for project in self.projects]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Pipelines created since the cursor (minus the overlap); runs of the unsettled ones."""
        slug = sync.scope
        since = sync.since()
        cursor = _when(sync.cursor_before)
        listed: list[tuple[str, dict[str, Any]]] = []
        for page in self._pages(slug, f"{API}/project/{quote(slug, safe='/')}/pipeline"):
            older_seen = False
            for pipeline in page.data.get("items") or []:
                created = _when(pipeline.get("created_at"))
                if since is not None and created is not None and created < since:
                    older_seen = True
                    continue
                listed.append((page.url, pipeline))
            if older_seen:
                break
        created_times = [_when(p.get("created_at")) for _, p in listed]
        newest = max((t for t in created_times if t is not None), default=None)
        settled: dict[Any, bool] = {}
        for url, pipeline in listed:
            yield _record("pipelines", slug, _pipeline_key(slug, pipeline), pipeline, url)
            created = _when(pipeline.get("created_at"))
            if cursor is not None and created is not None and created <= cursor:
                settled[pipeline.get("id")] = True  # settled when the cursor passed it
                continue
            workflows = yield from self._runs(slug, pipeline)
            settled[pipeline.get("id")] = is_settled(workflows, newest)
        _advance_past_settled(sync, [p for _, p in listed], settled)

    def _runs(self, slug: str, pipeline: dict[str, Any]) -> Iterator[FetchedRecord]:
        """Land the pipeline's workflows and their jobs; return the workflows."""
        key = _pipeline_key(slug, pipeline)
        workflows: list[dict[str, Any]] = []
        url = f"{API}/pipeline/{pipeline.get('id')}/workflow"
        for page in self._pages(slug, url):
            for workflow in page.data.get("items") or []:
                workflows.append(workflow)
                record = {**workflow, "pipeline": pipeline}
                workflow_key = f"{key}/workflows/{workflow.get('id')}"
                yield _record("workflows", slug, workflow_key, record, page.url)
                yield from self._jobs(slug, workflow_key, pipeline, workflow)
        return workflows

    def _jobs(
        self, slug: str, workflow_key: str, pipeline: dict[str, Any], workflow: dict[str, Any]
    ) -> Iterator[FetchedRecord]:
        summary = {k: workflow.get(k) for k in ("id", "name", "status", "created_at")}
        for page in self._pages(slug, f"{API}/workflow/{workflow.get('id')}/job"):
            for job in page.data.get("items") or []:
                # A job that has not run has no id or number yet: it is keyed by its name.
                record = {**job, "pipeline": pipeline, "workflow": summary}
                job_key = f"{workflow_key}/jobs/{job.get('name')}"
                yield _record("jobs", slug, job_key, record, page.url)

    def _pages(self, slug: str, url: str) -> Iterator[Page]:
        """Every page of a v2 list, following ``next_page_token``; 404 names the project."""
        try:
            yield from self.client.paginate_cursor(
                url,
                next_cursor=lambda page: page.data.get("next_page_token"),
                cursor_param="page-token",
            )
        except ApiError as err:
            if err.status_code != 404:
                raise
            raise ApiError(
                f"CircleCI at {self.client.base_url} answered 404 for {url} of project "
                f"{slug!r}. Check scopes.projects in flowsync.yaml: a project is "
                "'<vcs>/<org>/<repo>' as in its CircleCI URL (gh/acme/api), and the token's user "
                "must be able to see it.",
                status_code=404,
            ) from err


def _pipeline_key(slug: str, pipeline: dict[str, Any]) -> str:
    return f"{slug}/{pipeline.get('number')}"


def _record(
    kind: str, slug: str, record_id: str, payload: dict[str, Any], url: str
) -> FetchedRecord:
    return FetchedRecord(
        kind=kind,
        scope=slug,
        record_id=record_id,
        updated_at=_updated(kind, payload),
        payload=payload,
        request=url,
    )


def _updated(kind: str, payload: dict[str, Any]) -> str | None:
    """When a record last changed: a pipeline's ``updated_at``, a run's stop or start."""
    if kind == "pipelines":
        fields = ("updated_at", "created_at")
    elif kind == "workflows":
        fields = ("stopped_at", "created_at")
    else:
        fields = ("stopped_at", "started_at")
    return next((payload[f] for f in fields if isinstance(payload.get(f), str)), None)


def is_settled(workflows: list[dict[str, Any]], newest: datetime | None) -> bool:
    """Whether nothing more is expected of a pipeline with these workflows (see the module).

    Args:
        workflows: the pipeline's workflows as ``/pipeline/{id}/workflow`` lists them.
        newest: creation time of the newest pipeline the project listed, the sync's "now".
    """
    if not workflows or any(w.get("status") in UNFINISHED for w in workflows):
        return False
    latest: dict[str, dict[str, Any]] = {}
    for workflow in workflows:
        name = str(workflow.get("name"))
        newer = str(workflow.get("created_at")) > str(latest.get(name, {}).get("created_at"))
        if name not in latest or newer:
            latest[name] = workflow
    for workflow in latest.values():
        if workflow.get("status") == "success":
            continue
        stopped = _when(workflow.get("stopped_at"))
        if stopped is None or newest is None or newest - stopped < RERUN_GRACE:
            return False
    return True


def _advance_past_settled(
    sync: EndpointSync, pipelines: list[dict[str, Any]], settled: dict[Any, bool]
) -> None:
    """Move the cursor to the newest settled pipeline that no unsettled pipeline precedes."""
    created = [(_when(p.get("created_at")), settled.get(p.get("id"), False)) for p in pipelines]
    horizon = min((c for c, ok in created if c is not None and not ok), default=None)
    done = [c for c, ok in created if c is not None and ok and (horizon is None or c < horizon)]
    if done:
        sync.observe(max(done).isoformat())
