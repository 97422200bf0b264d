"""How GitHub records are named: the connector, the webhook drain and conformance use these."""

from __future__ import annotations

import re
from typing import Any

from flowsync_pipelines.sources.spec import RecordIdentity

_PULLS_URL = re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)")
_REPO_URL = re.compile(r"/repos/([^/]+/[^/?#]+)")


def _repo_in(item: dict[str, Any], scope: str, field: str) -> str:
    match = _REPO_URL.search(str(item.get(field) or ""))
    return match.group(1) if match else scope


def _pull(item: dict[str, Any], scope: str) -> dict[str, Any]:
    repo = item["base"]["repo"]["full_name"] if "base" in item else scope
    return {"repo": repo, "number": int(item["number"])}


def _pull_child(item: dict[str, Any], _scope: str) -> dict[str, Any]:
    repo, number = _PULLS_URL.search(item["pull_request_url"]).groups()  # type: ignore[union-attr]
    return {"repo": repo, "number": number, "id": int(item["id"])}


def _issue(item: dict[str, Any], scope: str) -> dict[str, Any]:
    return {"repo": _repo_in(item, scope, "repository_url"), "number": int(item["number"])}


def _check_run(item: dict[str, Any], scope: str) -> dict[str, Any]:
    return {"repo": _repo_in(item, scope, "url"), "id": int(item["id"])}


PULLS = RecordIdentity("{repo}#{number}", fields=_pull)
REVIEWS = RecordIdentity("{repo}#{number}/reviews/{id}", fields=_pull_child)
REVIEW_COMMENTS = RecordIdentity("{repo}#{number}/comments/{id}", fields=_pull_child)
ISSUES = RecordIdentity("{repo}#{number}", fields=_issue)
COMMITS = RecordIdentity("{repo}@{sha}")
CHECK_RUNS = RecordIdentity("{repo}/check-runs/{id}", items_key="check_runs", fields=_check_run)
WORKFLOW_RUNS = RecordIdentity("{repo}/actions/runs/{id}")
DEPLOYMENTS = RecordIdentity("{repo}/deployments/{id}")
DEPLOYMENT_STATUSES = RecordIdentity("{repo}/deployments/{deployment}/statuses/{id}")
RELEASES = RecordIdentity("{repo}/releases/{id}")

RECORDS = {
    "pulls": PULLS,
    "reviews": REVIEWS,
    "review_comments": REVIEW_COMMENTS,
    "issues": ISSUES,
    "commits": COMMITS,
    "check_runs": CHECK_RUNS,
    "workflow_runs": WORKFLOW_RUNS,
    "deployments": DEPLOYMENTS,
    "deployment_statuses": DEPLOYMENT_STATUSES,
    "releases": RELEASES,
}
