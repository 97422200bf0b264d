"""Conformance: every published REST example lands under the right identity; nothing raises.

Reads the directory named by ``FLOWSYNC_CONFORMANCE_CORPUS`` (CI: ``../shared/corpus``), lands
each example as the connector that called its endpoint would, then normalises it: each record
becomes signals or a quarantine row with a reason.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from flowsync_pipelines.landing import LandingStore, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.record_ids import UNKNOWN, identify

OCTO = "octocat/Hello-World"
# File (as published) -> (source, endpoint kind, scope) a connector would have requested.
ENDPOINTS = {
    "github_rest/openapi.pull-request-review-3.dismissed.json": (
        "github",
        "reviews",
        "octocat/Hello-World",
    ),
    "github_rest/openapi.pull-request-review-4.approved.json": (
        "github",
        "reviews",
        "octocat/Hello-World",
    ),
    "github_rest/openapi.pull-request-review-5.changes_requested.json": (
        "github",
        "reviews",
        "octocat/Hello-World",
    ),
    "github_rest/openapi.review-comment-items.json": (
        "github",
        "review_comments",
        "octocat/Hello-World",
    ),
    "gitlab_rest/get_merge_request.json": ("gitlab", "merge_requests", "group/project"),
    "gitlab_rest/get_merge_requests.json": ("gitlab", "merge_requests", "group/project"),
    "gitlab_rest/get_commit.json": ("gitlab", "commits", "group/project"),
    "gitlab_rest/issue_move.json": ("gitlab", "issues", "group/project"),
    "jira/search.get.json": ("jira", "issues", "ED"),
    "jira/issue.get.json": ("jira", "issues", "ED"),
    "jira/agile_board_issues.get.json": ("jira", "issues", "board-1"),
    "jira/agile_sprint_issues.get.json": ("jira", "issues", "board-1"),
    "jira/agile_board_sprints.get.json": ("jira", "sprints", "board-1"),
    "jira/agile_sprint.get.json": ("jira", "sprints", "board-1"),
}
REST_DIRS = ("github_rest", "gitlab_rest", "jira")


@pytest.fixture(scope="module")
def corpus() -> Path:
    named = os.environ.get("FLOWSYNC_CONFORMANCE_CORPUS")
    assert named, "set FLOWSYNC_CONFORMANCE_CORPUS to the corpus directory (CI: ../shared/corpus)"
    path = Path(named)
    assert path.is_dir(), f"FLOWSYNC_CONFORMANCE_CORPUS={named} is not a directory"
    return path


def _examples(corpus: Path) -> list[Path]:
    return sorted(p for d in REST_DIRS for p in (corpus / d).glob("*.json"))


def _endpoint(path: Path, relative: str) -> tuple[str, str, str]:
    return ENDPOINTS.get(relative, (path.parent.name.split("_")[0], UNKNOWN, "corpus"))


def _land(corpus: Path, tmp_path: Path) -> LandingStore:
    store = LandingStore(tmp_path / "landing")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    for path in _examples(corpus):
        relative = path.relative_to(corpus).as_posix()
        source, kind, scope = ENDPOINTS.get(
            relative, (path.parent.name.split("_")[0], UNKNOWN, "corpus")
        )
        body = json.loads(path.read_text(encoding="utf-8"))
        records = identify(source, kind, body, scope=scope, request=f"corpus:{relative}")
        store.append(landing_frame(source, records, fetched_at=at))
    return store


def test_known_rest_examples_land_under_their_real_identities(corpus, tmp_path):
    landed = _land(corpus, tmp_path).latest()
    ids = set(zip(landed.get_column("kind"), landed.get_column("record_id"), strict=True))
    assert ("reviews", "octocat/Hello-World#12/reviews/80") in ids
    assert ("review_comments", "octocat/Hello-World#1/comments/10") in ids
    assert ("issues", "ED-1") in ids
    assert ("issues", "HSP-1") in ids
    assert any(k == "merge_requests" and "!" in r for k, r in ids)
    assert any(k == "sprints" and r.startswith("sprint/") for k, r in ids)
    assert not any(r.startswith("unidentified/") for k, r in ids if k != UNKNOWN)


def test_every_rest_example_becomes_signals_or_quarantine_with_a_reason(corpus, tmp_path):
    store = _land(corpus, tmp_path)
    landed = store.latest()
    result = normalise(landed, pseudonym_key="conformance")
    explained = (
        set(result.quarantine.get_column("landing_ref"))
        | set(result.signals.get_column("landing_ref"))
        | set(result.references.get_column("landing_ref"))
    )
    assert set(landed.get_column("landing_ref")) == explained
    assert result.quarantine.get_column("reason").str.len_chars().min() > 0
    # Every event has a URL to cite (built from repository, keys and ids where none is sent).
    assert result.signals.filter(~pl.col("url").fill_null("").str.starts_with("http")).is_empty()
    # Every event of the published examples is in the declared vocabulary.
    assert not [r for r in result.quarantine.get_column("reason") if "event vocabulary" in r]
    # Every record of every example is in landing (identical versions landed once).
    versions = set(store.scan().select("kind", "record_id").collect().iter_rows())
    for path in _examples(corpus):
        relative = path.relative_to(corpus).as_posix()
        source, kind, scope = _endpoint(path, relative)
        body = json.loads(path.read_text(encoding="utf-8"))
        for record in identify(source, kind, body, scope=scope, request=relative):
            assert (record.kind, record.record_id) in versions, relative
