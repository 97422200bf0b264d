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
quarantined as unsupported, counted apart from malformed data). Jira issue events are *not*
mapped to ``issues``: their issue has no changelog, and as the newest version it would hide the
polled one's transitions.

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

from flowsync_pipelines.gdpr import scrub_erased
from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.normalise.figma import TAG as FIGMA_TAG
from flowsync_pipelines.webhooks.providers import PROVIDERS_BY_SOURCE, event_kind
from flowsync_pipelines.webhooks.queue import DeliveryQueue, StoredDelivery

DRAIN_BATCH = 1000


@dataclass
class DrainReport:
    """What one drain did; the asset returns it as metadata."""

    deliveries: int = 0
    records: int = 0
    new_versions: int = 0
    quarantined: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    unknown_events: Counter[str] = field(default_factory=Counter)  # "<source>:<event>"

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "records": self.records,
            "new_versions": self.new_versions,
            "quarantined": self.quarantined,
            "by_kind": dict(sorted(self.by_kind.items())),
            "unknown_events": dict(sorted(self.unknown_events.items())),
        }


def drain(
    queue: DeliveryQueue,
    landing: LandingStore,
    *,
    received_from: datetime | None = None,
    received_before: datetime | None = None,
    batch_size: int = DRAIN_BATCH,
) -> DrainReport:
    """Land every pending delivery (received in the window, when one is given).

    Args:
        queue: the webhook queue to read.
        landing: where records are appended (de-duplicated by record version).
        received_from: only deliveries received at or after this time.
        received_before: only deliveries received before this time.
        batch_size: deliveries per landing write and queue update.

    Returns:
        counts of deliveries, records, new versions and quarantined deliveries, by kind.
    """
    report = DrainReport()
    after_id = 0
    while True:
        batch = queue.pending(
            after_id=after_id,
            limit=batch_size,
            received_from=received_from,
            received_before=received_before,
        )
        if not batch:
            return report
        after_id = batch[-1].id
        _drain_batch(queue, landing, batch, report)


def _drain_batch(
    queue: DeliveryQueue, landing: LandingStore, batch: list[StoredDelivery], report: DrainReport
) -> None:
    frames: list[pl.DataFrame] = []
    owners: list[int] = []  # queue id of each landing row, in frame order
    quarantined: dict[int, str] = {}
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
                report.unknown_events[f"{source}:{delivery.event_type}"] += 1
        if records:
            frame = landing_frame(source, records, fetched_at=datetime.now(UTC))
            # Provenance: a pushed record was "fetched" when the tool delivered it.
            fetched_at = pl.Series("fetched_at", received, dtype=pl.Datetime("us", "UTC"))
            frames.append(frame.with_columns(fetched_at))
    refs: dict[int, list[str]] = {}
    if frames:
        # Erased people stay erased: a delivery naming them lands scrubbed, as polled data does.
        frame = scrub_erased(pl.concat(frames), queue.engine)
        new = landing.append(frame)
        report.records += frame.height
        report.new_versions += new.height
        report.by_kind.update(frame.get_column("kind").to_list())
        for owner, ref in zip(owners, frame.get_column("landing_ref").to_list(), strict=True):
            refs.setdefault(owner, []).append(ref)
    now = datetime.now(UTC)
    queue.mark_landed(refs, at=now)
    queue.mark_quarantined(quarantined, at=now)
    report.deliveries += len(batch)
    report.quarantined += len(quarantined)


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
    return ""
