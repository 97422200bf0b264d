"""The gateway's HTTP face: ``POST /webhooks/<source>``, ``GET /healthz``, ``GET /metrics``.

``<source>`` is a configured source's *name*, or its type's path (``github``, ``ci`` for Jenkins)
while only one source of that type receives webhooks (:meth:`WebhookSecrets.resolve`): two GitHub
sources (github.com and an Enterprise server) each have their own endpoint, secret, rate limit,
metrics and queue rows, and their deliveries land under their own names.

A delivery passes these gates in order, cheapest first, and is stored only if it passes all:

====================================================  =====================================
gate                                                  answer when it fails
====================================================  =====================================
the path names a source with a secret configured     404
declared or streamed body within ``max_body_bytes``   413
``Content-Type`` is JSON                              415
signature / token / passcode (constant-time)          401, counted, nothing stored
the source's token bucket has a token                 429 with ``Retry-After``
committed to the queue (group commit)                 503 with ``Retry-After`` if it could not be
====================================================  =====================================

Then the answer is 202. An authentic body that is not a JSON object is stored as quarantined
with the reason and still acknowledged, so the sender does not retry it forever; an event type
the tool does not document is stored and counted, never dropped; a delivery id already queued is
acknowledged as a duplicate and not stored twice. The rate limit is taken after authentication,
so forged requests cannot spend a tool's budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from flowsync_pipelines.webhooks.metrics import GatewayMetrics
from flowsync_pipelines.webhooks.providers import (
    Endpoint,
    Inbound,
    NoEndpoint,
    Provider,
    WebhookSecrets,
)
from flowsync_pipelines.webhooks.queue import (
    PENDING,
    QUARANTINED,
    Delivery,
    DeliveryQueue,
    SqliteSynchronous,
)
from flowsync_pipelines.webhooks.writer import GroupCommitWriter, QueueUnavailable

log = logging.getLogger("flowsync.webhooks")

# GitHub caps a delivery at 25 MB; no tool FlowSync reads sends more.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs, resolved before it starts (secrets included)."""

    metadata_url: str
    secrets: WebhookSecrets
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_per_second: float = 200.0  # per source name; 0 disables the limit
    rate_burst: int = 1000
    sqlite_synchronous: SqliteSynchronous = "full"
    max_batch: int = 256


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token per delivery."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.tokens = self.burst
        self.clock = clock
        self.updated = clock()

    def take(self) -> float:
        """Take a token: 0.0 if one was there, else the seconds until one will be."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Gateway:
    """Request handlers and the state they share (queue, writer, buckets, metrics)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.metrics = GatewayMetrics()
        self.buckets = {
            name: TokenBucket(config.rate_per_second, config.rate_burst)
            for name in config.secrets.by_source
        }
        self.queue: DeliveryQueue | None = None
        self.writer: GroupCommitWriter | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.queue = DeliveryQueue(
            self.config.metadata_url, sqlite_synchronous=self.config.sqlite_synchronous
        )
        self.writer = GroupCommitWriter(self.queue, max_batch=self.config.max_batch)
        self.writer.start()
        try:
            yield
        finally:
            await self.writer.stop()
            self.queue.dispose()

    # -- handlers ----------------------------------------------------------------------------------
    async def receive(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            endpoint = self.config.secrets.resolve(request.path_params["source"])
        except NoEndpoint as err:
            return _error(404, str(err))
        provider, source = endpoint.provider, endpoint.name  # metrics and limits per source name

        declared = request.headers.get("content-length")
        if declared is not None and not declared.isdigit():
            return _error(400, f"Content-Length is not a number: {declared[:40]!r}")
        if declared is not None and int(declared) > self.config.max_body_bytes:
            return self._too_large(source)  # refused before reading a byte of it
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not (media_type == "application/json" or media_type.endswith("+json")):
            self.metrics.delivery(source, "unsupported_media_type")
            return _error(
                415,
                f"Content-Type must be application/json, got {media_type or 'none'!r}; "
                "configure the webhook to send JSON",
            )
        body = await _read_body(request, self.config.max_body_bytes)
        if body is None:
            return self._too_large(source)

        inbound = Inbound(
            headers=dict(request.headers.items()),  # Starlette gives lower-case names
            body=body,
            received_epoch_s=time.time(),
        )
        reason = provider.authenticate(inbound, endpoint.secrets)
        if reason is not None:
            self.metrics.signature_failures[source] += 1
            self.metrics.delivery(source, "unauthorized")
            client = request.client.host if request.client else "?"
            log.warning("rejected a %s delivery from %s: %s", source, client, reason)
            return _error(401, reason)

        wait_s = self.buckets[source].take() if self.config.rate_per_second > 0 else 0.0
        if wait_s > 0:
            self.metrics.delivery(source, "rate_limited")
            return _error(
                429,
                f"{source} is over its rate limit of {self.config.rate_per_second:g} deliveries/s",
                headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
            )

        delivery = _delivery(endpoint, inbound)
        assert self.writer is not None  # set by the lifespan before any request
        try:
            stored = await self.writer.submit(delivery)
        except QueueUnavailable as err:
            self.metrics.delivery(source, "unavailable")
            return _error(503, f"{err}; retry later", headers={"Retry-After": "5"})

        if not stored:
            outcome = "duplicate"
        else:
            outcome = "quarantined" if delivery.state == QUARANTINED else "stored"
            if not provider.is_known(delivery.event_type):
                self.metrics.unknown_events[(source, delivery.event_type)] += 1
                log.info("stored a %s delivery of unknown event %r", source, delivery.event_type)
        self.metrics.delivery(source, outcome)
        self.metrics.ack_latency(time.perf_counter() - started)
        answer: dict[str, Any] = {
            "status": outcome,
            "delivery_id": delivery.delivery_id,
            "event_type": delivery.event_type,
            "known_event": provider.is_known(delivery.event_type),
        }
        if delivery.reason:
            answer["reason"] = delivery.reason
        return JSONResponse(answer, status_code=202)

    async def healthz(self, _request: Request) -> Response:
        if self.writer is None or not self.writer.running:
            return _error(503, "the queue writer is not running")
        secrets = self.config.secrets
        return JSONResponse(
            {"status": "ok", "providers": secrets.routes(), "endpoints": secrets.paths()}
        )

    async def metrics_text(self, _request: Request) -> Response:
        pending: int | None = None
        if self.queue is not None:
            try:
                pending = await asyncio.get_running_loop().run_in_executor(
                    None, self.queue.pending_count
                )
            except Exception as err:  # a scrape must still answer when the store is down
                log.warning("could not read the webhook queue depth: %r", getattr(err, "orig", err))
        writer = self.writer
        return PlainTextResponse(
            self.metrics.render(
                pending=pending,
                waiting=writer.waiting if writer else 0,
                commits=writer.stats.commits if writer else 0,
            ),
            media_type="text/plain; version=0.0.4",
        )

    def _too_large(self, source: str) -> Response:
        self.metrics.delivery(source, "too_large")
        return _error(413, f"body is larger than {self.config.max_body_bytes} bytes")


def build_app(config: GatewayConfig) -> Starlette:
    """The ASGI application for one gateway configuration."""
    gateway = Gateway(config)
    app = Starlette(
        routes=[
            Route("/webhooks/{source}", gateway.receive, methods=["POST"]),
            Route("/healthz", gateway.healthz, methods=["GET"]),
            Route("/metrics", gateway.metrics_text, methods=["GET"]),
        ],
        lifespan=gateway.lifespan,
    )
    app.state.gateway = gateway
    return app


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit`` (a chunked body declares no size)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _delivery(endpoint: Endpoint, inbound: Inbound) -> Delivery:
    """The queue row for an authentic request: quarantined with the reason if not a JSON object."""
    provider: Provider = endpoint.provider
    body = inbound.body
    problem = inbound.decoded[1]
    headers = provider.stored_headers(inbound)
    document = inbound.document if isinstance(inbound.document, dict) else {}
    secret_fields = [name for name in provider.secret_fields if name in document]
    if secret_fields:
        # A body that carries the shared secret is stored without it; everything else is as sent.
        kept = {k: v for k, v in document.items() if k not in secret_fields}
        body = json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode()
        headers["x-flowsync-redacted"] = ",".join(secret_fields)
    return Delivery(
        source=endpoint.name,
        source_type=endpoint.source_type,
        delivery_id=provider.delivery_id(inbound),
        event_type=provider.event_type(inbound),
        received_at=datetime.fromtimestamp(inbound.received_epoch_s, UTC),
        headers=headers,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        state=QUARANTINED if problem else PENDING,
        reason=problem,
    )


def _error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
