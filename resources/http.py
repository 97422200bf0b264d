"""The one HTTP layer every connector shares.

httpx does the transport, tenacity the retrying. What this module adds is what every tool API
needs the same way: conditional requests (a 304 transfers nothing), waiting out rate limits
(``Retry-After``, ``X-RateLimit-Reset``) instead of failing, exponential backoff with jitter on
5xx / resets / timeouts, and counters the ingestion assets report as run metadata.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_RETRYABLE_STATUS = {500, 502, 503, 504}
# "x-[vendor-]ratelimit-[family-]remaining" / "x-[vendor-]rate-limit-[family-]remaining"; group 1
# is the prefix the matching "…reset" header shares.
_QUOTA_REMAINING = re.compile(r"^(x-(?:[a-z]+-)?rate-?limit-(?:[a-z]+-)*)remaining$")
# GraphQL error codes that mean "slow down" rather than "your query is wrong".
_RATE_LIMIT_CODES = {"RATELIMITED", "RATE_LIMITED", "THROTTLED"}


@dataclass
class RequestStats:
    """What a sync cost; reported as run metadata on ingestion assets."""

    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_wait_s: float = 0.0
    bytes_received: int = 0
    # Connector-specific tallies (e.g. Figma comments skipped as untagged), reported alongside.
    counters: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def count(self, name: str, amount: int = 1) -> None:
        """Tally something a connector wants in the run metadata under ``name``."""
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + amount

    def as_metadata(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "not_modified_304": self.not_modified,
            "retries": self.retries,
            "rate_limit_wait_s": round(self.rate_limit_wait_s, 3),
            "bytes_received": self.bytes_received,
            **self.counters,
        }


class RetryableError(Exception):
    """A response or transport failure worth trying again, maybe after a server-given delay."""

    def __init__(self, message: str, *, retry_after: float | None = None, rate_limited: bool):
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class ApiError(Exception):
    """A response that retrying will not fix (4xx other than rate limits)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code  # None when the error came in a 2xx body (GraphQL)


class MalformedPage(Exception):
    """A 2xx response whose body is not the JSON the endpoint promises."""


@dataclass(frozen=True)
class Page:
    """One decoded response: its JSON, the validator to remember, and the URL it came from."""

    url: str
    data: Any
    etag: str | None
    last_modified: str | None
    headers: Mapping[str, str]


def _retry_after_seconds(response: httpx.Response, now: float) -> float | None:
    """Seconds the server asks us to wait, from ``Retry-After`` or an exhausted quota's reset.

    Quotas come in header families that differ only in naming: ``X-RateLimit-Remaining`` /
    ``-Reset`` (GitHub), ``X-RateLimit-Requests-Remaining`` / ``-Requests-Reset`` and the
    ``-Complexity-`` pair (Linear), ``X-Sentry-Rate-Limit-Remaining`` / ``-Reset`` (Sentry). The
    reset is an epoch in seconds, or in milliseconds when too large to be seconds (Linear).
    Unprefixed ``RateLimit-Remaining`` / ``-Reset`` (IETF draft, PagerDuty) give the reset as
    seconds from now.
    """
    retry_after = response.headers.get("retry-after")
    if retry_after:
        if retry_after.isdigit():
            return float(retry_after)
        parsed = email.utils.parsedate_to_datetime(retry_after)
        return max(0.0, parsed.timestamp() - now)
    # The IETF RateLimit fields (PagerDuty): ``RateLimit-Reset`` is seconds until the reset.
    reset = response.headers.get("ratelimit-reset", "").strip()
    if response.headers.get("ratelimit-remaining", "").strip() == "0" and reset.isdigit():
        return float(reset)
    waits = []
    for name, remaining in response.headers.items():
        match = _QUOTA_REMAINING.match(name.lower())
        if not match or remaining.strip() != "0":
            continue
        reset = response.headers.get(f"{match.group(1)}reset", "").strip()
        if reset.isdigit():
            epoch = float(reset) / 1000 if float(reset) >= 1e11 else float(reset)
            waits.append(max(0.0, epoch - now))
    return max(waits) if waits else None


