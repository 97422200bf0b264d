"""Jira Cloud REST v3 and Agile 1.0, as the sandbox serves them.

Issue search is the enhanced ``/rest/api/3/search/jql`` (GET and POST), as Jira Cloud serves it
since the old ``/rest/api/3/search`` was removed (that one answers 410 Gone with Atlassian's
message, see :data:`REMOVED_SEARCH`):

- pages follow an opaque ``nextPageToken``; a page says ``isLast`` and carries no ``startAt`` or
  ``total``, and the last page has no token at all;
- only issue ids come back unless ``fields`` are asked for (``*all``, ``*navigable`` or names);
  ``maxResults`` is capped at 5000 for ids and at 100 when fields are asked for;
- the JQL must be bounded (an empty query is a 400);
- it is eventually consistent: :func:`lag_index` makes it omit issues updated in the last seconds
  before the sandbox clock, as the real index does until it catches up; ``reconcileIssues``
  (issue ids) brings such issues back, as it does on the real API.

``/issue/{key}/changelog`` pages with ``startAt``/``maxResults``/``total``/``isLast``; the Agile
board lists (sprints, epics) page with ``startAt``/``maxResults``/``isLast`` and a ``values``
array, and cap a page at 50.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty, json_response

MAX_RESULTS = 100  # with fields; also the changelog page cap
MAX_ID_RESULTS = 5000  # ids only
DEFAULT_MAX_RESULTS = 50
AGILE_MAX_RESULTS = 50  # the Agile API's page cap
CHANGELOG_EMBED = 100  # Jira embeds at most this many histories in a search result
# Atlassian's answer to the removed search endpoints (CHANGE-2046), verbatim.
REMOVED_SEARCH = {
    "errorMessages": [
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
        "A full migration guideline is available at "
        "https://developer.atlassian.com/changelog/#CHANGE-2046"
    ],
    "errors": {},
}
# What fields an issue carries when the request names none: its id, nothing else.
_ID_FIELDS = frozenset({"id"})


@dataclass(frozen=True)
class _IndexLag:
    seconds: float
    keys: frozenset[str] | None


# Per sandbox: how many histories search embeds, when a test wants fewer than Jira's 100.
_changelog_embed: weakref.WeakKeyDictionary[Sandbox, int] = weakref.WeakKeyDictionary()
# Per sandbox: how far the search index lags behind the issues (eventual consistency).
_index_lag: weakref.WeakKeyDictionary[Sandbox, _IndexLag] = weakref.WeakKeyDictionary()
# Per sandbox: requests to the removed search endpoints.
_removed_calls: weakref.WeakKeyDictionary[Sandbox, int] = weakref.WeakKeyDictionary()


def embed_changelog_at_most(sandbox: Sandbox, histories: int) -> None:
    """Make ``sandbox``'s search embed at most ``histories`` changelog entries per issue.

    Real Jira embeds 100; the world's issues have fewer, so a test lowers the limit to make
    connectors page ``/issue/{key}/changelog`` for the rest.
    """
    _changelog_embed[sandbox] = histories


def lag_index(sandbox: Sandbox, seconds: float, *, keys: set[str] | None = None) -> None:
    """Make ``sandbox``'s search omit issues updated less than ``seconds`` before its clock.

    Jira's enhanced search reads an eventually consistent index: an issue changed a moment ago
    may be missing from the results. The index catches up out of order, so ``keys`` limits the
    lag to the named issues (None: every recently updated issue). ``seconds=0`` lifts it.
    """
    _index_lag[sandbox] = _IndexLag(seconds, frozenset(keys) if keys is not None else None)


def removed_search_calls(sandbox: Sandbox) -> int:
    """How many requests ``sandbox`` answered 410 on the removed ``/rest/api/3/search``."""
    return _removed_calls.get(sandbox, 0)


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


def _error(status: int, message: str) -> Response:
    return JSONResponse({"errorMessages": [message], "errors": {}}, status_code=status)


def _page_token(offset: int, query: str) -> str:
    raw = json.dumps({"o": offset, "q": hashlib.sha1(query.encode()).hexdigest()[:12]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _token_offset(token: str, query: str) -> int | None:
    """The offset a token stands for, or None when it is garbled or belongs to another query."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(raw["o"])
    except (ValueError, KeyError, TypeError):
        return None
    if raw.get("q") != hashlib.sha1(query.encode()).hexdigest()[:12] or offset < 0:
        return None
    return offset


