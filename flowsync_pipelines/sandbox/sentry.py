"""Sentry API 0, as the sandbox serves it: cursor pagination in ``Link`` headers, no ETags.

Sentry's pagination is its own: every list answer carries both a ``rel="previous"`` and a
``rel="next"`` link, each with ``results="true|false"`` and a ``cursor="value:offset:is_prev"``.
The next link is there even on the last page; ``results="false"`` is what says "stop". Cursors
are keyset positions (the sort value of the last item, and how many items sharing that value were
already returned), so items that move while a client pages are neither skipped nor repeated.
Project issues default to ``query=is:unresolved``: a client wanting every issue must send an
empty ``query``. Every answer carries the ``X-Sentry-Rate-Limit-*`` headers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty

MAX_PER_PAGE = 100
STATS_PERIODS = ("", "24h", "14d")
_DATE_TERM = re.compile(r"^(lastSeen|firstSeen):(>=|<=|>|<)?(\S+)$")
_STATUS_TERM = re.compile(r"^is:(unresolved|resolved|ignored|archived)$")
_CURSOR = re.compile(r"^(-?\d+):(\d+):([01])$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _headers() -> dict[str, str]:
    return {
        "X-Sentry-Rate-Limit-Limit": "40",
        "X-Sentry-Rate-Limit-Remaining": "39",
        "X-Sentry-Rate-Limit-Reset": str(int(time.time()) + 1),
        "X-Sentry-Rate-Limit-ConcurrentLimit": "25",
        "X-Sentry-Rate-Limit-ConcurrentRemaining": "24",
    }


def detail(status: int, message: str) -> Response:
    """An error in Sentry's shape: ``{"detail": …}``."""
    return JSONResponse({"detail": message}, status_code=status, headers=_headers())


def not_found() -> Response:
    return detail(404, "The requested resource does not exist")


def _us(stamp: str) -> int:
    """Microseconds since the epoch of an ISO-8601 stamp (raises ValueError when malformed)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _score(stamp: Any) -> int:
    """Sort key of a timestamp field; a missing or malformed one sorts as the oldest."""
    try:
        return _us(stamp)
    except (TypeError, ValueError, AttributeError):
        return 0


def _link(request: Request, cursor: str, rel: str, results: bool) -> str:
    url = request.url.include_query_params(cursor=cursor)
    return f'<{url}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{cursor}"'


def cursor_page(request: Request, items: list[dict], score: Callable[[dict], int]) -> Response:
    """One page of ``items``, newest ``score`` first, with Sentry's ``Link`` header."""
    try:
        per_page = min(max(int(request.query_params.get("per_page", MAX_PER_PAGE)), 1), 100)
    except ValueError:
        return detail(400, "per_page must be an integer")
    ordered = sorted(items, key=lambda i: (score(i), str(i.get("id", ""))), reverse=True)
    offset, value = 0, None
    if raw := request.query_params.get("cursor"):
        match = _CURSOR.match(raw)
        if not match:
            return detail(400, f"Invalid cursor parameter: {raw}")
        if match.group(3) == "1":
            return detail(400, "The sandbox serves next pages only (is_prev=1)")
        value, offset = int(match.group(1)), int(match.group(2))
    candidates = ordered if value is None else [i for i in ordered if score(i) <= value]
    page = candidates[offset : offset + per_page]
    consumed = candidates[: offset + len(page)]
    if page:
        next_value = score(page[-1])
        next_offset = sum(1 for i in consumed if score(i) == next_value)
    else:
        next_value, next_offset = (value if value is not None else 0), offset
    first_value = score(page[0]) if page else next_value
    links = [
        _link(request, f"{first_value}:0:1", "previous", raw is not None),
        _link(
            request,
            f"{next_value}:{next_offset}:0",
            "next",
            len(candidates) > offset + len(page),
        ),
    ]
    return JSONResponse(page, headers={**_headers(), "Link": ", ".join(links)})


def _known_org(sandbox: Sandbox, request: Request) -> bool:
    """Whether the path's organization exists."""
    projects = sandbox.world.sentry_projects()
    return request.path_params["org"] in {p["organization"]["slug"] for p in projects}


