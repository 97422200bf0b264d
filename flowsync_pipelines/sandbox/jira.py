"""Jira Cloud REST v3 and Agile 1.0, as the sandbox serves them.

Platform search pages with ``startAt``/``maxResults``/``total``; the Agile board lists (sprints,
epics) page with ``startAt``/``maxResults``/``isLast`` and a ``values`` array, and cap a page at 50.
"""

from __future__ import annotations

import re
import weakref
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty, json_response

MAX_RESULTS = 100
AGILE_MAX_RESULTS = 50  # the Agile API's page cap
CHANGELOG_EMBED = 100  # Jira embeds at most this many histories in a search result

# Per sandbox: how many histories search embeds, when a test wants fewer than Jira's 100.
_changelog_embed: weakref.WeakKeyDictionary[Sandbox, int] = weakref.WeakKeyDictionary()


def embed_changelog_at_most(sandbox: Sandbox, histories: int) -> None:
    """Make ``sandbox``'s search embed at most ``histories`` changelog entries per issue.

    Real Jira embeds 100; the world's issues have fewer, so a test lowers the limit to make
    connectors page ``/issue/{key}/changelog`` for the rest.
    """
    _changelog_embed[sandbox] = histories


_PROJECT = re.compile(r'project\s*(?:=\s*"?([A-Z][A-Z0-9]*)"?|in\s*\(([^)]*)\))', re.I)
_UPDATED = re.compile(r'updated\s*>=\s*"([^"]+)"', re.I)


def _jira_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _jql_filter(jql: str) -> tuple[set[str] | None, datetime | None]:
    projects = None
    if match := _PROJECT.search(jql):
        names = match.group(1) or match.group(2)
        projects = {p.strip(' "') for p in names.split(",")}
    since = None
    if match := _UPDATED.search(jql):
        since = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return projects, since


def search(sandbox: Sandbox, request: Request) -> Response:
    params = request.query_params
    projects, since = _jql_filter(params.get("jql", ""))
    issues = []
    for issue in sandbox.rendered("jira_issues"):
        issue = sandbox.corrupt(f"jira:{issue.get('key')}", issue)
        fields = issue.get("fields") or {}
        if projects and issue.get("key", "").split("-")[0] not in projects:
            continue
        try:
            updated = _jira_time(fields.get("updated", ""))
        except (TypeError, ValueError):
            updated = None
        if since and updated and updated < since:
            continue
        issues.append((updated or datetime.min.replace(tzinfo=UTC), issue))
    issues.sort(key=lambda pair: (pair[0], pair[1].get("id", "")))
    start_at = int(params.get("startAt", 0))
    max_results = min(int(params.get("maxResults", 50)), MAX_RESULTS)
    embed = _changelog_embed.get(sandbox, CHANGELOG_EMBED)
    page = [
        _shape(issue, params.get("expand", ""), embed)
        for _, issue in issues[start_at : start_at + max_results]
    ]
    return json_response(
        request,
        {
            "expand": "names,schema",
            "startAt": start_at,
            "maxResults": max_results,
            "total": len(issues),
            "issues": page,
        },
    )


def _shape(issue: dict[str, Any], expand: str, embed: int) -> dict[str, Any]:
    shaped = {k: v for k, v in issue.items() if k != "changelog"}
    if "changelog" in expand and "changelog" in issue:
        histories = issue["changelog"].get("histories", [])
        shaped["changelog"] = {
            "startAt": 0,
            "maxResults": min(len(histories), embed),
            "total": len(histories),
            "histories": histories[:embed],
        }
    return shaped


def changelog(sandbox: Sandbox, request: Request) -> Response:
    key = request.path_params["key"]
    histories = sandbox.rendered("jira_issue_changelog", key)
    if histories is None:
        return JSONResponse({"errorMessages": ["Issue does not exist"]}, status_code=404)
    start_at = int(request.query_params.get("startAt", 0))
    max_results = min(int(request.query_params.get("maxResults", 100)), MAX_RESULTS)
    values = histories[start_at : start_at + max_results]
    is_last = start_at + len(values) >= len(histories)
    return json_response(
        request,
        {
            "self": str(request.url),
            "maxResults": max_results,
            "startAt": start_at,
            "total": len(histories),
            "isLast": is_last,
            "values": values,
        },
    )


def _agile_page(request: Request, values: list[dict[str, Any]], *, with_total: bool) -> Response:
    """One page of an Agile list: ``startAt``, ``maxResults``, ``isLast`` and ``values``.

    ``isLast`` is the paging contract; Jira adds ``total`` to some lists (board sprints) and
    not to others (board epics), so connectors must not need it.
    """
    try:
        start_at = max(int(request.query_params.get("startAt", 0)), 0)
        max_results = int(request.query_params.get("maxResults", AGILE_MAX_RESULTS))
    except ValueError:
        return JSONResponse({"errorMessages": ["Invalid paging parameters"]}, status_code=400)
    max_results = min(max(max_results, 1), AGILE_MAX_RESULTS)
    page = values[start_at : start_at + max_results]
    body: dict[str, Any] = {"maxResults": max_results, "startAt": start_at}
    if with_total:
        body["total"] = len(values)
    body |= {"isLast": start_at + len(page) >= len(values), "values": page}
    return json_response(request, body)


def _board_missing(sandbox: Sandbox, request: Request) -> Response | None:
    if request.path_params["board_id"] == sandbox.world.jira_board()["id"]:
        return None
    return JSONResponse(
        {
            "errorMessages": [
                "The requested board cannot be viewed because it either does not "
                "exist or you do not have permission to view it."
            ],
            "errors": {},
        },
        status_code=404,
    )


def board_sprints(sandbox: Sandbox, request: Request) -> Response:
    """``GET /rest/agile/1.0/board/{id}/sprint``: oldest first, ``state`` filters a list."""
    if missing := _board_missing(sandbox, request):
        return missing
    sprints = [
        sandbox.corrupt(f"jira:sprint/{s['id']}", s) for s in sandbox.rendered("jira_sprints")
    ]
    if states := request.query_params.get("state"):
        wanted = {s.strip() for s in states.split(",")}
        sprints = [s for s in sprints if s.get("state") in wanted]
    return _agile_page(request, sprints, with_total=True)


def board_epics(sandbox: Sandbox, request: Request) -> Response:
    """``GET /rest/agile/1.0/board/{id}/epic``: ``done=true|false`` filters by completion."""
    if missing := _board_missing(sandbox, request):
        return missing
    epics = [
        sandbox.corrupt(f"jira:epic/{e.get('key')}", e) for e in sandbox.rendered("jira_epics")
    ]
    if (done := request.query_params.get("done")) in ("true", "false"):
        epics = [e for e in epics if e.get("done") is (done == "true")]
    return _agile_page(request, epics, with_total=False)


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route("/rest/api/3/search", faulty(sandbox, "jira", search)),
        Route("/rest/api/3/issue/{key}/changelog", faulty(sandbox, "jira", changelog)),
        Route(
            "/rest/agile/1.0/board/{board_id:int}/sprint", faulty(sandbox, "jira", board_sprints)
        ),
        Route("/rest/agile/1.0/board/{board_id:int}/epic", faulty(sandbox, "jira", board_epics)),
    ]