def _as_list(value: Any) -> list[str]:
    """``fields`` / ``reconcileIssues`` as names: a JSON list (POST) or comma-separated text."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _lagging(sandbox: Sandbox, issue: dict[str, Any], updated: datetime | None) -> bool:
    lag = _index_lag.get(sandbox)
    if lag is None or not lag.seconds or updated is None:
        return False
    if lag.keys is not None and issue.get("key") not in lag.keys:
        return False
    return sandbox.as_of - updated < timedelta(seconds=lag.seconds)


async def search_jql(sandbox: Sandbox, request: Request) -> Response:
    """``GET|POST /rest/api/3/search/jql``: the enhanced search (see the module docstring)."""
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
    else:
        body = dict(request.query_params)
        body["fields"] = request.query_params.getlist("fields")
        body["reconcileIssues"] = request.query_params.getlist("reconcileIssues")
    jql = str(body.get("jql") or "")
    if not _PROJECT.search(jql) and not _UPDATED.search(jql):
        return _error(
            400,
            "Unbounded JQL queries are not allowed here. "
            "Please add a search restriction to your query.",
        )
    fields = {f for name in _as_list(body.get("fields")) for f in _as_list(name)} or set(_ID_FIELDS)
    expand = ",".join(_as_list(body.get("expand")))
    reconcile = {f for name in _as_list(body.get("reconcileIssues")) for f in _as_list(name)}
    try:
        asked = int(body.get("maxResults") or DEFAULT_MAX_RESULTS)
    except (TypeError, ValueError):
        return _error(400, "maxResults must be a number.")
    ids_only = fields <= {"id", "key"}
    max_results = min(max(asked, 1), MAX_ID_RESULTS if ids_only else MAX_RESULTS)
    query = json.dumps([jql, sorted(fields), expand])
    offset = 0
    if token := body.get("nextPageToken"):
        offset = _token_offset(str(token), query)
        if offset is None:
            return _error(400, "The provided next page token is invalid or expired.")

    projects, since = _jql_filter(jql)
    issues = []
    for issue in sandbox.rendered("jira_issues"):
        issue = sandbox.corrupt(f"jira:{issue.get('key')}", issue)
        fields_of = issue.get("fields") or {}
        if projects and issue.get("key", "").split("-")[0] not in projects:
            continue
        try:
            updated = _jira_time(fields_of.get("updated", ""))
        except (TypeError, ValueError):
            updated = None
        if since and updated and updated < since:
            continue
        if _lagging(sandbox, issue, updated) and str(issue.get("id")) not in reconcile:
            continue
        issues.append((updated or datetime.min.replace(tzinfo=UTC), issue))
    issues.sort(key=lambda pair: (pair[0], pair[1].get("id", "")))
    embed = _changelog_embed.get(sandbox, CHANGELOG_EMBED)
    window = issues[offset : offset + max_results]
    page: dict[str, Any] = {
        "issues": [_shape(issue, fields, expand, embed) for _, issue in window],
    }
    if offset + len(window) < len(issues):
        page["nextPageToken"] = _page_token(offset + len(window), query)
    page["isLast"] = "nextPageToken" not in page
    return json_response(request, page)


def removed_search(sandbox: Sandbox, request: Request) -> Response:
    """``/rest/api/3/search``: removed by Atlassian in 2025, answers 410 Gone."""
    _removed_calls[sandbox] = _removed_calls.get(sandbox, 0) + 1
    return JSONResponse(REMOVED_SEARCH, status_code=410)


def _shape(issue: dict[str, Any], fields: set[str], expand: str, embed: int) -> dict[str, Any]:
    """One search result: the id alone, or the issue with the asked fields and expansions."""
    if fields <= _ID_FIELDS and "changelog" not in expand:
        return {"id": issue.get("id")}
    shaped = {k: v for k, v in issue.items() if k not in ("changelog", "fields")}
    every = fields & {"*all", "*navigable"}
    shaped["fields"] = {
        name: value
        for name, value in (issue.get("fields") or {}).items()
        if every or name in fields
    }
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
        Route(
            "/rest/api/3/search/jql",
            faulty(sandbox, "jira", search_jql),
            methods=["GET", "POST"],
        ),
        Route(
            "/rest/api/3/search",
            faulty(sandbox, "jira", removed_search),
            methods=["GET", "POST"],
        ),
        Route("/rest/api/3/issue/{key}/changelog", faulty(sandbox, "jira", changelog)),
        Route(
            "/rest/agile/1.0/board/{board_id:int}/sprint", faulty(sandbox, "jira", board_sprints)
        ),
        Route("/rest/agile/1.0/board/{board_id:int}/epic", faulty(sandbox, "jira", board_epics)),
    ]
