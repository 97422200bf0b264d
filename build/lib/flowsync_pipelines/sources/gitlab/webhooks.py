"""GitLab's webhooks: the secret itself in ``X-Gitlab-Token``, event in ``X-Gitlab-Event``."""

from __future__ import annotations

from typing import Any

from flowsync_pipelines.webhooks.providers import Provider, token_header

GITLAB_EVENTS = frozenset(
    f"{name} Hook"
    for name in (
        "Push", "Tag Push", "Issue", "Confidential Issue", "Note", "Confidential Note",
        "Merge Request", "Wiki Page", "Pipeline", "Job", "Deployment", "Feature Flag", "Release",
        "Emoji", "Milestone", "Resource Access Token", "Member", "Subgroup", "Project",
        "Vulnerability", "System",
    )
)  # fmt: skip


def _scope(document: dict[str, Any]) -> str:
    project = document.get("project")
    if isinstance(project, dict) and isinstance(project.get("path_with_namespace"), str):
        return project["path_with_namespace"]
    return ""


def _slug(slug: str) -> str:
    """``Merge Request Hook`` → ``merge_request``; ``System Hook`` stays ``system_hook``, which
    says more than ``system``."""
    return slug.removesuffix("_hook") if slug != "system_hook" else slug


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    return {
        "X-Gitlab-Token": secret,
        "X-Gitlab-Event": event or "Push Hook",
        "X-Gitlab-Event-UUID": delivery_id,
    }


PROVIDER = Provider(
    route="gitlab",
    source="gitlab",
    authenticate=token_header("X-Gitlab-Token"),
    # Idempotency-Key (GitLab 17.4+) is documented to stay the same across retries.
    delivery_headers=("idempotency-key", "x-gitlab-event-uuid"),
    event_header="x-gitlab-event",
    known_events=GITLAB_EVENTS,
    kept_headers=(
        "x-gitlab-event",
        "x-gitlab-event-uuid",
        "x-gitlab-webhook-uuid",
        "idempotency-key",
        "x-gitlab-instance",
    ),
    scope=_scope,
    event_slug=_slug,
    sign=_sign,
)
