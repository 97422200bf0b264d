"""GitHub REST, as the sandbox serves it: ``page``/``per_page`` with RFC 8288 ``Link`` headers."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty, json_response

MAX_PER_PAGE = 100


def paginated(request: Request, items: list[Any]) -> Response:
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
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "4999",
        "X-RateLimit-Reset": str(int(time.time()) + 3600),
        "X-GitHub-Media-Type": "github.v3; format=json",
    }
    if links:
        headers["Link"] = ", ".join(links)
    return json_response(request, items[(page - 1) * per_page : page * per_page], headers)


def _repo(request: Request) -> str:
    return f"{request.path_params['owner']}/{request.path_params['repo']}"


def _known(sandbox: Sandbox, repo: str) -> bool:
    return repo in sandbox.world.github_repos()


def not_found() -> Response:
    return JSONResponse(
        {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
        status_code=404,
    )


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


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route("/repos/{owner}/{repo}/pulls", faulty(sandbox, "github", pulls)),
        Route(
            "/repos/{owner}/{repo}/pulls/{number:int}/reviews", faulty(sandbox, "github", reviews)
        ),
    ]