def _graphql_rate_limited(response: httpx.Response) -> bool:
    """Whether a GraphQL error body says "rate limited" (Linear answers 400 ``RATELIMITED``)."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(
        isinstance(error, dict)
        and str((error.get("extensions") or {}).get("code", "")).upper() in _RATE_LIMIT_CODES
        for error in errors
    )


class CircuitOpen(Exception):
    """The source failed too often lately; calls fail fast until the cool-down ends."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class CircuitBreaker:
    """Per-source breaker: opens after ``threshold`` consecutive failed attempts.

    While open, requests fail fast; after ``cooldown_s`` one trial request is let through
    (half-open) and its outcome closes or re-opens the circuit. State is shared per source name
    in :data:`BREAKERS`, where the integration-health monitor reads it.
    """

    source: str
    threshold: int = 8
    cooldown_s: float = 30.0
    consecutive_failures: int = 0
    opened_at: float | None = None
    times_opened: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.cooldown_s else "open"

    def before_request(self) -> None:
        if self.state == "open":
            remaining = self.cooldown_s - (time.monotonic() - (self.opened_at or 0.0))
            raise CircuitOpen(
                f"circuit for {self.source} is open after {self.consecutive_failures} consecutive "
                f"failures; next trial in {remaining:.0f} s",
                retry_after=max(remaining, 0.0),
            )

    def record(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self.consecutive_failures, self.opened_at = 0, None
                return
            self.consecutive_failures += 1
            if self.consecutive_failures >= self.threshold and self.state != "open":
                self.opened_at = time.monotonic()
                self.times_opened += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "times_opened": self.times_opened,
        }


BREAKERS: dict[str, CircuitBreaker] = {}


def breaker_for(source: str) -> CircuitBreaker:
    """The process-wide circuit breaker of one source."""
    return BREAKERS.setdefault(source, CircuitBreaker(source))


