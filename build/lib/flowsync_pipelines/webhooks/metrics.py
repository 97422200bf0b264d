"""The gateway's Prometheus metrics, in the text exposition format (no client library needed).

Counters are per process and start at zero on restart, as Prometheus expects; the queue depth is
read from the queue itself at scrape time, so it survives restarts.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable

# Ack latency buckets (seconds): the interesting range is one commit (ms) to a sender's timeout.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class GatewayMetrics:
    """What ``GET /metrics`` reports: deliveries by outcome, signature failures, latency."""

    def __init__(self) -> None:
        self.deliveries: Counter[tuple[str, str]] = Counter()  # (source, outcome)
        self.signature_failures: Counter[str] = Counter()  # source
        self.unknown_events: Counter[tuple[str, str]] = Counter()  # (source, event_type)
        self._latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0

    def delivery(self, source: str, outcome: str) -> None:
        self.deliveries[(source, outcome)] += 1

    def ack_latency(self, seconds: float) -> None:
        self._latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._latency_sum += seconds

    def render(self, *, pending: int | None, waiting: int, commits: int) -> str:
        """The exposition text; ``pending`` is None when the queue could not be read."""
        lines: list[str] = []
        lines += _family(
            "flowsync_webhook_deliveries_total",
            "counter",
            "Webhook requests answered, by source and outcome.",
            (
                (f'source="{_esc(s)}",outcome="{_esc(o)}"', n)
                for (s, o), n in self.deliveries.items()
            ),
        )
        lines += _family(
            "flowsync_webhook_signature_failures_total",
            "counter",
            "Requests answered 401: signature, token or passcode wrong or missing.",
            ((f'source="{_esc(s)}"', n) for s, n in self.signature_failures.items()),
        )
        lines += _family(
            "flowsync_webhook_unknown_events_total",
            "counter",
            "Authentic deliveries of an event type the tool does not document (stored anyway).",
            (
                (f'source="{_esc(s)}",event="{_esc(e)}"', n)
                for (s, e), n in self.unknown_events.items()
            ),
        )
        if pending is not None:
            lines += _family(
                "flowsync_webhook_queue_depth",
                "gauge",
                "Deliveries committed to the queue and not yet drained into landing.",
                [("", pending)],
            )
        lines += _family(
            "flowsync_webhook_commit_waiting",
            "gauge",
            "Deliveries received and waiting for the next group commit.",
            [("", waiting)],
        )
        lines += _family(
            "flowsync_webhook_commits_total",
            "counter",
            "Queue transactions committed (each holds one or more deliveries).",
            [("", commits)],
        )
        name = "flowsync_webhook_ack_latency_seconds"
        lines.append(f"# HELP {name} Time from receiving a request to answering it.")
        lines.append(f"# TYPE {name} histogram")
        cumulative = 0
        for bound, count in zip(
            (*LATENCY_BUCKETS, float("inf")), self._latency_counts, strict=True
        ):
            cumulative += count
            label = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{le="{label}"}} {cumulative}')
        lines.append(f"{name}_sum {self._latency_sum}")
        lines.append(f"{name}_count {cumulative}")
        return "\n".join(lines) + "\n"


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in sorted(samples):
        lines.append(f"{name}{{{labels}}} {value}" if labels else f"{name} {value}")
    return lines


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
