"""PagerDuty's REST API v2, as the sandbox serves it: incidents and their log entries.

``GET /incidents`` and ``GET /incidents/{id}/log_entries`` page the classic way: ``limit`` (at
most 100, default 25) and ``offset`` in, ``{"<items>": [...], "limit", "offset", "total",
"more"}`` out (``total`` is null unless ``total=true`` is asked), and ``offset`` may not reach
10,000. Incidents are filtered by creation time: ``since`` (inclusive) and ``until``
(exclusive), at most six months apart, or every incident with ``date_range=all``; with neither,
the last 30 days. ``service_ids[]`` narrows to services; ``sort_by=created_at:asc|desc``.

Authentication is a REST API key in ``Authorization: Token token=<key>``; anything else is
401. Errors are PagerDuty's ``{"error": {"message", "code"}}``. There is no ``ETag``. A rate
limit is 429 with ``ratelimit-limit``, ``ratelimit-remaining: 0`` and ``ratelimit-reset`` (seconds
until the quota resets) and no ``Retry-After``, as PagerDuty sends it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_RANGE = timedelta(days=183)  # six months
DEFAULT_RANGE = timedelta(days=30)
RATE_LIMIT = 960  # requests a minute per API key
TOKEN_PREFIX = "Token token="


def _error(status: int, message: str, code: int, errors: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"message": message, "code": code}}
    if errors:
        body["error"]["errors"] = errors
    return JSONResponse(body, status_code=status)


def _when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _page(request: Request, key: str, items: list[dict[str, Any]]) -> Response:
    query = request.query_params
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
        offset = int(query.get("offset", 0))
    except ValueError:
        return _error(400, "Invalid Input Provided", 2001, ["limit and offset are integers"])
    if not 0 < limit <= MAX_LIMIT or offset < 0:
        return _error(400, "Invalid Input Provided", 2001, [f"limit must be 1..{MAX_LIMIT}"])
    if offset + limit > MAX_OFFSET:
        return _error(
            400, "Invalid Input Provided", 2001, ["Offset must be less than 10000 (use filters)"]
        )
    body = {
        key: items[offset : offset + limit],
        "limit": limit,
        "offset": offset,
        "total": len(items) if query.get("total") == "true" else None,
        "more": offset + limit < len(items),
    }
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, media_type="application/json")


def incidents(sandbox: Sandbox, request: Request) -> Response:
    query = request.query_params
    items = sandbox.rendered("pagerduty_incidents", None)
    services = query.getlist("service_ids[]")
    if services:
        items = [i for i in items if i["service"]["id"] in services]
    statuses = query.getlist("statuses[]")
    if statuses:
        items = [i for i in items if i["status"] in statuses]
    if query.get("date_range") != "all":
        since_text, until_text = query.get("since"), query.get("until")
        until = _when(until_text) if until_text else sandbox.as_of
        since = _when(since_text) if since_text else until - DEFAULT_RANGE
        if since is None or until is None:
            return _error(400, "Invalid Input Provided", 2001, ["since/until are ISO 8601"])
        if until - since > MAX_RANGE:
            return _error(
                400,
                "Invalid Input Provided",
                2001,
                ["The maximum range between since and until is 6 months"],
            )
        items = [i for i in items if since <= _when(i["created_at"]) < until]
    order = query.get("sort_by", "created_at:asc")
    if order not in ("created_at", "created_at:asc", "created_at:desc"):
        return _error(400, "Invalid Input Provided", 2001, [f"sort_by {order!r} unsupported"])
    items = sorted(items, key=lambda i: (i["created_at"], i["id"]), reverse=order.endswith("desc"))
    return _page(request, "incidents", [sandbox.corrupt(f"pagerduty:{i['id']}", i) for i in items])


def log_entries(sandbox: Sandbox, request: Request) -> Response:
    entries = sandbox.rendered("pagerduty_log_entries", request.path_params["incident_id"])
    if entries is None:
        return _error(404, "Not Found", 2100)
    return _page(request, "log_entries", entries)


def authorised(sandbox: Sandbox, handler: Callable[[Sandbox, Request], Response]) -> Callable:
    """Count the request, check the API key's form, and misbehave as configured.

    A 429 carries PagerDuty's rate-limit headers, not ``Retry-After``.
    """

    async def endpoint(request: Request) -> Response:
        sandbox.count("pagerduty")
        credential = request.headers.get("authorization", "")
        if not credential.startswith(TOKEN_PREFIX) or not credential[len(TOKEN_PREFIX) :]:
            return _error(401, "Unauthorized", 2006)
        fault = sandbox.draw_fault()
        if fault == "429":
            return JSONResponse(
                {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
                status_code=429,
                headers={
                    "ratelimit-limit": str(RATE_LIMIT),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(sandbox.faults.retry_after_s),
                },
            )
        if fault == "502":
            return Response("<html>502 Bad Gateway</html>", status_code=502, media_type="text/html")
        if fault == "slow":
            await asyncio.sleep(sandbox.faults.slow_s)
        response = handler(sandbox, request)
        if fault == "truncated" and response.status_code == 200:
            return Response(response.body[: len(response.body) // 2], media_type="application/json")
        return response

    return endpoint


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route("/incidents", authorised(sandbox, incidents)),
        Route("/incidents/{incident_id}/log_entries", authorised(sandbox, log_entries)),
    ]
