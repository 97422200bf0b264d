"""Linear GraphQL, as the sandbox serves it: one ``POST /graphql`` of Relay connections.

Only as much GraphQL is understood as a sync needs: the query's root connection (``issues``,
``comments``, ``cycles``, ``projects``), its ``orderBy`` literal, and the variables ``filter``,
``first``, ``after`` and ``includeArchived``. Nodes come back as the world renders them (the
shapes a sync's selection asks for). Like Linear there is no ETag; every answer carries the
``X-RateLimit-Requests-*`` quota, and an exhausted quota answers ``400`` with a ``RATELIMITED``
GraphQL error until the window resets (epoch milliseconds, as Linear sends it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty

MAX_FIRST = 250
# connection -> World method rendering its nodes
CONNECTIONS = {
    "issues": "linear_issues",
    "comments": "linear_comments",
    "cycles": "linear_cycles",
    "projects": "linear_projects",
}
_ROOT_FIELD = re.compile(r"^\s*(?:(?:query|subscription|mutation)\b[^{]*)?\{\s*(\w+)", re.S)
_ORDER_BY = re.compile(r"\borderBy\s*:\s*(\w+)")
_COMPARATORS = {"eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "null"}


@dataclass
class RequestBudget:
    """Linear's request quota per API key: ``limit`` requests per fixed ``window_s`` window."""

    limit: int = 1500
    window_s: float = 3600.0
    used: int = 0
    window_start: float = field(default_factory=time.time)

    def spend(self) -> bool:
        """Take one request from the quota; False when it is exhausted."""
        now = time.time()
        if now - self.window_start >= self.window_s:
            self.window_start, self.used = now, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self) -> dict[str, str]:
        reset_ms = int((self.window_start + self.window_s) * 1000)
        return {
            "X-RateLimit-Requests-Limit": str(self.limit),
            "X-RateLimit-Requests-Remaining": str(max(self.limit - self.used, 0)),
            "X-RateLimit-Requests-Reset": str(reset_ms),
        }


_BUDGETS: weakref.WeakKeyDictionary[Sandbox, RequestBudget] = weakref.WeakKeyDictionary()


def request_budget(sandbox: Sandbox) -> RequestBudget:
    """The Linear quota of one sandbox; tests shrink it to provoke ``RATELIMITED``."""
    return _BUDGETS.setdefault(sandbox, RequestBudget())


def graphql_errors(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    """A GraphQL error response in the shape Linear sends."""
    body = {
        "errors": [
            {
                "message": message,
                "extensions": {"code": code, "userPresentableMessage": message},
            }
        ],
        "data": None,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10 or value[4:5] != "-":
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if operator == "null":
        return (actual is None) == bool(expected)
    if operator in ("in", "nin"):
        return (actual in expected) == (operator == "in")
    left, right = _as_datetime(actual), _as_datetime(expected)
    if left is None or right is None:
        left, right = actual, expected
    if operator == "eq":
        return left == right
    if operator == "neq":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {
            "gt": left > right,
            "gte": left >= right,
            "lt": left < right,
            "lte": left <= right,
        }[operator]
    except TypeError:  # e.g. a malformed timestamp compared with a date
        return False


def matches(value: Any, condition: dict[str, Any]) -> bool:
    """Evaluate a Linear filter (``{team: {key: {eq: "MOB"}}, updatedAt: {gte: …}}``)."""
    for key, expected in condition.items():
        if key in _COMPARATORS:
            ok = _compare(key, value, expected)
        elif key == "and":
            ok = all(matches(value, c) for c in expected)
        elif key == "or":
            ok = any(matches(value, c) for c in expected)
        elif key in ("some", "every"):
            items = value.get("nodes", []) if isinstance(value, dict) else value or []
            test = any if key == "some" else all
            ok = test(matches(item, expected) for item in items)
        else:
            ok = matches(value.get(key) if isinstance(value, dict) else None, expected)
        if not ok:
            return False
    return True


def _filter_view(connection: str, node: dict, issues_by_id: dict[str, dict]) -> dict:
    """What a filter sees of a node: relations resolved the way Linear resolves them."""
    if connection == "comments":
        return {**node, "issue": issues_by_id.get((node.get("issue") or {}).get("id"), {})}
    if connection == "projects":
        return {**node, "accessibleTeams": (node.get("teams") or {}).get("nodes", [])}
    return node


def _encode_cursor(sort_value: Any, node_id: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort_value, node_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    sort_value, node_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    return str(sort_value), str(node_id)


async def graphql(sandbox: Sandbox, request: Request) -> Response:
    budget = request_budget(sandbox)
    if not budget.spend():
        return graphql_errors(
            400, "Rate limit exceeded, retry after the reset", "RATELIMITED", budget.headers()
        )
    headers = budget.headers()
    try:
        body = await request.json()
        query, variables = body["query"], body.get("variables") or {}
    except (ValueError, KeyError, TypeError):
        return graphql_errors(400, "Body must be JSON with a query", "BAD_USER_INPUT", headers)
    root = _ROOT_FIELD.match(query or "")
    connection = root.group(1) if root else None
    if connection not in CONNECTIONS:
        return graphql_errors(
            400,
            f'Cannot query field "{connection}" on type "Query".',
            "GRAPHQL_VALIDATION_FAILED",
            headers,
        )
    first = variables.get("first", 50)
    if not isinstance(first, int) or not 0 < first <= MAX_FIRST:
        return graphql_errors(
            400, f"first must be between 1 and {MAX_FIRST}, got {first!r}", "INVALID_INPUT", headers
        )
    order_by = _ORDER_BY.search(query)
    sort_field = order_by.group(1) if order_by else "createdAt"
    issues = sandbox.rendered("linear_issues")
    issues_by_id = {i["id"]: i for i in issues}
    condition = variables.get("filter") or {}
    nodes = []
    for node in sandbox.rendered(CONNECTIONS[connection]):
        node = sandbox.corrupt(f"linear:{node.get('identifier') or node.get('id')}", node)
        if node.get("archivedAt") and not variables.get("includeArchived"):
            continue
        if matches(_filter_view(connection, node, issues_by_id), condition):
            nodes.append(node)
    nodes.sort(key=lambda n: (str(n.get(sort_field)), str(n.get("id"))))
    if after := variables.get("after"):
        try:
            position = _decode_cursor(after)
        except (ValueError, binascii.Error, TypeError):
            return graphql_errors(400, f"Invalid cursor {after!r}", "INVALID_INPUT", headers)
        nodes = [n for n in nodes if (str(n.get(sort_field)), str(n.get("id"))) > position]
    page = nodes[:first]
    end_cursor = _encode_cursor(page[-1].get(sort_field), page[-1].get("id")) if page else None
    data = {
        connection: {
            "nodes": page,
            "pageInfo": {"hasNextPage": len(nodes) > first, "endCursor": end_cursor},
        }
    }
    return JSONResponse({"data": data}, headers=headers)


def routes(sandbox: Sandbox) -> list[Route]:
    return [Route("/graphql", faulty(sandbox, "linear", graphql), methods=["POST"])]
