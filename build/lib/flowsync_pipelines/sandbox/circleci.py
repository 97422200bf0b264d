"""CircleCI's API v2, as the sandbox serves it: pipelines, workflows and jobs.

``GET /api/v2/project/{slug}/pipeline`` lists a project's pipelines newest first,
``/pipeline/{id}/workflow`` a pipeline's workflows and ``/workflow/{id}/job`` a workflow's jobs,
each as ``{"items": [...], "next_page_token": ...}`` with :data:`PAGE_SIZE` items a page and an
opaque token for the next (``page-token``); ``null`` on the last page. The token is the personal
API token in ``Circle-Token``; without it CircleCI answers 401 ``{"message": "You must log in
first."}``, and an unknown project, pipeline or workflow 404 ``{"message": "Not found."}``.
CircleCI sends no ``ETag``: no conditional requests.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty

PAGE_SIZE = 20  # CircleCI's fixed page size for these lists
AUTH_HEADER = "circle-token"


def _not_found() -> Response:
    return JSONResponse({"message": "Not found."}, status_code=404)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int | None:
    """The offset a ``page-token`` stands for; None when it is not one this server issued."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


def _page(request: Request, items: list[dict[str, Any]]) -> Response:
    offset = _offset(request.query_params.get("page-token"))
    if offset is None:
        return JSONResponse({"message": "Invalid page-token."}, status_code=400)
    end = offset + PAGE_SIZE
    body = {
        "items": items[offset:end],
        "next_page_token": _token(end) if end < len(items) else None,
    }
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, media_type="application/json")


def pipelines(sandbox: Sandbox, request: Request) -> Response:
    slug = "/".join(request.path_params[p] for p in ("vcs", "org", "repo"))
    if slug not in sandbox.world.circleci_projects():
        return _not_found()
    items = [
        sandbox.corrupt(f"circleci:{slug}/{p['number']}", p)
        for p in sandbox.rendered("circleci_pipelines", slug)
    ]
    return _page(request, items)


def workflows(sandbox: Sandbox, request: Request) -> Response:
    items = sandbox.rendered("circleci_workflows", request.path_params["pipeline_id"])
    if items is None:
        return _not_found()
    return _page(request, [sandbox.corrupt(f"circleci:workflow/{w['id']}", w) for w in items])


def jobs(sandbox: Sandbox, request: Request) -> Response:
    items = sandbox.rendered("circleci_jobs", request.path_params["workflow_id"])
    if items is None:
        return _not_found()
    return _page(request, items)


def routes(sandbox: Sandbox) -> list[Route]:
    def route(path: str, handler: Any) -> Route:
        return Route(path, faulty(sandbox, "circleci", handler, auth_header=AUTH_HEADER))

    return [
        route("/api/v2/project/{vcs}/{org}/{repo}/pipeline", pipelines),
        route("/api/v2/pipeline/{pipeline_id}/workflow", workflows),
        route("/api/v2/workflow/{workflow_id}/job", jobs),
    ]
