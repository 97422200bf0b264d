"""GitHub REST, as the sandbox serves it: ``page``/``per_page`` with RFC 8288 ``Link`` headers.

Every list answers with a content ``ETag`` (so ``If-None-Match`` gets a 304) and the
``X-RateLimit-*`` headers GitHub sends. Filters are the ones the real endpoints offer, applied the
way GitHub applies them: ``since`` on commits compares the *committer* date, ``since`` on
issues the ``updated_at`` (and the issues list holds pull requests too, marked by a
``pull_request`` key), ``created`` on workflow runs takes the search qualifier syntax
(``>=2026-10-01T00:00:00Z``, ``a..b``), and deployments, statuses, releases and a commit's check
runs take no time filter at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty, json_response

MAX_PER_PAGE = 100
API = "https://api.github.com"


def rate_limit_headers() -> dict[str, str]:
    """The primary rate-limit headers GitHub puts on every REST response."""
    return {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "4999",
        "X-RateLimit-Used": "1",
        "X-RateLimit-Reset": str(int(time.time()) + 3600),
        "X-RateLimit-Resource": "core",
        "X-GitHub-Media-Type": "github.v3; format=json",
    }


def paginated(
    request: Request,
    items: list[Any],
    wrap: Callable[[list[Any]], Any] | None = None,
) -> Response:
    """One page of ``items`` with ``Link`` headers; ``wrap`` builds an object body around it.

    GitHub pages lists as bare JSON arrays, except a few endpoints (workflow runs, compare) that
    page an array inside an object; those pass ``wrap``.
    """
    per_page = min(int(request.query_params.get("per_page", 30)), MAX_PER_PAGE)
    page = max(int(request.query_params.get("page", 1)), 1)
    last = max(1, -(-len(items) // per_page))
    links = []

    def url_for(n: int) -> str:
        return str(request.url.include_query_params(page=n, per_page=per_page))

    if page < last:
        links += [f'<{url_for(page + 1)}>; rel="next"', f'<{url_for(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url_for(1)}>; rel="first"', f'<{url_for(page - 1)}>; rel="prev"']
    headers = rate_limit_headers()
    if links:
        headers["Link"] = ", ".join(links)
    chunk = items[(page - 1) * per_page : page * per_page]
    return json_response(request, wrap(chunk) if wrap else chunk, headers)


def _repo(request: Request) -> str:
    return f"{request.path_params['owner']}/{request.path_params['repo']}"


def _known(sandbox: Sandbox, repo: str) -> bool:
    return repo in sandbox.world.github_repos()


def not_found() -> Response:
    return JSONResponse(
        {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
        status_code=404,
    )


def validation_failed(message: str) -> Response:
    return JSONResponse(
        {"message": message, "documentation_url": "https://docs.github.com/rest"},
        status_code=422,
    )


def _instant(text: str) -> datetime:
    """A GitHub timestamp parameter: ISO-8601 with ``Z`` or an offset, or a bare date (UTC)."""
    parsed = datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stamp(value: Any) -> datetime | None:
    try:
        return _instant(str(value))
    except ValueError:
        return None


def _date_qualifier(text: str) -> Callable[[datetime], bool]:
    """GitHub's search date qualifier (``>=x``, ``>x``, ``<=x``, ``<x``, ``x..y``, ``x``)."""
    if text.startswith(">="):
        bound = _instant(text[2:])
        return lambda at: at >= bound
    if text.startswith("<="):
        bound = _instant(text[2:])
        return lambda at: at <= bound
    if text.startswith(">"):
        bound = _instant(text[1:])
        return lambda at: at > bound
    if text.startswith("<"):
        bound = _instant(text[1:])
        return lambda at: at < bound
    if ".." in text:
        low_text, high_text = text.split("..", 1)
        low = None if low_text in ("", "*") else _instant(low_text)
        high = None if high_text in ("", "*") else _instant(high_text)
        whole_day = len(high_text) == len("2026-10-01")  # a bare upper date includes its day
        return lambda at: (
            (low is None or at >= low)
            and (high is None or (at.date() <= high.date() if whole_day else at <= high))
        )
    day = _instant(text).date()
    return lambda at: at.date() == day


# --- pull requests and reviews ---------------------------------------------------------------


def pulls(sandbox: Sandbox, request: Request) -> Response:
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    items = [
        sandbox.corrupt(f"github:{repo}#{p['number']}", p)
        for p in sandbox.rendered("github_pulls", repo)
    ]
    state = request.query_params.get("state", "open")
    if state != "all":
        items = [p for p in items if p.get("state") == state]
    sort = request.query_params.get("sort", "created")
    descending = request.query_params.get("direction", "desc") == "desc"
    field = {"updated": "updated_at", "created": "created_at"}.get(sort, "created_at")
    items = sorted(items, key=lambda p: (str(p.get(field)), p.get("number", 0)), reverse=descending)
    return paginated(request, items)


