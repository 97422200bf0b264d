"""Local stand-ins for the digest channels, speaking their real wire formats on loopback.

- :class:`SlackServer`: the Slack Web API methods delivery uses (``chat.postMessage``,
  ``conversations.history`` with message metadata, ``conversations.list``). It checks the bearer
  token, the channel and Block Kit limits, and on request injects faults: ``429`` with
  ``Retry-After``, ``5xx``, and timeouts *after* the message was posted (the case that makes a
  blind retry post twice).
- :class:`TeamsServer`: a Teams workflow endpoint that checks the Adaptive Card (version 1.5,
  body ≤ 28 KB) and injects ``429`` / ``5xx`` / dropped requests.
- :class:`SmtpServer`: a real SMTP server (aiosmtpd) keeping what it accepted, with optional
  AUTH, STARTTLS and ``451`` faults.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_TEXT = 3000
SLACK_MAX_HEADER = 150
TEAMS_MAX_BYTES = 28 * 1024


@dataclass
class FaultPlan:
    """Which share of requests fail, and how: a seeded coin per request."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ("429", "5xx", "timeout")
    seed: int = 13
    hang_s: float = 2.5  # a "timeout" answers after this long (longer than the client waits)
    script: list[str] = field(default_factory=list)  # faults for the first requests, in order
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        with self._lock:
            if self.script:
                kind = self.script.pop(0)
                if kind:
                    self.injected[kind] = self.injected.get(kind, 0) + 1
                return kind or None
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


class _Threaded:
    """A Starlette app served by uvicorn on a background thread."""

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.host, self.port = host, port

    def start(self) -> _Threaded:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} failed to start")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SlackServer(_Threaded):
    """A Slack workspace with a few channels; ``messages`` holds every accepted post."""

    def __init__(
        self,
        *,
        token: str,
        channels: dict[str, str],  # name (without #) -> id
        faults: FaultPlan | None = None,
        delay_s: float = 0.0,
        on_post: Callable[[int], None] | None = None,
        port: int = 0,
    ) -> None:
        self.token = token
        self.on_post = on_post  # called with the count of posts so far, before answering one
        self.channels = dict(channels)
        self.faults = faults or FaultPlan()
        self.delay_s = delay_s
        self.messages: list[
            dict[str, Any]
        ] = []  # {"channel": id, "ts", "text", "blocks", "metadata"}
        self.violations: list[str] = []  # payloads refused for breaking Block Kit limits
        self.requests: dict[str, int] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post, methods=["POST"]),
                Route("/api/conversations.history", self._history, methods=["GET", "POST"]),
                Route("/api/conversations.list", self._list, methods=["GET", "POST"]),
            ]
        )
        super().__init__(app, port=port)

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def _count(self, method: str) -> None:
        with self._lock:
            self.requests[method] = self.requests.get(method, 0) + 1

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def _channel_id(self, channel: str) -> str | None:
        if channel.startswith("#"):
            return self.channels.get(channel[1:])
        return channel if channel in self.channels.values() else None

    async def _post(self, request: Request) -> Response:
        self._count("chat.postMessage")
        if not self._authorised(request):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        fault = self.faults.draw()
        if fault == "429":
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "1"}
            )
        if fault == "5xx":
            return JSONResponse({"ok": False, "error": "internal_error"}, status_code=503)
        body = await request.json()
        channel = self._channel_id(str(body.get("channel", "")))
        if channel is None:
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        problems = _block_kit_problems(body)
        if problems:
            self.violations.extend(problems)
            return JSONResponse({"ok": False, "error": "invalid_blocks", "errors": problems})
        with self._lock:
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            self.messages.append(
                {
                    "channel": channel,
                    "ts": ts,
                    "text": body.get("text"),
                    "blocks": body.get("blocks"),
                    "metadata": body.get("metadata"),
                }
            )
        if self.on_post:
            self.on_post(len(self.messages))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if fault == "timeout":  # posted, but the client gives up before hearing so
            await asyncio.sleep(self.faults.hang_s)
        return JSONResponse({"ok": True, "channel": channel, "ts": ts})

    async def _history(self, request: Request) -> Response:
        self._count("conversations.history")
        if not self._authorised(request):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        params = dict(request.query_params)
        if request.method == "POST":  # form-encoded, as slack-sdk sends it
            body = (await request.body()).decode()
            params.update({k: v[-1] for k, v in parse_qs(body).items()})
        channel = params.get("channel", "")
        if channel not in self.channels.values():  # history takes ids only, as Slack's does
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        with_meta = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = int(params.get("limit", 100))
        start = int(params.get("cursor") or 0)
        with self._lock:
            found = [m for m in reversed(self.messages) if m["channel"] == channel]
        page = found[start : start + limit]
        messages = [
            {"type": "message", "ts": m["ts"], "text": m["text"]}
            | ({"metadata": m["metadata"]} if with_meta and m["metadata"] else {})
            for m in page
        ]
        more = start + limit < len(found)
        return JSONResponse(
            {
                "ok": True,
                "messages": messages,
                "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""},
            }
        )

    async def _list(self, request: Request) -> Response:
        self._count("conversations.list")
        if not self._authorised(request):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        return JSONResponse(
            {
                "ok": True,
                "channels": [{"id": i, "name": n} for n, i in sorted(self.channels.items())],
                "response_metadata": {"next_cursor": ""},
            }
        )

    def digest_ids(self) -> list[str]:
        """The digest id of every accepted post (one per post, duplicates kept)."""
        return [
            (m["metadata"] or {}).get("event_payload", {}).get("digest_id") for m in self.messages
        ]


