"""Pending deliveries → landing records, with the same provenance columns as polled data.

A delivery whose embedded entity is one FlowSync also polls lands as that kind, with the record
id the connector would give it, so a webhook and a poll of the same entity version meet in
``signals`` under one deterministic event id. Which events do so, and how their records are named,
is the source's webhook provider's to say (``Provider.entities``; GitHub's pull requests, reviews,
runs, deployments and releases, see :mod:`flowsync_pipelines.sources.github.webhooks`).

Every other delivery lands whole as kind ``webhook:<event slug>`` with the delivery id as record
id; ``WEBHOOKS`` in each source's normaliser module turns it into events (kinds with none are
quarantined as unsupported, counted apart from malformed data).

Each record is dated by what it is about: a delivery landed whole gets as ``updated_at`` the time
of the newest event its normaliser reads from it (the receipt time when the payload dates
nothing), an entity landed as a polled kind keeps the entity's own update time. A delivery is
*about* the UTC day of that time, and lands with that day's partition whenever it was received
(:func:`drain` with a window, :func:`about_times` for the sensor).

Records land under the *name* of the source the delivery was sent to (the queue's ``source``),
so a source's polled and pushed records share one landing partition; its type
(``source_type``) picks the provider and names the ``webhook:<slug>`` kinds, and normalisation
routes the name to the type as it does for polled records.

Every record's ``request`` is ``delivery:<delivery id>``, and the queue row keeps the
``landing_ref`` of each record it produced: a signal or quarantine row leads to its landing
record, and that to the delivery. Landing first, queue state second: a crash in between lands the
same versions again on the next drain, which landing's de-duplication absorbs.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.citations import SourceRoute
from flowsync_pipelines.gdpr import scrub_erased
from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.webhooks.providers import Provider, event_kind, provider_for_source
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
    # Landed under the source's name; read by its type's provider and normalisers.
    types = {d.source: d.source_type for d in batch}
    for source in sorted(types):
        records: list[FetchedRecord] = []
        received: list[datetime] = []
        provider = provider_for_source(types[source])
        for delivery in (d for d in batch if d.source == source):
            try:
                produced = landing_records(delivery)
            except ValueError as err:
                quarantined[delivery.id] = str(err)
                continue
            records += produced
            received += [delivery.received_at] * len(produced)
            owners += [delivery.id] * len(produced)
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
    frame = _dated_by_events(frame, {name: SourceRoute(t, None) for name, t in types.items()})
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


def _dated_by_events(frame: pl.DataFrame, sources: dict[str, SourceRoute]) -> pl.DataFrame:
    """Deliveries landed whole get ``updated_at`` = the newest event their normaliser reads.

    Until now their ``updated_at`` is the receipt time, which the webhook normalisers use for
    events the payload does not date; those events keep it (it is the newest time then), and a
    record is never dated before any of its events, so a day's ``signals`` still reads it.
    """
    whole = frame.filter(pl.col("kind").str.starts_with(WHOLE_DELIVERY))
    if whole.is_empty():
        return frame
    newest = (
        normalise(whole, pseudonym_key=_EVENT_TIME_KEY, sources=sources)
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
    provider = provider_for_source(delivery.source_type)
    mapped = _entity(provider, delivery, document) if provider is not None else None
    if mapped is not None:
        embedded = (
            _entity(provider, replace(delivery, event_type=event), document)
            for event in provider.embedded.get(delivery.event_type, ())
        )
        return [mapped, *(record for record in embedded if record is not None)]
    if provider is not None and provider.landed_document is not None:
        document = provider.landed_document(document)
    scope = provider.scope(document) if provider is not None and provider.scope else ""
    return [
        FetchedRecord(
            kind=event_kind(delivery.source_type, delivery.event_type),
            scope=scope,
            record_id=delivery.delivery_id,
            updated_at=delivery.received_at.isoformat(),
            payload=document,
            request=f"delivery:{delivery.delivery_id}",
        )
    ]


def _entity(
    provider: Provider, delivery: StoredDelivery, document: dict[str, Any]
) -> FetchedRecord | None:
    """The delivery's embedded entity as the record its polling connector lands, if it is one."""
    mapping = provider.entities.get(delivery.event_type)
    scope = provider.entity_scope(document) if provider.entity_scope else None
    entity = document.get(mapping.entity_field) if mapping else None
    if mapping is None or scope is None or not isinstance(entity, dict):
        return None
    record_id = mapping.record_id(scope, entity, document)
    if record_id is None:
        return None
    if document.get("action") == "deleted":
        return None  # not a version of the entity: the whole delivery lands, saying "deleted"
    updated_at = next((entity[f] for f in mapping.updated_at_fields if entity.get(f)), None)
    return FetchedRecord(
        kind=mapping.kind,
        scope=scope,
        record_id=record_id,
        updated_at=updated_at,
        payload=entity,
        request=f"delivery:{delivery.delivery_id}",
    )
