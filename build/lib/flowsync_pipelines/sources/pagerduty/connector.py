"""PagerDuty connector: incidents of each service, and the log entries of the unsettled ones.

REST API v2 (``https://api.pagerduty.com``; ``Authorization: Token token=<key>``). Both
``GET /incidents`` and ``GET /incidents/{id}/log_entries`` use PagerDuty's *classic*
pagination: ``limit`` (at most 100) and ``offset`` in, ``limit``, ``offset`` and ``more`` out
(cursor pagination, ``next_cursor``, is only offered by the audit-records endpoints). Neither
sends an ``ETag``. ``since`` / ``until`` filter incidents by *creation* time, over at most
:data:`MAX_WINDOW`; without a cursor the first sync asks ``date_range=all``.

Because the window is on creation, an incident that changes later is only seen again while its
creation time is inside the window. So the cursor is the creation time of the newest *resolved*
incident that no unresolved one precedes, and every sync re-reads the incidents created since
(minus the overlap): those still open, and the newer ones. Their log entries (who acknowledged,
reassigned, annotated or resolved, and when) are read for each incident created after the
cursor; those at or before it were resolved when the cursor passed them and are landed again
from the list page (landing keeps one copy) without asking for their log entries. A resolved
incident reopened later, or annotated after it was resolved, is reported by the V3 webhooks.

A log entry lands under ``<incident id>/log_entries/<id>`` as PagerDuty returns it: it names its
``incident`` and ``service`` itself, so the normaliser needs no join. Rate limits (429 with
``ratelimit-reset``, seconds to wait) are waited out by the shared HTTP layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flowsync_pipelines.ingest import EndpointSync, utc_iso
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.sources.pagerduty import INCIDENTS, LOG_ENTRIES
from resources.http import ApiError, HttpClient, Page

SOURCE = "pagerduty"
DEFAULT_BASE_URL = "https://api.pagerduty.com"
MAX_LIMIT = 100  # PagerDuty caps ``limit`` at 100
# The longest since/until range ``GET /incidents`` accepts is six months; stay inside it.
MAX_WINDOW = timedelta(days=179)
ALL_SERVICES = "*"  # the scope of a source that names no services: the whole account
ACCEPT = "application/vnd.pagerduty+json;version=2"


def _when(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(utc_iso(stamp))
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def classic_pages(
    client: HttpClient, url: str, *, items_key: str, params: dict[str, Any], limit: int
) -> Iterator[Page]:
    """Every page of a classic-paginated list: ``offset`` grows by the page until ``more`` is
    false (or a page comes back empty, so a server that never says false cannot loop us)."""
    offset = 0
    while True:
        page = client.get(url, params={**params, "limit": limit, "offset": offset})
        if page is None:
            return
        yield page
        items = page.data.get(items_key) or []
        if not page.data.get("more") or not items:
            return
        offset = int(page.data.get("offset", offset)) + len(items)


def is_resolved(incident: dict[str, Any]) -> bool:
    """Whether nothing more is expected of an incident (PagerDuty's status ``resolved``)."""
    return incident.get("status") == "resolved"


class PagerDutyConnector:
    source = SOURCE

    def __init__(self, client: HttpClient, *, services: list[str], page_size: int) -> None:
        self.client = client
        self.services = services
        self.page_size = min(page_size, MAX_LIMIT)

    def endpoints(self) -> list[tuple[str, str]]:
        return [(service, "incidents") for service in self.services or [ALL_SERVICES]]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Incidents created since the cursor (minus the overlap); log entries of the new ones."""
        cursor = _when(sync.cursor_before)
        listed = list(self._incidents(sync.scope, sync.since()))
        for url, incident in listed:
            incident_id = str(incident.get("id"))
            yield FetchedRecord(
                kind="incidents",
                scope=sync.scope,
                record_id=INCIDENTS(id=incident_id),
                updated_at=incident.get("updated_at") or incident.get("created_at"),
                payload=incident,
                request=url,
            )
            created = _when(incident.get("created_at"))
            if cursor is not None and created is not None and created <= cursor:
                continue  # resolved when the cursor passed it: its log is complete
            yield from self._log_entries(sync.scope, incident_id)
        _advance_past_resolved(sync, [incident for _, incident in listed])

    def _incidents(self, scope: str, since: datetime | None) -> Iterator[tuple[str, dict]]:
        base: dict[str, Any] = {"time_zone": "UTC", "sort_by": "created_at:asc"}
        if scope != ALL_SERVICES:
            base["service_ids[]"] = scope
        if since is None:
            windows: list[dict[str, Any]] = [{"date_range": "all"}]
        else:
            windows, start, now = [], since, datetime.now(UTC) + timedelta(minutes=1)
            while start < now:
                end = min(start + MAX_WINDOW, now)
                windows.append({"since": _stamp(start), "until": _stamp(end)})
                start = end
        for window in windows:
            for page in classic_pages(
                self.client,
                "/incidents",
                items_key="incidents",
                params={**base, **window},
                limit=self.page_size,
            ):
                for incident in page.data.get("incidents") or []:
                    yield page.url, incident

    def _log_entries(self, scope: str, incident_id: str) -> Iterator[FetchedRecord]:
        url = f"/incidents/{quote(incident_id, safe='')}/log_entries"
        params = {"time_zone": "UTC", "is_overview": "false"}
        try:
            for page in classic_pages(
                self.client, url, items_key="log_entries", params=params, limit=MAX_LIMIT
            ):
                for entry in page.data.get("log_entries") or []:
                    yield FetchedRecord(
                        kind="log_entries",
                        scope=scope,
                        record_id=LOG_ENTRIES(incident=incident_id, id=entry.get("id")),
                        updated_at=entry.get("created_at"),
                        payload=entry,
                        request=page.url,
                    )
        except ApiError as err:
            if err.status_code != 404:  # merged into another incident since it was listed
                raise


def _advance_past_resolved(sync: EndpointSync, incidents: list[dict[str, Any]]) -> None:
    """Move the cursor to the newest resolved incident that no open incident precedes."""
    created = [(_when(i.get("created_at")), is_resolved(i)) for i in incidents]
    horizon = min((c for c, done in created if c is not None and not done), default=None)
    settled = [
        c for c, done in created if c is not None and done and (horizon is None or c < horizon)
    ]
    if settled:
        sync.observe(max(settled).isoformat())
