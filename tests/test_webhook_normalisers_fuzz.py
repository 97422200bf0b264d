"""Every webhook normaliser, fed deliveries of arbitrary shape: no exception, nothing lost.

Payloads are random JSON built from the field names the normalisers read, and valid deliveries
of every provider with one part replaced by random JSON (text where an object is expected, lists
where text is, nulls, numbers, nested junk). Each record must end as a signal, a reference or a
quarantine row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import NORMALISERS, normalise
from tests.test_webhook_normalisers_trackers import (
    LINEAR_ISSUE,
    TAGGED,
    _figma_hook,
    _jira_hook,
    _linear_hook,
    _sentry_hook,
)

AT = datetime(2026, 9, 10, 12, tzinfo=UTC)
WEBHOOK_KINDS = sorted((s, k) for s, k in NORMALISERS if k.startswith("webhook:"))
# Field names the webhook normalisers read, so random documents hit real code paths.
FIELDS = [
    "action", "sender", "login", "type", "repository", "full_name", "issue", "number", "title",
    "state", "created_at", "updated_at", "closed_at", "pull_request", "comment", "body", "id",
    "check_run", "status", "conclusion", "started_at", "completed_at", "pull_requests", "ref",
    "after", "deleted", "commits", "message", "head_commit", "timestamp", "pushed_at",
    "object_attributes", "iid", "user", "username", "project", "path_with_namespace",
    "build_id", "build_status", "build_finished_at", "noteable_type", "system", "note",
    "deployment_id", "status_changed_at", "webhookEvent", "changelog", "items", "field",
    "fromString", "toString", "fields", "key", "data", "updatedFrom", "stateId", "createdAt",
    "firstSeen", "comment_id", "file_key", "event_type", "name", "phase",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "2026-09-09T10:00:00Z", "2026-09-09 10:00:00 +0200", "1788948000000",
                     "yesterday", "completed", "open", "merge", "MergeRequest", "COMPLETED",
                     "refs/heads/PLAT-1-x", "0" * 40, "#flowsync ok", "@someone"]),
    st.text(max_size=12),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6)
    ),
    max_leaves=25,
)
DOCUMENTS = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(WEBHOOK_KINDS), min_size=1, max_size=4),
    documents=st.lists(st.one_of(DOCUMENTS, JSON), min_size=1, max_size=6),
)
def test_any_delivery_shape_is_normalised_or_accounted_for(
    kinds: list[tuple[str, str]], documents: list[Any]
):
    frames = []
    for n, payload in enumerate(documents):
        source, kind = kinds[n % len(kinds)]
        record = FetchedRecord(kind, "acme/api", f"d{n}", None, payload, f"delivery:d{n}")
        frames.append(landing_frame(source, [record], fetched_at=AT))
    _assert_each_record_accounted_for(frames)


USER = {"login": "octo-dev", "id": 1, "type": "User"}
GITLAB = {"user": {"username": "gl.dev", "name": "G L"}, "project": {"path_with_namespace": "a/w"}}
# A valid delivery of each provider, by (source, kind).
SEEDS: list[tuple[str, str, dict[str, Any]]] = [
    ("github", "webhook:issues", {"action": "closed", "sender": USER, "issue": {
        "number": 1, "title": "t", "state": "closed", "closed_at": "2026-09-09T10:00:00Z"}}),
    ("github", "webhook:check_run", {"action": "completed", "sender": USER, "check_run": {
        "id": 4, "status": "completed", "conclusion": "success",
        "completed_at": "2026-09-09T10:03:00Z", "pull_requests": [{"number": 8}]}}),
    ("github", "webhook:push", {"ref": "refs/heads/x", "after": "c" * 40, "sender": USER,
        "repository": {"full_name": "acme/api", "pushed_at": 1788948000},
        "commits": [{"id": "c" * 40, "message": "PLAT-1 fix"}]}),
    ("gitlab", "webhook:merge_request", {**GITLAB, "object_attributes": {
        "iid": 4, "action": "merge", "updated_at": "2026-09-09 10:00:00 UTC", "url": "https://g"}}),
    ("gitlab", "webhook:job", {**GITLAB, "build_id": 9, "build_status": "success",
        "build_finished_at": "2026-09-09 10:04:00 UTC"}),
    ("gitlab", "webhook:system_hook", {**GITLAB, "object_kind": "push", "ref": "refs/heads/main",
        "after": "b" * 40}),
    ("jenkins", "webhook:unknown", {"name": "api", "build": {"number": 3, "phase": "COMPLETED",
        "status": "SUCCESS", "timestamp": 1788948000000, "duration": 1000}}),
    ("jira", "webhook:jira_issue_updated", _jira_hook("jira:issue_updated", changelog={"items": [
        {"field": "status", "fromString": "To Do", "toString": "In Progress"}]})),
    ("linear", "webhook:issue", _linear_hook("update", LINEAR_ISSUE,
        updatedFrom={"stateId": "state-todo"})),
    ("sentry", "webhook:issue", _sentry_hook("resolved", {"type": "user", "id": 8, "name": "A"})),
    ("figma", "webhook:file_comment", _figma_hook("c1", TAGGED)),
    ("circleci", "webhook:workflow_completed", {"type": "workflow-completed", "id": "d1",
        "happened_at": "2026-09-09T10:04:00Z", "project": {"slug": "gh/acme/api"},
        "workflow": {"id": "w1", "name": "ci", "status": "success",
                     "stopped_at": "2026-09-09T10:04:00Z"},
        "pipeline": {"number": 3, "trigger": {"type": "webhook", "actor": {"login": "a"}},
                     "vcs": {"revision": "d" * 40, "branch": "pull/4"}}}),
    ("pagerduty", "webhook:incident_acknowledged", {"event": {"id": "e1",
        "event_type": "incident.acknowledged", "occurred_at": "2026-09-09T10:05:00.123Z",
        "agent": {"id": "PU1", "type": "user_reference", "summary": "A"},
        "data": {"id": "Q1", "html_url": "https://acme.pagerduty.com/incidents/Q1",
                 "title": "t", "status": "acknowledged", "service": {"id": "PS1", "summary": "api"},
                 "assignees": [{"id": "PU1", "type": "user_reference", "summary": "A"}]}}}),
]  # fmt: skip


def _replace_somewhere(document: Any, data: st.DataObject) -> Any:
    """``document`` with one value (or the whole of it) replaced by random JSON."""
    if not isinstance(document, dict | list) or not document or data.draw(st.booleans()):
        return data.draw(JSON)
    if isinstance(document, dict):
        key = data.draw(st.sampled_from(sorted(document)))
        return {**document, key: _replace_somewhere(document[key], data)}
    index = data.draw(st.integers(0, len(document) - 1))
    return [*document[:index], _replace_somewhere(document[index], data), *document[index + 1 :]]


def test_every_seed_delivery_gives_an_event():
    for n, (source, kind, payload) in enumerate(SEEDS):
        record = FetchedRecord(kind, "acme/api", f"d{n}", None, payload, f"delivery:d{n}")
        result = normalise(landing_frame(source, [record], fetched_at=AT), pseudonym_key="fuzz")
        assert result.signals.height >= 1, (kind, result.quarantine.to_dicts())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_deliveries_with_a_part_replaced_are_normalised_or_accounted_for(
    data: st.DataObject,
):
    frames = []
    for n in range(data.draw(st.integers(1, 4))):
        source, kind, seed = data.draw(st.sampled_from(SEEDS))
        payload = _replace_somewhere(seed, data)
        record = FetchedRecord(kind, "acme/api", f"d{n}", None, payload, f"delivery:d{n}")
        frames.append(landing_frame(source, [record], fetched_at=AT))
    _assert_each_record_accounted_for(frames)


def _assert_each_record_accounted_for(frames: list[pl.DataFrame]) -> None:
    batch = normalise(pl.concat(frames), pseudonym_key="fuzz")  # together: no exception
    assert batch.unsupported == 0
    assert batch.signals.select(pl.col("occurred_at", "entity_id").null_count()).row(0) == (0, 0)
    # Alone, so that two deliveries of the same event (one event id) cannot stand in for each
    # other: every record leaves a trace.
    for landing in frames:
        result = normalise(landing, pseudonym_key="fuzz")
        accounted = (
            set(result.signals["landing_ref"])
            | set(result.quarantine["landing_ref"])
            | set(result.references["landing_ref"])
        )
        assert accounted == set(landing["landing_ref"])