class HttpClient:
    """A rate-limit-aware JSON client for one tool, bounded in concurrency and retries."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 6,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_rate_limit_wait_s: float = 900.0,
        max_concurrency: int = 4,
        stats: RequestStats | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.stats = stats or RequestStats()
        self.breaker = breaker or CircuitBreaker(base_url)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Accept": "application/json", **(headers or {})},
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=True,
        )
        self.max_concurrency = max_concurrency  # requests in flight at once, across threads
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._max_rate_limit_wait_s = max_rate_limit_wait_s
        self._sleep = sleep
        self._retrying = Retrying(
            stop=stop_after_attempt(max_attempts),
            wait=self._wait_seconds,
            retry=retry_if_exception_type(
                (RetryableError, CircuitOpen, httpx.TransportError, MalformedPage)
            ),
            before_sleep=self._count_retry,
            sleep=sleep,
            reraise=True,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- retry policy ---------------------------------------------------------------------------
    def _wait_seconds(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError | CircuitOpen) and error.retry_after is not None:
            return min(error.retry_after, self._max_rate_limit_wait_s)
        # Full jitter: spreads retries of many clients hitting the same failing server.
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2 ** (state.attempt_number - 1))
        return random.uniform(0, ceiling)

    def _count_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        waited = state.next_action.sleep if state.next_action else 0.0
        if isinstance(error, RetryableError) and error.rate_limited:
            self.stats.add(retries=1, rate_limit_wait_s=waited)
        else:
            self.stats.add(retries=1)

    # -- requests -------------------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Page | None:
        """GET JSON, retrying what is retryable. ``None`` means 304: nothing changed."""
        return self._retrying(self._get_once, url, params, etag, last_modified)

    def post(self, url: str, *, json: Any) -> Page:
        """POST JSON (GraphQL, Jira's search): retried like a GET since these reads are safe."""
        return self._retrying(self._send_once, "POST", url, None, json, {})

    def _get_once(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        etag: str | None,
        last_modified: str | None,
    ) -> Page | None:
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        return self._send_once("GET", url, params, None, conditional)

    def _send_once(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str],
    ) -> Page | None:
        self.breaker.before_request()
        with self._slots:
            self.stats.add(requests=1)
            try:
                response = self._client.request(
                    method, url, params=params, json=body, headers=headers
                )
            except httpx.TransportError:
                self.breaker.record(ok=False)
                raise
        self.stats.add(bytes_received=len(response.content))
        # Rate limiting is the API working as designed, not a fault of the source.
        self.breaker.record(ok=response.status_code < 500)
        if response.status_code == 304:
            self.stats.add(not_modified=1)
            return None
        rate_wait = _retry_after_seconds(response, time.time())
        # 403 (GitHub) and 400 (Linear) also mean "rate limited" when a quota header says so or
        # a GraphQL error carries a rate-limit code.
        is_rate_limited = response.status_code == 429 or (
            response.status_code in (400, 403)
            and (rate_wait is not None or _graphql_rate_limited(response))
        )
        if is_rate_limited:
            raise RetryableError(
                f"{method} {response.url} rate limited ({response.status_code})",
                retry_after=rate_wait if rate_wait is not None else 60.0,
                rate_limited=True,
            )
        if response.status_code in _RETRYABLE_STATUS:
            raise RetryableError(
                f"{method} {response.url} answered {response.status_code}",
                retry_after=rate_wait,
                rate_limited=False,
            )
        if response.status_code >= 400:
            raise ApiError(
                f"{method} {response.url} answered {response.status_code}: {response.text[:300]}",
                status_code=response.status_code,
            )
        try:
            data = response.json()
        except ValueError as err:
            # A truncated or garbled 2xx body is a transport fault in disguise: ask again.
            raise MalformedPage(
                f"{method} {response.url} returned a body that is not JSON"
            ) from err
        return Page(
            url=str(response.url),
            data=data,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            headers=response.headers,
        )

    # -- pagination -----------------------------------------------------------------------------
    def paginate_link(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        first_page_etag: str | None = None,
    ) -> Iterator[Page]:
        """Follow RFC 8288 ``Link: <…>; rel="next"`` headers (GitHub, GitLab).

        A 304 on the first page ends the iteration: the collection has not changed.
        """
        page = self.get(url, params=params, etag=first_page_etag)
        while page is not None:
            yield page
            match = _LINK_NEXT.search(page.headers.get("link", ""))
            if not match:
                return
            page = self.get(match.group(1))

    def paginate_cursor(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        next_cursor: Callable[[Page], str | None],
        cursor_param: str = "cursor",
    ) -> Iterator[Page]:
        """Follow an opaque cursor read from each page; ``next_cursor`` returns None at the end."""
        query = dict(params or {})
        while True:
            page = self.get(url, params=query)
            if page is None:
                return
            yield page
            cursor = next_cursor(page)
            if not cursor:
                return
            query[cursor_param] = cursor

    def paginate_graphql(
        self,
        url: str,
        *,
        query: str,
        variables: Mapping[str, Any],
        connection: Callable[[Any], Mapping[str, Any]],
    ) -> Iterator[Page]:
        """Follow a Relay connection's ``pageInfo { hasNextPage endCursor }`` (Linear).

        ``connection`` picks the connection object (with ``nodes`` and ``pageInfo``) out of the
        response's ``data``. GraphQL reports errors in a 200 body; those raise :class:`ApiError`.
        """
        after: str | None = None
        while True:
            page = self.post(url, json={"query": query, "variables": {**variables, "after": after}})
            if page.data.get("errors"):
                raise ApiError(f"GraphQL errors from {page.url}: {page.data['errors']}"[:500])
            yield page
            info = connection(page.data["data"]).get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info["endCursor"]

    def paginate_offset(
        self,
        url: str,
        *,
        items_key: str,
        params: Mapping[str, Any] | None = None,
        page_size: int = 50,
        first_page_etag: str | None = None,
    ) -> Iterator[Page]:
        """Follow ``startAt`` / ``maxResults`` / ``total`` paging (Jira)."""
        start_at = 0
        while True:
            query = {**(params or {}), "startAt": start_at, "maxResults": page_size}
            page = self.get(url, params=query, etag=first_page_etag if start_at == 0 else None)
            if page is None:
                return
            yield page
            items = page.data.get(items_key) or []
            start_at = int(page.data.get("startAt", start_at)) + len(items)
            total = page.data.get("total")
            if not items or (total is not None and start_at >= int(total)):
                return
