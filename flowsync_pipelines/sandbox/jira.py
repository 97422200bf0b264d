"""Jira Cloud REST v3, as the sandbox serves it: JQL search with ``startAt``/``maxResults``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty, json_response

MAX_RESULTS = 100
CHANGELOG_EMBED = 100  # Jira embeds at most this many histories in a search result

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
    page = [
        _shape(issue, params.get("expand", ""))
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


def _shape(issue: dict[str, Any], expand: str) -> dict[str, Any]:
    shaped = {k: v for k, v in issue.items() if k != "changelog"}
    if "changelog" in expand and "changelog" in issue:
        histories = issue["changelog"].get("histories", [])
        shaped["changelog"] = {
            "startAt": 0,
            "maxResults": min(len(histories), CHANGELOG_EMBED),
            "total": len(histories),
            "histories": histories[:CHANGELOG_EMBED],
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


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route("/rest/api/3/search", faulty(sandbox, "jira", search)),
        Route("/rest/api/3/issue/{key}/changelog", faulty(sandbox, "jira", changelog)),
    ]