def _block_kit_problems(body: dict[str, Any]) -> list[str]:
    blocks = body.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    problems = []
    if not body.get("text") and not blocks:
        problems.append("neither text nor blocks")
    blocks = blocks or []
    if len(blocks) > SLACK_MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks (at most {SLACK_MAX_BLOCKS})")
    for i, block in enumerate(blocks):
        text = (block.get("text") or {}).get("text", "")
        if block.get("type") == "header" and len(text) > SLACK_MAX_HEADER:
            problems.append(f"block {i}: header of {len(text)} characters")
        if block.get("type") == "section" and len(text) > SLACK_MAX_SECTION_TEXT:
            problems.append(f"block {i}: section text of {len(text)} characters")
    return problems


class TeamsServer(_Threaded):
    """Teams workflow endpoints ``/workflows/<name>``; ``cards`` holds what each accepted."""

    def __init__(self, *, faults: FaultPlan | None = None, port: int = 0) -> None:
        self.faults = faults or FaultPlan(kinds=("429", "5xx", "drop"))
        self.cards: list[dict[str, Any]] = []  # {"workflow", "at", "digest_id", "body", "bytes"}
        self.arrivals: list[float] = []  # monotonic time of every request, faults included
        self.violations: list[str] = []
        self._lock = threading.Lock()
        super().__init__(
            Starlette(routes=[Route("/workflows/{name}", self._post, methods=["POST"])]), port=port
        )

    def workflow_url(self, name: str) -> str:
        return f"{self.url}/workflows/{name}"

    async def _post(self, request: Request) -> Response:
        with self._lock:
            self.arrivals.append(time.monotonic())
        fault = self.faults.draw()
        if fault == "429":
            return JSONResponse(
                {"error": "too many requests"}, status_code=429, headers={"Retry-After": "1"}
            )
        if fault == "5xx":
            return JSONResponse({"error": "bad gateway"}, status_code=502)
        if fault == "drop":  # the request never reaches the flow; the client times out
            await asyncio.sleep(self.faults.hang_s)
            return Response(status_code=504)
        raw = await request.body()
        problems = _card_problems(raw)
        if problems:
            self.violations.extend(problems)
            return JSONResponse({"error": "; ".join(problems)}, status_code=400)
        with self._lock:
            self.cards.append(
                {
                    "workflow": request.path_params["name"],
                    "at": time.monotonic(),
                    "digest_id": request.headers.get("x-flowsync-digest"),
                    "body": json.loads(raw),
                    "bytes": len(raw),
                }
            )
        return Response(status_code=202)


def _card_problems(raw: bytes) -> list[str]:
    if len(raw) > TEAMS_MAX_BYTES:
        return [f"body of {len(raw)} bytes (at most {TEAMS_MAX_BYTES})"]
    try:
        body = json.loads(raw)
        (attachment,) = body["attachments"]
        card = attachment["content"]
    except (ValueError, KeyError, TypeError):
        return ["not a message with one attachment"]
    problems = []
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append(f"contentType {attachment.get('contentType')!r}")
    if card.get("type") != "AdaptiveCard" or card.get("version") != "1.5":
        problems.append(f"not an Adaptive Card 1.5: {card.get('type')} {card.get('version')}")
    return problems


class SmtpServer:
    """aiosmtpd on loopback; ``messages`` holds each accepted message, parsed."""

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        users: dict[str, str] | None = None,
        tls_cert: tuple[Path, Path] | None = None,  # (certificate, key) for STARTTLS
    ) -> None:
        self.faults = faults or FaultPlan(kinds=("451",))
        self.users = users
        self.tls_cert = tls_cert
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.sessions_tls: list[bool] = []
        self.port = 0
        self._controller = None

    def start(self) -> SmtpServer:
        import socket
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope) -> str:
                if server.faults.draw():
                    return "451 4.3.0 Temporary failure, try again"
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                server.messages.append(message)
                server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                server.sessions_tls.append(session.ssl is not None)
                return "250 OK"

        def authenticate(server_, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = (
                isinstance(auth_data, LoginPassword)
                and (self.users or {}).get(auth_data.login.decode()) == auth_data.password.decode()
            )
            return AuthResult(success=ok, handled=False)

        with socket.socket() as s:  # a free port (Controller needs one up front)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        kwargs: dict[str, Any] = {}
        if self.users is not None:
            kwargs.update(authenticator=authenticate, auth_required=True)
            kwargs["auth_require_tls"] = self.tls_cert is not None
        if self.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls_cert[0]), str(self.tls_cert[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
