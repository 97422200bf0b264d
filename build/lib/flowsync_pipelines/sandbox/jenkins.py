"""Jenkins' JSON API, as the sandbox serves it: ``/job/<name>/api/json`` with ``tree=…``.

The ``tree`` parameter is Jenkins' only projection and pagination: it names the fields to return,
nested in brackets (``builds[number,actions[causes[userId]]]``), and a range in braces slices a
list (``allBuilds[number]{0,100}``: ``{M,N}`` is M inclusive to N exclusive, ``{M,}`` from M,
``{,N}`` the first N, ``{N}`` just the N-th). Every object keeps its ``_class``, as in Jenkins.
Builds list newest first; ``builds`` holds the newest 100 only, ``allBuilds`` all of them.
Responses carry no ``ETag``: Jenkins' remote API answers no conditional requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowsync_pipelines.sandbox.app import Sandbox, faulty

JENKINS_VERSION = "2.479.3"
NEWEST_BUILDS = 100  # what ``builds`` holds; ``allBuilds`` is uncapped
BASE = "https://jenkins.acme.example"


class TreeSyntaxError(ValueError):
    """A ``tree`` parameter Jenkins would reject."""


@dataclass(frozen=True)
class TreeField:
    """One name in a tree: the sub-tree to keep of its value, and a slice of it when a list."""

    children: dict[str, TreeField] | None
    start: int | None = None
    stop: int | None = None

    def slice(self, value: list[Any]) -> list[Any]:
        return value[self.start : self.stop]


def parse_tree(text: str) -> dict[str, TreeField]:
    """``a,b[c,d{0,2}]{1,}`` → ``{"a": TreeField(None), "b": TreeField({...}, 1, None)}``."""
    fields, position = _parse_fields(text, 0)
    if position != len(text):
        raise TreeSyntaxError(f"unexpected {text[position]!r} at {position} in tree={text!r}")
    return fields


def _parse_fields(text: str, position: int) -> tuple[dict[str, TreeField], int]:
    fields: dict[str, TreeField] = {}
    while True:
        name_start = position
        while position < len(text) and text[position] not in ",[]{}":
            position += 1
        name = text[name_start:position].strip()
        if not name:
            raise TreeSyntaxError(f"a field name is missing at {name_start} in tree={text!r}")
        children = None
        if position < len(text) and text[position] == "[":
            children, position = _parse_fields(text, position + 1)
            if position >= len(text) or text[position] != "]":
                raise TreeSyntaxError(f"unclosed '[' after {name!r} in tree={text!r}")
            position += 1
        start = stop = None
        if position < len(text) and text[position] == "{":
            close = text.find("}", position)
            if close < 0:
                raise TreeSyntaxError(f"unclosed '{{' after {name!r} in tree={text!r}")
            start, stop = _parse_range(text[position + 1 : close], text)
            position = close + 1
        fields[name] = TreeField(children, start, stop)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        return fields, position


def _parse_range(spec: str, text: str) -> tuple[int | None, int | None]:
    try:
        if "," not in spec:
            only = int(spec)
            return only, only + 1
        low, high = spec.split(",", 1)
        return (int(low) if low.strip() else None), (int(high) if high.strip() else None)
    except ValueError as err:
        raise TreeSyntaxError(f"bad range {{{spec}}} in tree={text!r}") from err


def prune(value: Any, children: dict[str, TreeField] | None) -> Any:
    """``value`` cut down to ``children``; an object named without a sub-tree keeps ``_class``."""
    if isinstance(value, list):
        return [prune(item, children) for item in value]
    if not isinstance(value, dict):
        return value
    kept = {"_class": value["_class"]} if "_class" in value else {}
    for name, field in (children or {}).items():
        if name not in value:
            continue
        inner = value[name]
        if isinstance(inner, list):
            inner = field.slice(inner)
        kept[name] = prune(inner, field.children)
    return kept


def _job_body(sandbox: Sandbox, name: str) -> dict[str, Any]:
    """The job object Jenkins exposes, builds newest first."""
    builds = [
        sandbox.corrupt(f"jenkins:{name}#{build['number']}", build)
        for build in reversed(sandbox.rendered("jenkins_builds", name))
    ]
    last = builds[0] if builds else None
    return {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
        "name": name,
        "fullName": name,
        "displayName": name,
        "url": f"{BASE}/job/{name}/",
        "buildable": True,
        "inQueue": False,
        "builds": builds[:NEWEST_BUILDS],
        "allBuilds": builds,
        "firstBuild": builds[-1] if builds else None,
        "lastBuild": last,
        "nextBuildNumber": (last or {}).get("number", 0) + 1,
    }


# Without ``tree``, Jenkins answers depth 0: each build as a reference, allBuilds hidden.
_DEPTH_ZERO = parse_tree(
    "name,fullName,displayName,url,buildable,inQueue,nextBuildNumber,"
    "builds[number,url],firstBuild[number,url],lastBuild[number,url]"
)


def job_api(sandbox: Sandbox, request: Request) -> Response:
    name = "/".join(request.path_params["path"].split("/job/"))
    if name not in sandbox.world.jenkins_jobs():
        return Response(
            f"<html><body><h2>HTTP ERROR 404 Not Found</h2><p>/job/{name}/</p></body></html>",
            status_code=404,
            media_type="text/html",
        )
    tree = request.query_params.get("tree")
    try:
        fields = parse_tree(tree) if tree else _DEPTH_ZERO
    except TreeSyntaxError as err:
        return Response(f"<html><body>{err}</body></html>", status_code=400, media_type="text/html")
    body = json.dumps(prune(_job_body(sandbox, name), fields), separators=(",", ":"))
    return Response(
        body,
        media_type="application/json;charset=utf-8",
        headers={"X-Jenkins": JENKINS_VERSION, "X-Content-Type-Options": "nosniff"},
    )


def routes(sandbox: Sandbox) -> list[Route]:
    return [Route("/job/{path:path}/api/json", faulty(sandbox, "jenkins", job_api))]
