"""Figma REST, as the sandbox serves it: ``GET /v1/files/:key/comments``, the whole list at once.

Figma does not page comments, sends no ``ETag`` for them and authenticates personal tokens with
``X-Figma-Token``. Rate limiting shows only on refusal (``429`` with ``Retry-After``, produced by
the shared fault injection); successful answers carry no quota headers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty

TOKEN_HEADER = "x-figma-token"


def not_found() -> Response:
    return JSONResponse({"status": 404, "err": "Not found"}, status_code=404)


def comments(sandbox: Sandbox, request: Request) -> Response:
    key = request.path_params["key"]
    if key not in {f["key"] for f in sandbox.world.figma_files()}:
        return not_found()
    items = [
        sandbox.corrupt(f"figma:{comment['id']}", comment)
        for comment in sandbox.rendered("figma_comments", key)
    ]
    return JSONResponse({"comments": items})


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route(
            "/v1/files/{key}/comments",
            faulty(sandbox, "figma", comments, auth_header=TOKEN_HEADER),
        )
    ]
