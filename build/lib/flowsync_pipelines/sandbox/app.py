"""The sandbox HTTP server: one Starlette app, each tool mounted under its own prefix.

Behaviour the real APIs have and connectors must survive is reproduced: pagination
(``Link`` headers, ``startAt``/``total``), ``ETag`` / ``If-None-Match`` → 304, rate-limit headers,
and injectable faults (429 with ``Retry-After``, 502, slow responses, truncated bodies,
malformed records).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from flowsync_pipelines.simulator import World


@dataclass
class Faults:
    """What the sandbox does wrong, on purpose. Seeded, so a test run is reproducible."""

    # Per record, fields to overwrite when rendered: {"github:acme/api#5": {"created_at": "x"}}.
    malformed: dict[str, dict[str, Any]] = field(default_factory=dict)
    error_rate: float = 0.0  # share of API requests that fail
    error_kinds: tuple[str, ...] = ("429", "502", "slow")
    slow_s: float = 2.0
    retry_after_s: int = 1
    seed: int = 0


class Sandbox:
    """Shared state of one sandbox: the world, its clock, faults and request counters."""

    def __init__(
        self, world: World, *, as_of: datetime | None = None, faults: Faults | None = None
    ):
        self.world = world
        self.as_of = as_of or world.end
        self.faults = faults or Faults()
        self.requests: dict[str, int] = {}
        self._rng = random.Random(self.faults.seed)
        self._cache: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def set_clock(self, as_of: datetime) -> None:
        with self._lock:
            self.as_of = as_of
            self._cache.clear()

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def rendered(self, name: str, *args: Any) -> Any:
        """``world.<name>(*args, as_of)``, cached per clock value."""
        key = (name, args, self.as_of)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = getattr(self.world, name)(*args, self.as_of)
            return self._cache[key]

    def corrupt(self, record_key: str, record: dict) -> dict:
        overrides = self.faults.malformed.get(record_key)
        return {**record, **overrides} if overrides else record

    def count(self, tool: str) -> None:
        with self._lock:
            self.requests[tool] = self.requests.get(tool, 0) + 1

    def draw_fault(self) -> str | None:
        with self._lock:
            if self.faults.error_rate and self._rng.random() < self.faults.error_rate:
                return self._rng.choice(self.faults.error_kinds)
        return None


def json_response(request: Request, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with a content ETag; 304 when the client already holds this content."""
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    etag = 'W/"' + hashlib.sha1(content).hexdigest() + '"'
    headers = {**(headers or {}), "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type="application/json; charset=utf-8", headers=headers)


def faulty(
    sandbox: Sandbox, tool: str, handler: Callable, *, auth_header: str = "authorization"
) -> Callable:
    """Wrap a route: count it, check auth, and maybe misbehave as configured.

    ``handler(sandbox, request)`` may be a coroutine function, for routes that must await the
    request body (GraphQL POSTs). ``auth_header`` names the header that carries the credential
    (Figma's personal tokens travel in ``X-Figma-Token``, not ``Authorization``).
    """
    is_async = inspect.iscoroutinefunction(handler)

    async def endpoint(request: Request) -> Response:
        sandbox.count(tool)
        if not request.headers.get(auth_header):
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        fault = sandbox.draw_fault()
        if fault == "429":
            return JSONResponse(
                {"message": "API rate limit exceeded"},
                status_code=429,
                headers={"Retry-After": str(sandbox.faults.retry_after_s)},
            )
        if fault == "403":  # GitHub's secondary rate limit: 403, not 429, with Retry-After
            return JSONResponse(
                {"message": "You have exceeded a secondary rate limit."},
                status_code=403,
                headers={"Retry-After": str(sandbox.faults.retry_after_s)},
            )
        if fault == "502":
            return Response("<html>502 Bad Gateway</html>", status_code=502, media_type="text/html")
        if fault == "slow":
            await asyncio.sleep(sandbox.faults.slow_s)
        response = await handler(sandbox, request) if is_async else handler(sandbox, request)
        if fault == "truncated" and response.status_code == 200:
            return Response(response.body[: len(response.body) // 2], media_type="application/json")
        return response

    return endpoint


# Each tool's sandbox is a module here exposing ``routes(sandbox)``, mounted at ``/<tool>``.
TOOLS = (
    "github", "jira", "linear", "sentry", "figma", "gitlab", "jenkins", "circleci", "pagerduty"
)  # fmt: skip


def build_app(sandbox: Sandbox) -> Starlette:
    tool_routes = {
        tool: importlib.import_module(f"flowsync_pipelines.sandbox.{tool}").routes(sandbox)
        for tool in TOOLS
    }

    async def clock(request: Request) -> Response:
        body = await request.json()
        sandbox.set_clock(datetime.fromisoformat(body["as_of"]))
        return JSONResponse({"as_of": sandbox.as_of.isoformat()})

    async def stats(request: Request) -> Response:
        return JSONResponse({"as_of": sandbox.as_of.isoformat(), "requests": sandbox.requests})

    return Starlette(
        routes=[
            Route("/_sandbox/clock", clock, methods=["POST"]),
            Route("/_sandbox/stats", stats),
            *(Mount(f"/{tool}", routes=routes) for tool, routes in tool_routes.items()),
        ]
    )


class SandboxServer:
    """A sandbox served by uvicorn on a background thread (for the demo and tests)."""

    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        config = uvicorn.Config(
            build_app(sandbox), host=host, port=port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.host = host
        self.port = port

    def start(self) -> SandboxServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server failed to start")
            threading.Event().wait(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_urls(self) -> dict[str, str]:
        """Per-tool base URLs, as a user would put them in flowsync.yaml."""
        return {tool: f"{self.url}/{tool}" for tool in TOOLS}


def serve(world: World, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve ``world`` in the foreground until interrupted (``flowsync sandbox serve``)."""
    uvicorn.run(build_app(Sandbox(world)), host=host, port=port, log_level="info")
