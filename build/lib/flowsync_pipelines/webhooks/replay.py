"""Replay recorded or simulated webhook deliveries through a running gateway, one at a time.

Each delivery is signed the way its tool signs (:func:`harness.sign`) and POSTed to
``<gateway>/webhooks/<route>`` in the order given; the next is sent only after the previous one
was acknowledged, because order matters (an issue's creation before its updates). A 429 or 503
is waited out as its ``Retry-After`` says, a bounded number of times; any other answer that is
not 2xx stops the replay with an error naming the delivery.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from flowsync_pipelines.webhooks.harness import sign

RETRYABLE = frozenset({429, 503})
MAX_RETRY_WAIT_S = 30.0


class Replayable(Protocol):
    """What a delivery needs to be replayed (e.g. ``simulator.render_webhooks.Delivery``)."""

    @property
    def delivered_at(self) -> datetime: ...

    @property
    def route(self) -> str: ...

    @property
    def event(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def delivery_id(self) -> str: ...

    @property
    def kind(self) -> str: ...


class ReplayError(RuntimeError):
    """The gateway refused a delivery (or kept refusing it after the retries allowed)."""


@dataclass
class ReplayReport:
    """What the gateway answered: outcomes (stored, duplicate, quarantined) and kinds sent."""

    sent: int = 0
    retries: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)  # "<route>:<kind>"

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "retries": self.retries,
            "outcomes": dict(sorted(self.outcomes.items())),
            "by_kind": dict(sorted(self.by_kind.items())),
        }


def _extra_headers(delivery: Replayable) -> dict[str, str]:
    """Headers the tool sends beyond what :func:`sign` sets (none of them signed)."""
    if delivery.route == "sentry":
        # Sentry stamps each request with the time it was sent, in epoch seconds.
        return {"Sentry-Hook-Timestamp": str(int(delivery.delivered_at.timestamp()))}
    return {}


def replay(
    deliveries: Iterable[Replayable],
    gateway_url: str,
    secrets: Mapping[str, str],
    *,
    timeout_s: float = 30.0,
    max_retries: int = 5,
) -> ReplayReport:
    """Sign and POST each delivery in order, waiting for each acknowledgement.

    Args:
        deliveries: in the order they are to arrive (e.g. ``World.webhook_deliveries()``).
        gateway_url: the gateway's base URL, e.g. ``http://127.0.0.1:8780``.
        secrets: route → the webhook secret that route's source is configured with.
        timeout_s: per request.
        max_retries: how often one delivery may be answered 429/503 before giving up.

    Returns:
        how many were sent and what the gateway answered, by outcome and by kind.

    Raises:
        KeyError: a delivery's route has no secret in ``secrets``.
        ReplayError: the gateway answered a delivery with anything but 2xx.
    """
    report = ReplayReport()
    base = gateway_url.rstrip("/")
    with httpx.Client(timeout=timeout_s) as client:
        for delivery in deliveries:
            if delivery.route not in secrets:
                raise KeyError(
                    f"no secret for route {delivery.route!r} (delivery {delivery.delivery_id}); "
                    f"secrets are configured for {sorted(secrets)}"
                )
            body, headers = sign(
                delivery.route,
                delivery.payload,
                secrets[delivery.route],
                event=delivery.event,
                delivery_id=delivery.delivery_id,
            )
            headers |= _extra_headers(delivery)
            url = f"{base}/webhooks/{delivery.route}"
            for attempt in range(max_retries + 1):
                answer = client.post(url, content=body, headers=headers)
                if answer.status_code not in RETRYABLE or attempt == max_retries:
                    break
                report.retries += 1
                time.sleep(_retry_after(answer))
            if not answer.is_success:
                raise ReplayError(
                    f"the gateway answered {answer.status_code} to {delivery.route} "
                    f"{delivery.kind} delivery {delivery.delivery_id} "
                    f"(of {delivery.delivered_at.isoformat()}): {answer.text[:500]}"
                )
            report.sent += 1
            report.outcomes[str(answer.json().get("status", "unknown"))] += 1
            report.by_kind[f"{delivery.route}:{delivery.kind}"] += 1
    return report


def _retry_after(answer: httpx.Response) -> float:
    value = answer.headers.get("retry-after", "1")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_WAIT_S)
    except ValueError:
        return 1.0