def _project(sandbox: Sandbox, request: Request) -> str | None:
    """The project slug of the path, or None when the org or project does not exist."""
    projects = sandbox.world.sentry_projects()
    if request.path_params["org"] not in {p["organization"]["slug"] for p in projects}:
        return None
    slug = request.path_params["project"]
    return slug if slug in {p["slug"] for p in projects} else None


def _search(query: str) -> tuple[list[Callable[[dict], bool]], str | None]:
    """Predicates of an issue search (``is:…``, ``lastSeen:>=…``); an error text when unknown."""
    predicates: list[Callable[[dict], bool]] = []
    for term in query.split():
        if status := _STATUS_TERM.match(term):
            wanted = {"archived": "ignored"}.get(status.group(1), status.group(1))
            predicates.append(lambda i, wanted=wanted: i.get("status") == wanted)
            continue
        date = _DATE_TERM.match(term)
        if not date:
            return [], f"Invalid search query: {term!r} is not supported here"
        field, operator, stamp = date.group(1), date.group(2) or ">=", date.group(3)
        try:
            bound = _us(stamp)
        except ValueError:
            return [], f"Invalid date for {field}: {stamp!r}"
        compare = {
            ">=": lambda a, b: a >= b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            "<": lambda a, b: a < b,
        }[operator]
        predicates.append(lambda i, f=field, b=bound, c=compare: c(_score(i.get(f)), b))
    return predicates, None


def issues(sandbox: Sandbox, request: Request) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found()
    params = request.query_params
    if params.get("statsPeriod", "24h") not in STATS_PERIODS:
        return detail(400, "Invalid stats_period. Valid choices are '', '24h', and '14d'")
    predicates, error = _search(params.get("query", "is:unresolved"))
    if error:
        return detail(400, error)
    sort = params.get("sort", "date")
    if sort not in ("date", "new"):
        return detail(400, f"Unsupported sort: {sort}")
    field = "lastSeen" if sort == "date" else "firstSeen"
    items = [
        sandbox.corrupt(f"sentry:{issue['id']}", issue)
        for issue in sandbox.rendered("sentry_issues", project)
    ]
    items = [i for i in items if all(p(i) for p in predicates)]
    return cursor_page(request, items, lambda i: _score(i.get(field)))


def latest_event(sandbox: Sandbox, request: Request) -> Response:
    event = sandbox.rendered("sentry_latest_event", request.path_params["issue_id"])
    if not event:
        return not_found()
    return JSONResponse(event, headers=_headers())


def issue_details(sandbox: Sandbox, request: Request) -> Response:
    if not _known_org(sandbox, request):
        return not_found()
    issue = sandbox.rendered("sentry_issue_details", request.path_params["issue_id"])
    if not issue:
        return not_found()
    return JSONResponse(sandbox.corrupt(f"sentry:{issue['id']}", issue), headers=_headers())


def releases(sandbox: Sandbox, request: Request) -> Response:
    project = _project(sandbox, request)
    if project is None:
        return not_found()
    prefix = request.query_params.get("query", "")
    items = [r for r in sandbox.rendered("sentry_releases", project) if prefix in r["version"]]
    return cursor_page(request, items, lambda r: _score(r.get("dateCreated")))


def deploys(sandbox: Sandbox, request: Request) -> Response:
    if not _known_org(sandbox, request):
        return not_found()
    version = request.path_params["version"]
    items: list[dict[str, Any]] = sandbox.rendered("sentry_deploys", version)
    if not items:
        return not_found()
    return cursor_page(request, items, lambda d: _score(d.get("dateStarted")))


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route("/api/0/projects/{org}/{project}/issues/", faulty(sandbox, "sentry", issues)),
        Route("/api/0/issues/{issue_id}/events/latest/", faulty(sandbox, "sentry", latest_event)),
        Route(
            "/api/0/organizations/{org}/issues/{issue_id}/",
            faulty(sandbox, "sentry", issue_details),
        ),
        Route("/api/0/projects/{org}/{project}/releases/", faulty(sandbox, "sentry", releases)),
        Route(
            "/api/0/organizations/{org}/releases/{version}/deploys/",
            faulty(sandbox, "sentry", deploys),
        ),
    ]
