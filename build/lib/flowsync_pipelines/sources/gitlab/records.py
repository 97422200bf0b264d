"""How GitLab records are named: the connector and conformance use these."""

from __future__ import annotations

import re
from typing import Any

from flowsync_pipelines.sources.spec import RecordIdentity

_PROJECT_PATH = re.compile(r"^https?://[^/]+/(.+?)/-?/?(?:merge_requests|issues)/\d+")


def _project(item: dict[str, Any], scope: str) -> str:
    match = _PROJECT_PATH.match(str(item.get("web_url", "")))
    return match.group(1) if match else scope


MERGE_REQUESTS = RecordIdentity(
    "{project}!{iid}",
    fields=lambda item, scope: {"project": _project(item, scope), "iid": int(item["iid"])},
)
ISSUES = RecordIdentity(
    "{project}#{iid}",
    fields=lambda item, scope: {"project": _project(item, scope), "iid": int(item["iid"])},
)
COMMITS = RecordIdentity(
    "{project}@{sha}", fields=lambda item, scope: {"project": scope, "sha": item["id"]}
)

APPROVALS = RecordIdentity("{project}!{iid}/approvals")
NOTES = RecordIdentity("{project}!{iid}/notes/{id}")
PIPELINES = RecordIdentity("{project}/pipelines/{id}")
JOBS = RecordIdentity("{project}/pipelines/{pipeline}/jobs/{name}")
DEPLOYMENTS = RecordIdentity("{project}/deployments/{id}")

RECORDS = {
    "merge_requests": MERGE_REQUESTS,
    "approvals": APPROVALS,
    "notes": NOTES,
    "pipelines": PIPELINES,
    "jobs": JOBS,
    "deployments": DEPLOYMENTS,
    "issues": ISSUES,
    "commits": COMMITS,
}
