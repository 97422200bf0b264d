"""How Jira records are named: the connector and conformance use these."""

from __future__ import annotations

from typing import Any

from flowsync_pipelines.sources.spec import RecordIdentity


def _issue(item: dict[str, Any], _scope: str) -> dict[str, Any]:
    key = item["key"]
    if not isinstance(key, str) or "-" not in key:
        raise ValueError("not an issue key")
    return {"key": key}


ISSUES = RecordIdentity("{key}", items_key="issues", fields=_issue)
SPRINTS = RecordIdentity(
    "sprint/{id}", items_key="values", fields=lambda item, _scope: {"id": item["id"]}
)
EPICS = RecordIdentity("{key}")

RECORDS = {"issues": ISSUES, "sprints": SPRINTS, "epics": EPICS}
