"""Which records a REST response holds, and the identity each one lands under.

Connectors know which endpoint they called; given that (``source``, ``kind``) and the response
body, :func:`identify` finds the items and names each one the way landing de-duplicates on. An
item of a known kind that lacks its identifying fields still lands (under a content-derived id)
so that normalisation can quarantine it with a reason; a body of no known kind lands whole as
kind ``unknown``. Nothing is dropped and nothing raises.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from flowsync_pipelines.landing import FetchedRecord, canonical_json

UNKNOWN = "unknown"
_PULLS_URL = re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)")
_REPO_URL = re.compile(r"/repos/([^/]+/[^/?#]+)")
_GITLAB_PATH = re.compile(r"^https?://[^/]+/(.+?)/-?/?(?:merge_requests|issues)/\d+")


def _github_pull(item: dict, scope: str) -> str:
    return f"{item['base']['repo']['full_name'] if 'base' in item else scope}#{int(item['number'])}"


def _github_child(collection: str) -> Callable[[dict, str], str]:
    def record_id(item: dict, scope: str) -> str:
        repo, number = _PULLS_URL.search(item["pull_request_url"]).groups()  # type: ignore[union-attr]
        return f"{repo}#{number}/{collection}/{int(item['id'])}"

    return record_id


def _github_repo(item: dict, scope: str, field: str) -> str:
    match = _REPO_URL.search(str(item.get(field) or ""))
    return match.group(1) if match else scope


def _github_issue(item: dict, scope: str) -> str:
    return f"{_github_repo(item, scope, 'repository_url')}#{int(item['number'])}"


def _github_check_run(item: dict, scope: str) -> str:
    return f"{_github_repo(item, scope, 'url')}/check-runs/{int(item['id'])}"


def _gitlab_path(item: dict, scope: str) -> str:
    match = _GITLAB_PATH.match(str(item.get("web_url", "")))
    return match.group(1) if match else scope


def _gitlab_mr(item: dict, scope: str) -> str:
    return f"{_gitlab_path(item, scope)}!{int(item['iid'])}"


def _gitlab_issue(item: dict, scope: str) -> str:
    return f"{_gitlab_path(item, scope)}#{int(item['iid'])}"


def _gitlab_commit(item: dict, scope: str) -> str:
    return f"{scope}@{item['id']}"


def _jira_issue(item: dict, scope: str) -> str:
    key = item["key"]
    if not isinstance(key, str) or "-" not in key:
        raise ValueError("not an issue key")
    return key


def _by_id(prefix: str = "") -> Callable[[dict, str], str]:
    return lambda item, scope: f"{prefix}{item['id']}"


# (source, kind) -> (key of the item list in a page body or None, record id of one item)
RULES: dict[tuple[str, str], tuple[str | None, Callable[[dict, str], str]]] = {
    ("github", "pulls"): (None, _github_pull),
    ("github", "reviews"): (None, _github_child("reviews")),
    ("github", "review_comments"): (None, _github_child("comments")),
    ("github", "issues"): (None, _github_issue),
    ("github", "check_runs"): ("check_runs", _github_check_run),
    ("gitlab", "merge_requests"): (None, _gitlab_mr),
    ("gitlab", "issues"): (None, _gitlab_issue),
    ("gitlab", "commits"): (None, _gitlab_commit),
    ("jira", "issues"): ("issues", _jira_issue),
    ("jira", "sprints"): ("values", _by_id("sprint/")),
}


def identify(
    source: str, kind: str, body: Any, *, scope: str, request: str, updated_field: str = ""
) -> list[FetchedRecord]:
    """The records in one response ``body`` of endpoint ``kind`` (a list, a page or one item)."""
    rule = RULES.get((source, kind))
    if rule is None:
        return [FetchedRecord(UNKNOWN, scope, f"{kind}/{_digest(body)}", None, body, request)]
    items_key, record_id = rule
    if isinstance(body, list):
        items = body
    elif isinstance(body, dict) and items_key and isinstance(body.get(items_key), list):
        items = body[items_key]
    else:
        items = [body]
    records = []
    for item in items:
        try:
            identity = record_id(item, scope)
        except (KeyError, TypeError, ValueError, AttributeError):
            identity = f"unidentified/{_digest(item)}"
        updated = _updated_at(item, updated_field)
        records.append(FetchedRecord(kind, scope, identity, updated, item, request))
    return records


def _updated_at(item: Any, field: str) -> str | None:
    if not isinstance(item, dict):
        return None
    for name in (field, "updated_at", "submitted_at", "created_at"):
        if name and isinstance(item.get(name), str):
            return item[name]
    fields = item.get("fields")
    if isinstance(fields, dict) and isinstance(fields.get("updated"), str):
        return fields["updated"]
    return None


def _digest(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]