def reviews(sandbox: Sandbox, request: Request) -> Response:
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    number = int(request.path_params["number"])
    return paginated(request, sandbox.rendered("github_reviews", repo, number))


# --- issues ----------------------------------------------------------------------------------


def issues(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/issues``: issues *and pull requests* (an item with a
    ``pull_request`` key), ``state`` (default ``open``), ``sort`` (``created`` by default,
    ``updated``, ``comments``), ``direction`` (default ``desc``) and ``since`` (updated at or
    after), as GitHub filters them."""
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    params = request.query_params
    try:
        since = _instant(params["since"]) if "since" in params else None
    except ValueError:
        return validation_failed("Invalid value for parameter 'since'")
    state = params.get("state", "open")
    items = []
    for item in sandbox.rendered("github_issues", repo):
        item = sandbox.corrupt(f"github:{repo}#{item['number']}", item)
        if state != "all" and item.get("state") != state:
            continue
        updated = _stamp(item.get("updated_at"))
        if since is not None and updated is not None and updated < since:
            continue
        items.append(item)
    field = {"updated": "updated_at", "comments": "comments"}.get(
        params.get("sort", "created"), "created_at"
    )
    descending = params.get("direction", "desc") == "desc"
    items.sort(key=lambda i: (str(i.get(field)), i.get("number", 0)), reverse=descending)
    return paginated(request, items)


# --- commits ---------------------------------------------------------------------------------


def _committed_at(commit: dict[str, Any]) -> datetime | None:
    return _stamp(((commit.get("commit") or {}).get("committer") or {}).get("date"))


def commits(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/commits``: default-branch history, newest first.

    ``since``/``until`` compare the committer date, as GitHub does, so a commit authored and
    committed on a branch days before it was merged is *older* than ``since`` even though it only
    just appeared on the default branch.
    """
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    try:
        since = _instant(request.query_params["since"]) if "since" in request.query_params else None
        until = _instant(request.query_params["until"]) if "until" in request.query_params else None
    except ValueError:
        return validation_failed("Invalid value for parameter 'since' or 'until'")
    items = []
    for commit in sandbox.rendered("github_commits", repo):
        committed = _committed_at(commit)
        if committed is not None and (
            (since and committed < since) or (until and committed > until)
        ):
            continue
        items.append(sandbox.corrupt(f"github:{repo}@{commit['sha']}", commit))
    return paginated(request, items)


def commit(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/commits/{sha}``: one commit with ``stats`` and its ``files``.

    A default-branch commit only (the world renders no other refs); 422 for an unknown sha, as
    GitHub answers "No commit found for SHA".
    """
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    sha = request.path_params["sha"]
    detail = sandbox.rendered("github_commit", repo, sha)
    if not detail:
        return validation_failed(f"No commit found for SHA: {sha}")
    body = sandbox.corrupt(f"github:{repo}@{sha}", detail)
    return json_response(request, body, rate_limit_headers())


def check_runs(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/commits/{ref}/check-runs``: ``{"total_count", "check_runs"}``,
    newest first, paged with ``Link`` headers; 422 for a sha that is no commit, as GitHub."""
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    sha = request.path_params["sha"]
    if not sandbox.rendered("github_commit", repo, sha):
        return validation_failed(f"No commit found for SHA: {sha}")
    items = [
        sandbox.corrupt(f"github:{repo}/check-runs/{run['id']}", run)
        for run in sandbox.rendered("github_check_runs", repo, sha)
    ]
    items.sort(key=lambda r: (str(r.get("started_at")), r.get("id", 0)), reverse=True)
    return paginated(request, items, lambda page: {"total_count": len(items), "check_runs": page})


def _ancestry(graph: dict[str, list[str]], sha: str) -> set[str]:
    """Every commit reachable from ``sha`` through parents, ``sha`` included."""
    seen, stack = set(), [sha]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph.get(current, []))
    return seen


def compare(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/compare/{base}...{head}``: commits reachable from head, not base.

    The commits are oldest first and paged with ``Link`` headers inside the comparison object,
    as GitHub has done since 2021. The world renders no file diffs, so ``files`` is empty.
    """
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    base, separator, head = request.path_params["basehead"].partition("...")
    if not separator:
        return not_found()
    history = sandbox.rendered("github_commits", repo)
    by_sha = {c["sha"]: c for c in history}
    graph = {c["sha"]: [p["sha"] for p in c.get("parents", [])] for c in history}
    # A parent outside the rendered history (the repository's first commit) exists all the same.
    known = set(graph) | {sha for parents in graph.values() for sha in parents}
    if base not in known or head not in known:
        return not_found()
    from_base, from_head = _ancestry(graph, base), _ancestry(graph, head)
    common = from_base & from_head
    merge_base = max(
        (by_sha[sha] for sha in common if sha in by_sha),
        key=lambda c: (str(_committed_at(c)), c["sha"]),
        default=None,
    )
    ahead = sorted(
        (by_sha[sha] for sha in from_head - from_base if sha in by_sha),
        key=lambda c: (str(_committed_at(c)), c["sha"]),
    )
    behind = len(from_base - from_head)
    status = (
        "identical"
        if not ahead and not behind
        else "ahead"
        if not behind
        else "behind"
        if not ahead
        else "diverged"
    )
    html = f"https://github.com/{repo}/compare/{base}...{head}"

    def comparison(page: list[Any]) -> dict[str, Any]:
        return {
            "url": f"{API}/repos/{repo}/compare/{base}...{head}",
            "html_url": html,
            "permalink_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": by_sha.get(base),
            "merge_base_commit": merge_base,
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": behind,
            "total_commits": len(ahead),
            "commits": [sandbox.corrupt(f"github:{repo}@{c['sha']}", c) for c in page],
            "files": [],
        }

    return paginated(request, ahead, comparison)


# --- actions -----------------------------------------------------------------------------------


def workflow_runs(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/actions/runs``: newest first, ``{"total_count", "workflow_runs"}``.

    GitHub filters runs by ``created`` (search qualifier syntax), never by update time: a run
    re-run days later keeps its place in the list.
    """
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    params = request.query_params
    try:
        created = _date_qualifier(params["created"]) if "created" in params else None
    except ValueError:
        return validation_failed("Invalid value for parameter 'created'")
    items = []
    for run in sandbox.rendered("github_workflow_runs", repo):
        if created is not None:
            at = _stamp(run.get("created_at"))
            if at is None or not created(at):
                continue
        if any(
            name in params and str(run.get(field)) != params[name]
            for name, field in (
                ("branch", "head_branch"),
                ("event", "event"),
                ("head_sha", "head_sha"),
                ("status", "status"),
            )
        ):
            continue
        items.append(sandbox.corrupt(f"github:{repo}/actions/runs/{run['id']}", run))
    items.sort(key=lambda r: (str(r.get("created_at")), r.get("id", 0)), reverse=True)
    return paginated(
        request, items, lambda page: {"total_count": len(items), "workflow_runs": page}
    )


# --- deployments and releases ------------------------------------------------------------------


def deployments(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/deployments``: newest first; filters by sha/ref/task/environment."""
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    params = request.query_params
    items = [
        sandbox.corrupt(f"github:{repo}/deployments/{d['id']}", d)
        for d in sandbox.rendered("github_deployments", repo)
        if all(
            name not in params or str(d.get(name)) == params[name]
            for name in ("sha", "ref", "task", "environment")
        )
    ]
    items.sort(key=lambda d: d.get("id", 0), reverse=True)
    return paginated(request, items)


def deployment_statuses(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/deployments/{id}/statuses``: newest first; 404 for another repo's."""
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    deployment_id = int(request.path_params["deployment_id"])
    if not any(d["id"] == deployment_id for d in sandbox.rendered("github_deployments", repo)):
        return not_found()
    statuses = sandbox.rendered("github_deployment_statuses", repo, deployment_id)
    return paginated(request, sorted(statuses, key=lambda s: s["id"], reverse=True))


def releases(sandbox: Sandbox, request: Request) -> Response:
    """``GET /repos/{o}/{r}/releases``: newest first. There is no time filter on this list."""
    repo = _repo(request)
    if not _known(sandbox, repo):
        return not_found()
    items = [
        sandbox.corrupt(f"github:{repo}/releases/{r['id']}", r)
        for r in sandbox.rendered("github_releases", repo)
    ]
    items.sort(key=lambda r: (str(r.get("created_at")), r.get("id", 0)), reverse=True)
    return paginated(request, items)


def routes(sandbox: Sandbox) -> list[Route]:
    def route(path: str, handler: Callable[[Sandbox, Request], Response]) -> Route:
        return Route(f"/repos/{{owner}}/{{repo}}{path}", faulty(sandbox, "github", handler))

    return [
        route("/pulls", pulls),
        route("/pulls/{number:int}/reviews", reviews),
        route("/commits", commits),
        route("/issues", issues),
        route("/commits/{sha}", commit),
        route("/commits/{sha}/check-runs", check_runs),
        route("/compare/{basehead}", compare),
        route("/actions/runs", workflow_runs),
        route("/deployments", deployments),
        route("/deployments/{deployment_id:int}/statuses", deployment_statuses),
        route("/releases", releases),
    ]
