"""Pending deliveries → landing records, with the same provenance columns as polled data.

A delivery whose embedded entity is one FlowSync also polls lands as that kind, with the record
id the connector would give it, so a webhook and a poll of the same entity version meet in
``signals`` under one deterministic event id:

- GitHub ``pull_request`` → kind ``pulls``, payload ``body["pull_request"]``, record id
  ``<repo full_name>#<number>`` (as :mod:`resources.github` lands them);
- GitHub ``pull_request_review`` → kind ``reviews``, payload ``body["review"]``, record id
  ``<repo>#<number>/reviews/<review id>``;
- GitHub ``workflow_run``, ``deployment``, ``deployment_status`` and ``release`` → the kinds
  ``workflow_runs``, ``deployments``, ``deployment_statuses`` and ``releases`` likewise (a
  ``release`` with action ``deleted`` is no version of the release: it lands whole); a
  ``deployment_status`` also lands the ``deployment`` it embeds (``GITHUB_EMBEDDED``).

Every other delivery lands whole as kind ``webhook:<event slug>`` with the delivery id as record
id; ``WEBHOOKS`` in each source's normaliser module turns it into events (kinds with none are
quarantined as unsupported, counted apart from malformed data). GitHub ``issues`` and
``check_run`` deliveries land whole although the connector polls ``issues`` and ``check_runs``:
a delivery says what was done (reopened, labelled…) and by whom, which the polled snapshot does
not; the polled kinds are normalised by the same rules, so both give the same event ids. Jira
issue events are *not* mapped to ``issues``: their issue has no changelog, and as the newest
version it would hide the polled one's transitions.

Each record is dated by what it is about: a delivery landed whole gets as ``updated_at`` the time
of the newest event its normaliser reads from it (the receipt time when the payload dates
nothing), an entity landed as a polled kind keeps the entity's own update time. A delivery is
*about* the UTC day of that time, and lands with that day's partition whenever it was received
(:func:`drain` with a window, :func:`about_times` for the sensor).

Every record's ``request`` is ``delivery:<delivery id>``, and the queue row keeps the
``landing_ref`` of each record it produced: a signal or quarantine row leads to its landing
record, and that to the delivery. Landing first, queue state second: a crash in between lands the
same versions again on the next drain, which landing's de-duplication absorbs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.gdpr import scrub_erased
from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.normalise.figma import TAG as FIGMA_TAG
from flowsync_pipelines.webhooks.providers import PROVIDERS_BY_SOURCE, event_kind
from flowsync_pipelines.webhooks.queue import DeliveryQueue, StoredDelivery

DRAIN_BATCH = 1000
# Event times are read by normalising a delivery's records; the pseudonyms that computes with this
# key are thrown away (a time does not depend on the key, and nothing computed here is stored).
_EVENT_TIME_KEY = "flowsync-drain-event-times-only"
WHOLE_DELIVERY = "webhook:"  # kind prefix of deliveries landed whole, one record per delivery


@dataclass
class DrainReport:
    """What one drain did; the asset returns it as metadata."""

    deliveries: int = 0
    records: int = 0
    new_versions: int = 0
    quarantined: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    unknown_events: Counter[str] = field(default_factory=Counter)  # "<source>:<event>"
    # Deliveries landed per UTC day they are about (see :func:`about_times`).
    days: Counter[str] = field(default_factory=Counter)
    # Pending deliveries looked at and left for another window: count per day they are about.
    left_pending: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "records": self.records,
            "new_versions": self.new_versions,
            "quarantined": self.quarantined,
            "by_kind": dict(sorted(self.by_kind.items())),
            "unknown_events": dict(sorted(self.unknown_events.items())),
            "days": dict(sorted(self.days.items())),
            "left_pending": dict(sorted(self.left_pending.items())),
        }


def drain(
    queue: DeliveryQueue,
    landing: LandingStore,
    *,
    about_from: datetime | None = None,
    about_before: datetime | None = None,
    received_from: datetime | None = None,
    batch_size: int = DRAIN_BATCH,
) -> DrainReport:
    """Land every pending delivery (about the window, when one is given).

    A delivery is *about* the time of the newest event it holds (:func:`about_times`); the
    ``webhook_landing`` partition of a day lands the deliveries about that day, whenever they
    were received. Deliveries about other times stay pending for their own day's run.

    Args:
        queue: the webhook queue to read.
        landing: where records are appended (de-duplicated by record version).
        about_from: only deliveries about this time or later.
        about_before: only deliveries about a time before this one.
        received_from: look only at deliveries received at or after this time (a delivery is
            received after what it is about, so a window's drain need not read older ones).
        batch_size: deliveries per landing write and queue update.

    Returns:
        counts of deliveries, records, new versions and quarantined deliveries, by kind and by
        the day they are about.
    """
    report = DrainReport()
    after_id = 0
    while True:
        batch = queue.pending(after_id=after_id, limit=batch_size, received_from=received_from)
        if not batch:
            return report
        after_id = batch[-1].id
        built = build_records(queue, batch, scrub=True)
        keep = {
            delivery_id
            for delivery_id, about in built.about.items()
            if (about_from is None or about >= about_from)
            and (about_before is None or about < about_before)
        }
        for delivery_id, about in built.about.items():
            if delivery_id not in keep:
                report.left_pending[_day(about)] += 1
        _land(queue, landing, built.only(keep), report)


def about_times(queue: DeliveryQueue, deliveries: list[StoredDelivery]) -> dict[int, datetime]:
    """When each delivery's content happened, by queue id: what the sensor groups runs by.

    That is the newest ``updated_at`` of the landing records it becomes: for a delivery landed
    whole, the time of the newest event its normaliser reads from it (a Jira ``timestamp``, a
    GitHub push's head commit, a Sentry issue's ``lastSeen``…), else the time it was received;
    for a GitHub entity landed as a polled kind, the entity's own ``updated_at`` (or the like).
    A quarantined delivery is about the time it was received.
    """
    return build_records(queue, deliveries, scrub=False).about


@dataclass
class BuiltRecords:
    """Landing rows for a batch of deliveries, not yet written."""

    frame: pl.DataFrame  # LANDING rows; ``updated_at`` is the event time (see about_times)
    owners: list[int]  # queue id of each row, in frame order
    quarantined: dict[int, str]  # queue id → why it cannot be landed
    about: dict[int, datetime]  # queue id → the time the delivery is about
    unknown_events: dict[int, str]  # queue id → "<source>:<event>" no provider knows
    deliveries: list[int]

    def only(self, keep: set[int]) -> BuiltRecords:
        """The part of this batch that belongs to the deliveries in ``keep``."""
        if not self.owners:
            rows = self.frame
        else:
            mask = pl.Series([owner in keep for owner in self.owners], dtype=pl.Boolean)
            rows = self.frame.filter(mask)
        return BuiltRecords(
            frame=rows,
            owners=[owner for owner in self.owners if owner in keep],
            quarantined={i: r for i, r in self.quarantined.items() if i in keep},
            about={i: t for i, t in self.about.items() if i in keep},
            unknown_events={i: e for i, e in self.unknown_events.items() if i in keep},
            deliveries=[i for i in self.deliveries if i in keep],
        )


def build_records(
    queue: DeliveryQueue, batch: list[StoredDelivery], *, scrub: bool
) -> BuiltRecords:
    """The landing rows ``batch`` becomes, each dated by its own event time.

    Args:
        queue: the queue the deliveries came from (its engine knows who was erased).
        batch: the deliveries.
        scrub: scrub erased people's identifiers, as everything landed must be; times do not
            depend on it, so a caller that only wants :attr:`BuiltRecords.about` may skip it.
    """
    frames: list[pl.DataFrame] = []
    owners: list[int] = []
    quarantined: dict[int, str] = {}
    unknown: dict[int, str] = {}
    for source in sorted({d.source for d in batch}):
        records: list[FetchedRecord] = []
        received: list[datetime] = []
        for delivery in (d for d in batch if d.source == source):
            try:
                produced = landing_records(delivery)
            except ValueError as err:
                quarantined[delivery.id] = str(err)
                continue
            records += produced
            received += [delivery.received_at] * len(produced)
            owners += [delivery.id] * len(produced)
            provider = PROVIDERS_BY_SOURCE.get(source)
            if provider is not None and not provider.is_known(delivery.event_type):
                unknown[delivery.id] = f"{source}:{delivery.event_type}"
        if records:
            frame = landing_frame(source, records, fetched_at=datetime.now(UTC))
            # Provenance: a pushed record was "fetched" when the tool delivered it.
            fetched_at = pl.Series("fetched_at", received, dtype=pl.Datetime("us", "UTC"))
            frames.append(frame.with_columns(fetched_at))
    frame = pl.concat(frames) if frames else schema.empty(schema.LANDING)
    if scrub and frames:
        # Erased people stay erased: a delivery naming them lands scrubbed, as polled data does.
        frame = scrub_erased(frame, queue.engine)
    frame = _dated_by_events(frame)
    about: dict[int, datetime] = {d.id: d.received_at for d in batch if d.id in quarantined}
    times = frame.select(pl.coalesce("updated_at", "fetched_at")).to_series().to_list()
    for owner, moment in zip(owners, times, strict=True):
        about[owner] = max(about[owner], moment) if owner in about else moment
    return BuiltRecords(frame, owners, quarantined, about, unknown, [d.id for d in batch])


def _payload_time() -> pl.Expr:
    """The time a delivery that holds no event says it is about (a Jira update that only moved
    a ticket between sprints, say): Jira's epoch-millisecond ``timestamp``, else the issue's
    ``fields.updated``."""
    millis = pl.col("payload").str.json_path_match("$.timestamp").cast(pl.Int64, strict=False)
    updated = pl.col("payload").str.json_path_match("$.issue.fields.updated")
    return pl.coalesce(
        pl.when(millis > 10**11).then(
            pl.from_epoch(millis, time_unit="ms").dt.replace_time_zone("UTC")
        ),
        updated.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False).dt.convert_time_zone("UTC"),
    ).cast(pl.Datetime("us", "UTC"))


def _dated_by_events(frame: pl.DataFrame) -> pl.DataFrame:
    """Deliveries landed whole get ``updated_at`` = the newest event their normaliser reads.

    Until now their ``updated_at`` is the receipt time, which the webhook normalisers use for
    events the payload does not date; those events keep it (it is the newest time then), and a
    record is never dated before any of its events, so a day's ``signals`` still reads it.
    """
    whole = frame.filter(pl.col("kind").str.starts_with(WHOLE_DELIVERY))
    if whole.is_empty():
        return frame
    newest = (
        normalise(whole, pseudonym_key=_EVENT_TIME_KEY)
        .signals.group_by("landing_ref")
        .agg(pl.col("occurred_at").max().alias("_event_time"))
    )
    return (
        frame.join(newest, on="landing_ref", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("kind").str.starts_with(WHOLE_DELIVERY))
            .then(pl.coalesce("_event_time", _payload_time(), "updated_at"))
            .otherwise("updated_at")
            .cast(pl.Datetime("us", "UTC"))
            .alias("updated_at")
        )
        .drop("_event_time")
    )


def _land(
    queue: DeliveryQueue, landing: LandingStore, built: BuiltRecords, report: DrainReport
) -> None:
    refs: dict[int, list[str]] = {}
    if not built.frame.is_empty():
        new = landing.append(built.frame)
        report.records += built.frame.height
        report.new_versions += new.height
        report.by_kind.update(built.frame.get_column("kind").to_list())
        refs_column = built.frame.get_column("landing_ref").to_list()
        for owner, ref in zip(built.owners, refs_column, strict=True):
            refs.setdefault(owner, []).append(ref)
    now = datetime.now(UTC)
    queue.mark_landed(refs, at=now)
    queue.mark_quarantined(built.quarantined, at=now)
    report.unknown_events.update(built.unknown_events.values())
    report.deliveries += len(built.deliveries)
    report.quarantined += len(built.quarantined)
    report.days.update(_day(built.about[i]) for i in built.deliveries if i in built.about)


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def landing_records(delivery: StoredDelivery) -> list[FetchedRecord]:
    """The landing records one delivery becomes (usually one).

    Raises:
        ValueError: the body is not a JSON object (the gateway quarantines those on arrival, so
            this only happens to rows written by something else).
    """
    try:
        document = json.loads(delivery.body)
    except ValueError as err:
        raise ValueError(f"body is not valid JSON: {err}") from err
    if not isinstance(document, dict):
        raise ValueError(f"body is JSON but a {type(document).__name__}, not an object")
    mapped = _github_entity(delivery, document) if delivery.source == "github" else None
    if mapped is not None:
        embedded = (
            _github_entity(replace(delivery, event_type=event), document)
            for event in GITHUB_EMBEDDED.get(delivery.event_type, ())
        )
        return [mapped, *(record for record in embedded if record is not None)]
    if delivery.source == "figma" and not _tagged_figma_comment(document):
        document = _untagged_stub(document)
    return [
        FetchedRecord(
            kind=event_kind(delivery.source, delivery.event_type),
            scope=_scope(delivery.source, document),
            record_id=delivery.delivery_id,
            updated_at=delivery.received_at.isoformat(),
            payload=document,
            request=f"delivery:{delivery.delivery_id}",
        )
    ]


def _tagged_figma_comment(document: dict[str, Any]) -> bool:
    """Whether a Figma delivery is other than a comment, or a comment carrying the tag."""
    if document.get("event_type") != "FILE_COMMENT":
        return True
    fragments = document.get("comment")
    text = "".join(
        f["text"] for f in fragments or [] if isinstance(f, dict) and isinstance(f.get("text"), str)
    )
    return re.search(FIGMA_TAG, text) is not None


def _untagged_stub(document: dict[str, Any]) -> dict[str, Any]:
    """What the Figma connector lands of a comment without the tag: that it exists, not what it
    says or who wrote it (people's design chatter is not FlowSync's to keep)."""
    kept = ("event_type", "file_key", "comment_id", "timestamp", "webhook_id")
    return {**{k: document[k] for k in kept if k in document}, "untagged": True}


def _github_repo(document: dict[str, Any]) -> str | None:
    repository = document.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) and name else None


RecordId = Callable[[str, dict[str, Any], dict[str, Any]], str | None]


@dataclass(frozen=True)
class EntityMapping:
    """How a webhook event's embedded entity becomes the record a polling connector lands.

    ``record_id`` gets the repository, the entity and the whole body, and returns None when the
    body lacks what it needs (the delivery then lands whole, as ``webhook:<event>``).
    """

    kind: str
    entity_field: str
    record_id: RecordId
    updated_at_fields: tuple[str, ...]  # the entity's first non-null one is its update time


def _pull_id(repo: str, pull: dict[str, Any], _document: dict[str, Any]) -> str | None:
    return f"{repo}#{pull.get('number', pull.get('id'))}"


def _review_id(repo: str, review: dict[str, Any], document: dict[str, Any]) -> str | None:
    pull = document.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    return None if number is None else f"{repo}#{number}/reviews/{review.get('id')}"


def _status_id(repo: str, status: dict[str, Any], document: dict[str, Any]) -> str | None:
    deployment = document.get("deployment")
    deployment_id = deployment.get("id") if isinstance(deployment, dict) else None
    if deployment_id is None:
        return None
    return f"{repo}/deployments/{deployment_id}/statuses/{status.get('id')}"


def _under(path: str) -> RecordId:
    """``<repo>/<path>/<entity id>``, the shape of most GitHub record ids."""

    def record_id(repo: str, entity: dict[str, Any], _document: dict[str, Any]) -> str | None:
        return f"{repo}/{path}/{entity.get('id')}"

    return record_id


# The record ids resources/github.py gives the same entities when it polls them.
GITHUB_ENTITIES: dict[str, EntityMapping] = {
    "pull_request": EntityMapping("pulls", "pull_request", _pull_id, ("updated_at",)),
    "pull_request_review": EntityMapping("reviews", "review", _review_id, ("submitted_at",)),
    "workflow_run": EntityMapping(
        "workflow_runs", "workflow_run", _under("actions/runs"), ("updated_at",)
    ),
    "deployment": EntityMapping(
        "deployments", "deployment", _under("deployments"), ("updated_at",)
    ),
    "deployment_status": EntityMapping(
        "deployment_statuses", "deployment_status", _status_id, ("updated_at", "created_at")
    ),
    "release": EntityMapping(
        "releases", "release", _under("releases"), ("published_at", "created_at")
    ),
}


# Entities a delivery embeds besides its own, landed as their polled kinds too: a
# ``deployment_status`` carries its ``deployment`` (sha, ref, environment, creator), so a hook
# subscribed to statuses alone still yields the deployment that shipped the sha.
GITHUB_EMBEDDED: dict[str, tuple[str, ...]] = {"deployment_status": ("deployment",)}


def _github_entity(delivery: StoredDelivery, document: dict[str, Any]) -> FetchedRecord | None:
    mapping = GITHUB_ENTITIES.get(delivery.event_type)
    repo = _github_repo(document)
    entity = document.get(mapping.entity_field) if mapping else None
    if mapping is None or repo is None or not isinstance(entity, dict):
        return None
    record_id = mapping.record_id(repo, entity, document)
    if record_id is None:
        return None
    if document.get("action") == "deleted":
        return None  # not a version of the entity: the whole delivery lands, saying "deleted"
    updated_at = next((entity[f] for f in mapping.updated_at_fields if entity.get(f)), None)
    return FetchedRecord(
        kind=mapping.kind,
        scope=repo,
        record_id=record_id,
        updated_at=updated_at,
        payload=entity,
        request=f"delivery:{delivery.delivery_id}",
    )


def _scope(source: str, document: dict[str, Any]) -> str:
    """Where in the tool the event happened, as the polling connectors name scopes."""
    if source == "github":
        if repo := _github_repo(document):
            return repo
        organization = document.get("organization")
        if isinstance(organization, dict) and isinstance(organization.get("login"), str):
            return organization["login"]
    if source == "gitlab":
        project = document.get("project")
        if isinstance(project, dict) and isinstance(project.get("path_with_namespace"), str):
            return project["path_with_namespace"]
    if source == "jira":
        issue = document.get("issue")
        fields = issue.get("fields") if isinstance(issue, dict) else None
        project = fields.get("project") if isinstance(fields, dict) else None
        if isinstance(project, dict) and isinstance(project.get("key"), str):
            return project["key"]
    if source == "circleci":
        project = document.get("project")
        if isinstance(project, dict) and isinstance(project.get("slug"), str):
            return project["slug"]
    return ""
