"""Deliver pending outbox rows: each row once, whatever fails or dies on the way.

For every row: claim it (count the attempt, mark it in flight), and if the previous attempt's
outcome is unknown, ask the provider first (Slack's history, by the metadata naming the digest
id); then send and record the outcome. A process killed between a send and its record leaves the
row in flight, which the next run resolves the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flowsync_pipelines.delivery.outbox import Outbox, OutboxRow
from flowsync_pipelines.delivery.senders import Failed, Retry, Sender, Sent, Unknown
from flowsync_pipelines.settings import DigestSubscription

MAX_ATTEMPTS = 8
MAX_RETRY_AFTER_S = 30.0


@dataclass
class DeliveryReport:
    sent: int = 0
    found: int = 0  # an earlier attempt had delivered it: recorded, not sent again
    retried: int = 0
    failed: int = 0
    skipped: int = 0  # no sender for the channel, or the subscription is gone

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "found": self.found,
            "retried": self.retried,
            "failed": self.failed,
            "skipped": self.skipped,
        }


def deliver_pending(
    outbox: Outbox,
    subscriptions: Mapping[str, DigestSubscription],
    senders: Mapping[str, Sender],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    rounds: int = MAX_ATTEMPTS,
    backoff_s: float = 0.2,
    progress: Callable[[OutboxRow, str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send every pending row, in up to ``rounds`` passes (retryable rows go again after a
    short backoff); a row that has used ``max_attempts`` is marked failed."""
    report = DeliveryReport()
    skipped: set[str] = set()
    for round_no in range(rounds):
        pending = [r for r in outbox.pending() if r.digest_id not in skipped]
        if not pending:
            break
        if round_no:
            sleep(backoff_s * 2 ** (round_no - 1))
        attempted = 0
        for row in pending:
            subscription = subscriptions.get(row.subscription_id)
            sender = senders.get(row.channel)
            if subscription is None or sender is None:
                skipped.add(row.digest_id)  # waits for its channel's settings
                continue
            outcome = deliver_one(outbox, row, subscription, sender, max_attempts=max_attempts)
            attempted += outcome != "busy"
            if outcome == "sent":
                report.sent += 1
            elif outcome == "found":
                report.found += 1
            elif outcome == "failed":
                report.failed += 1
            elif outcome.startswith("retry"):
                report.retried += 1
                after = float(outcome.partition(":")[2] or 0)
                if after:
                    sleep(min(after, MAX_RETRY_AFTER_S))  # honour Retry-After
            if progress:
                progress(row, outcome)
        if not attempted:
            break  # the rest is leased by another live process
    report.skipped = len(skipped)
    return report


def deliver_one(
    outbox: Outbox,
    row: OutboxRow,
    subscription: DigestSubscription,
    sender: Sender,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> str:
    """One attempt at one row: ``sent``, ``found``, ``retry[:after_s]``, ``failed`` or
    ``busy`` (another process holds it)."""
    claimed = outbox.claim(row.digest_id)
    if claimed is None:
        return "busy"
    if claimed.in_flight:  # the last attempt's outcome was never recorded
        try:
            earlier = sender.find(claimed, subscription)
        except Exception as err:  # cannot tell: do not risk a second copy now
            outbox.mark_retry(row.digest_id, f"lookup failed: {err}", unknown=True)
            return "retry"
        if earlier:
            outbox.mark_sent(row.digest_id, earlier)
            return "found"
    outcome = sender.send(claimed, subscription)
    if isinstance(outcome, Sent):
        outbox.mark_sent(row.digest_id, outcome.provider_id)
        return "sent"
    unknown = isinstance(outcome, Unknown)
    if isinstance(outcome, Failed) or claimed.attempts + 1 >= max_attempts:
        # An unknown outcome stays in flight: a later --retry-failed looks before it sends.
        outbox.mark_failed(row.digest_id, outcome.error, in_flight=unknown)
        return "failed"
    outbox.mark_retry(row.digest_id, outcome.error, unknown=unknown)
    if isinstance(outcome, Retry) and outcome.after_s:
        return f"retry:{outcome.after_s}"
    return "retry"
