"""GitLab REST v4, as the sandbox serves it under ``/api/v4``.

Lists page the way GitLab pages them: ``page``/``per_page`` (default 20, at most 100) with
``Link`` and the ``X-Page``, ``X-Per-Page``, ``X-Next-Page``, ``X-Prev-Page``, ``X-Total`` and
``X-Total-Pages`` headers. Every response carries a content ``ETag`` (``If-None-Match`` gets a
304) and GitLab's ``RateLimit-*`` headers; credentials travel in ``PRIVATE-TOKEN``. A project is
addressed by numeric id or URL-encoded path. Filters are the real ones: ``updated_after`` /
``updated_before`` ("on or after"), ``order_by`` / ``sort``; on commits ``ref_name`` (branch, sha
or ``a..b`` range), ``first_parent``, and ``since`` / ``until`` on the committer date.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty, json_response

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
RATE_LIMIT = 2000  # requests per minute, gitlab.com's authenticated API limit


class BadParameter(Exception):
    """A query parameter GitLab would reject with 400 ``{"error": "<name> is invalid"}``."""


class RateWindow:
    """GitLab's per-minute request quota, reported in ``RateLimit-*`` headers (never enforced)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minute = 0
        self._observed = 0

    def headers(self) -> dict[str, str]:
        now = time.time()
        with self._lock:
            minute = int(now // 60)
            if minute != self._minute:
                self._minute, self._observed = minute, 0
            self._observed += 1
            observed = self._observed
        reset = (minute + 1) * 60
        return {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Observed": str(observed),
            "RateLimit-Remaining": str(max(RATE_LIMIT - observed, 0)),
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
        }


def _int_param(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as err:
        raise BadParameter(name) from err


def _time_param(request: Request, name: str) -> datetime | None:
    """An ISO-8601 query parameter (``Z``, offset, or none = UTC), as GitLab accepts them."""
    text = request.query_params.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise BadParameter(name) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None  # a corrupted record: GitLab would never hold one, filters skip it


def paginated(request: Request, items: list[Any], rate: RateWindow) -> Response:
    """One page of ``items`` with GitLab's ``Link`` and ``X-*`` pagination headers."""
    per_page = min(max(_int_param(request, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_int_param(request, "page", 1), 1)
    total_pages = max(1, -(-len(items) // per_page))

    def url_for(n: int) -> str:
        return str(request.url.include_query_params(page=n, per_page=per_page))

    links = []
    if page < total_pages:
        links.append(f'<{url_for(page + 1)}>; rel="next"')
    if page > 1:
        links.append(f'<{url_for(page - 1)}>; rel="prev"')
    links += [f'<{url_for(1)}>; rel="first"', f'<{url_for(total_pages)}>; rel="last"']
    headers = {
        "Link": ", ".join(links),
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Next-Page": str(page + 1) if page < total_pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "X-Total": str(len(items)),
        "X-Total-Pages": str(total_pages),
        **rate.headers(),
    }
    return json_response(request, items[(page - 1) * per_page : page * per_page], headers)


def not_found(what: str) -> Response:
    return JSONResponse({"message": f"404 {what} Not Found"}, status_code=404)


def _project(sandbox: Sandbox, request: Request) -> dict[str, Any] | None:
    """The project a path addresses, by numeric id or by (decoded) ``group/name`` path."""
    ref = request.path_params["project"]
    for project in sandbox.world.gitlab_projects():
        if ref == str(project["id"]) or ref == project["path_with_namespace"]:
            return project
    return None


def _updated_window(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``updated_after`` / ``updated_before``: on or after, on or before (GitLab's semantics)."""
    after = _time_param(request, "updated_after")
    before = _time_param(request, "updated_before")
    if after is None and before is None:
        return items
    kept = []
    for item in items:
        updated = _stamp(item.get("updated_at"))
        if updated is None:
            continue
        if (after is None or updated >= after) and (before is None or updated <= before):
            kept.append(item)
    return kept


def _ordered(
    request: Request,
    items: list[dict[str, Any]],
    *,
    allowed: tuple[str, ...],
    default: str,
    default_sort: str = "desc",
) -> list[dict[str, Any]]:
    """``order_by`` among ``allowed`` (ties by id), then ``sort`` asc or desc."""
    order_by = request.query_params.get("order_by", default)
    sort = request.query_params.get("sort", default_sort)
    if order_by not in allowed:
        raise BadParameter("order_by")
    if sort not in ("asc", "desc"):
        raise BadParameter("sort")

    def key(item: dict[str, Any]) -> tuple[Any, ...]:
        value = item.get(order_by)  # numbers as numbers (ids), anything else as text
        return (0, value, "") if isinstance(value, int) else (1, 0, str(value)), item.get("id") or 0

    return sorted(items, key=key, reverse=sort == "desc")


def _state(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state = request.query_params.get("state", "all")
    return items if state == "all" else [i for i in items if i.get("state") == state]


def merge_requests(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    path = project["path_with_namespace"]
    items = [
        sandbox.corrupt(f"gitlab:{path}!{mr['iid']}", mr)
        for mr in sandbox.rendered("gitlab_merge_requests", project["id"])
    ]
    items = _updated_window(request, _state(request, items))
    ordered = _ordered(request, items, allowed=("created_at", "updated_at"), default="created_at")
    return paginated(request, ordered, rate)


def _merge_request_exists(sandbox: Sandbox, project_id: int, iid: int) -> bool:
    return any(m["iid"] == iid for m in sandbox.rendered("gitlab_merge_requests", project_id))


def approvals(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    body = sandbox.rendered("gitlab_mr_approvals", project["id"], request.path_params["iid"])
    if not body:
        return not_found("Merge Request")
    return json_response(request, body, rate.headers())


def notes(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    project = _project(sandbox, request)
    iid = request.path_params["iid"]
    if project is None:
        return not_found("Project")
    if not _merge_request_exists(sandbox, project["id"], iid):
        return not_found("Merge Request")
    items = sandbox.rendered("gitlab_mr_notes", project["id"], iid)
    ordered = _ordered(request, items, allowed=("created_at", "updated_at"), default="created_at")
    return paginated(request, ordered, rate)


def pipelines(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    path = project["path_with_namespace"]
    items = [
        sandbox.corrupt(f"gitlab:{path}/pipelines/{p['id']}", p)
        for p in sandbox.rendered("gitlab_pipelines", project["id"])
    ]
    items = _updated_window(request, items)
    allowed = ("id", "status", "ref", "updated_at", "user_id")
    return paginated(request, _ordered(request, items, allowed=allowed, default="id"), rate)


def jobs(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    pipeline_id = request.path_params["pipeline_id"]
    if not any(p["id"] == pipeline_id for p in sandbox.rendered("gitlab_pipelines", project["id"])):
        return not_found("Pipeline")
    return paginated(request, sandbox.rendered("gitlab_jobs", project["id"], pipeline_id), rate)


def deployments(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    path = project["path_with_namespace"]
    items = [
        sandbox.corrupt(f"gitlab:{path}/deployments/{d['id']}", d)
        for d in sandbox.rendered("gitlab_deployments", project["id"])
    ]
    items = _updated_window(request, items)
    allowed = ("id", "iid", "created_at", "updated_at", "finished_at", "ref")
    # Unlike every other list, deployments default to oldest first.
    ordered = _ordered(request, items, allowed=allowed, default="id", default_sort="asc")
    return paginated(request, ordered, rate)


def issues(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    path = project["path_with_namespace"]
    items = [
        sandbox.corrupt(f"gitlab:{path}#{i['iid']}", i)
        for i in sandbox.rendered("gitlab_issues", project["id"])
    ]
    items = _updated_window(request, _state(request, items))
    ordered = _ordered(request, items, allowed=("created_at", "updated_at"), default="created_at")
    return paginated(request, ordered, rate)


def commits(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    """``git log`` of a ref or range, newest committer date first, as GitLab lists commits."""
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    path = project["path_with_namespace"]
    history = [
        sandbox.corrupt(f"gitlab:{path}@{c['id']}", c)
        for c in sandbox.rendered("gitlab_commits", project["id"])
    ]
    by_sha = {c["id"]: c for c in history}
    first_parent = request.query_params.get("first_parent") in ("true", "1")
    ref = request.query_params.get("ref_name") or "main"
    excluded: set[str] = set()
    if ".." in ref:
        base, _, ref = ref.partition("..")
        if base not in by_sha:
            return not_found("Revision")
        excluded = _reachable(by_sha, base, first_parent=False)
    if ref == "main":  # the default branch; its tip is its newest commit
        if not history:
            return paginated(request, [], rate)
        ref = history[0]["id"]
    if ref not in by_sha:
        return not_found("Revision")
    reachable = _reachable(by_sha, ref, first_parent=first_parent) - excluded
    since, until = _time_param(request, "since"), _time_param(request, "until")
    listed = []
    for commit in history:  # already newest first
        committed = _stamp(commit.get("committed_date"))
        if commit["id"] not in reachable or committed is None:
            continue
        if (since is None or committed >= since) and (until is None or committed <= until):
            listed.append(commit)
    return paginated(request, listed, rate)


def commit_diff(sandbox: Sandbox, request: Request, rate: RateWindow) -> Response:
    """``GET /projects/:id/repository/commits/:sha/diff``: the files one commit changed, paged."""
    project = _project(sandbox, request)
    if project is None:
        return not_found("Project")
    diff = sandbox.rendered("gitlab_commit_diff", project["id"], request.path_params["sha"])
    if not diff and not any(
        c["id"] == request.path_params["sha"]
        for c in sandbox.rendered("gitlab_commits", project["id"])
    ):
        return not_found("Commit")
    return paginated(request, diff, rate)


def _reachable(by_sha: dict[str, dict[str, Any]], tip: str, *, first_parent: bool) -> set[str]:
    """Shas reachable from ``tip`` through parents the repository holds."""
    seen: set[str] = set()
    stack = [tip]
    while stack:
        sha = stack.pop()
        if sha in seen or sha not in by_sha:
            continue
        seen.add(sha)
        parents = by_sha[sha].get("parent_ids") or []
        stack.extend(parents[:1] if first_parent else parents)
    return seen


def routes(sandbox: Sandbox) -> list[Route]:
    rate = RateWindow()

    def route(path: str, handler: Callable[[Sandbox, Request, RateWindow], Response]) -> Route:
        def answer(sandbox: Sandbox, request: Request) -> Response:
            try:
                return handler(sandbox, request, rate)
            except BadParameter as err:
                return JSONResponse({"error": f"{err} is invalid"}, status_code=400)

        # GitLab takes personal access tokens in PRIVATE-TOKEN, not Authorization.
        endpoint = faulty(sandbox, "gitlab", answer, auth_header="private-token")
        return Route(f"/api/v4/projects/{{project:path}}{path}", endpoint)

    return [
        route("/merge_requests", merge_requests),
        route("/merge_requests/{iid:int}/approvals", approvals),
        route("/merge_requests/{iid:int}/notes", notes),
        route("/pipelines", pipelines),
        route("/pipelines/{pipeline_id:int}/jobs", jobs),
        route("/deployments", deployments),
        route("/issues", issues),
        route("/repository/commits", commits),
        route("/repository/commits/{sha}/diff", commit_diff),
    ]
