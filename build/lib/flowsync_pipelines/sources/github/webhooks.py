"""GitHub's webhooks: ``X-Hub-Signature-256`` over the body, event in ``X-GitHub-Event``.

Deliveries whose embedded entity the connector also polls land as that polled kind, under the
connector's record id (:mod:`.records`), so a webhook and a poll of one entity version meet in
``signals`` under one event id:

- ``pull_request`` → kind ``pulls``, payload ``body["pull_request"]``;
- ``pull_request_review`` → kind ``reviews``, payload ``body["review"]``;
- ``workflow_run``, ``deployment``, ``deployment_status`` and ``release`` → ``workflow_runs``,
  ``deployments``, ``deployment_statuses`` and ``releases`` likewise (a ``release`` with action
  ``deleted`` is no version of the release: it lands whole); a ``deployment_status`` also lands
  the ``deployment`` it embeds.

``issues`` and ``check_run`` deliveries land whole although the connector polls ``issues`` and
``check_runs``: a delivery says what was done (reopened, labelled…) and by whom, which the
polled snapshot does not; both are normalised by the same rules and give the same event ids.
"""

from __future__ import annotations

from typing import Any

from flowsync_pipelines.sources.github import records
from flowsync_pipelines.webhooks.providers import (
    EntityMapping,
    Provider,
    event_names,
    hex_hmac,
    hmac_signature,
)

GITHUB_EVENTS = event_names("""
    branch_protection_configuration branch_protection_rule check_run check_suite
    code_scanning_alert commit_comment create custom_property custom_property_values delete
    dependabot_alert deploy_key deployment deployment_protection_rule deployment_review
    deployment_status discussion discussion_comment fork github_app_authorization gollum
    installation installation_repositories installation_target issue_comment issues label
    marketplace_purchase member membership merge_group meta milestone org_block organization
    package page_build personal_access_token_request ping project project_card project_column
    projects_v2 projects_v2_item projects_v2_status_update public pull_request
    pull_request_review pull_request_review_comment pull_request_review_thread push
    registry_package release repository repository_advisory repository_dispatch
    repository_import repository_ruleset repository_vulnerability_alert secret_scanning_alert
    secret_scanning_alert_location secret_scanning_scan security_advisory
    security_and_analysis sponsorship star status sub_issues team team_add watch
    workflow_dispatch workflow_job workflow_run
""")


def repository(document: dict[str, Any]) -> str | None:
    """The ``owner/name`` a delivery is about, if it names a repository."""
    repository = document.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) and name else None


def _scope(document: dict[str, Any]) -> str:
    if repo := repository(document):
        return repo
    organization = document.get("organization")
    if isinstance(organization, dict) and isinstance(organization.get("login"), str):
        return organization["login"]
    return ""


def _pull_id(repo: str, pull: dict[str, Any], _document: dict[str, Any]) -> str | None:
    return records.PULLS(repo=repo, number=pull.get("number", pull.get("id")))


def _review_id(repo: str, review: dict[str, Any], document: dict[str, Any]) -> str | None:
    pull = document.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    return (
        None if number is None else records.REVIEWS(repo=repo, number=number, id=review.get("id"))
    )


def _status_id(repo: str, status: dict[str, Any], document: dict[str, Any]) -> str | None:
    deployment = document.get("deployment")
    deployment_id = deployment.get("id") if isinstance(deployment, dict) else None
    if deployment_id is None:
        return None
    return records.DEPLOYMENT_STATUSES(repo=repo, deployment=deployment_id, id=status.get("id"))


def _by_id(identity: Any) -> Any:
    def record_id(repo: str, entity: dict[str, Any], _document: dict[str, Any]) -> str | None:
        return identity(repo=repo, id=entity.get("id"))

    return record_id


ENTITIES = {
    "pull_request": EntityMapping("pulls", "pull_request", _pull_id, ("updated_at",)),
    "pull_request_review": EntityMapping("reviews", "review", _review_id, ("submitted_at",)),
    "workflow_run": EntityMapping(
        "workflow_runs", "workflow_run", _by_id(records.WORKFLOW_RUNS), ("updated_at",)
    ),
    "deployment": EntityMapping(
        "deployments", "deployment", _by_id(records.DEPLOYMENTS), ("updated_at",)
    ),
    "deployment_status": EntityMapping(
        "deployment_statuses", "deployment_status", _status_id, ("updated_at", "created_at")
    ),
    "release": EntityMapping(
        "releases", "release", _by_id(records.RELEASES), ("published_at", "created_at")
    ),
}


def _sign(body: bytes, secret: str, event: str | None, delivery_id: str) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": f"sha256={hex_hmac(secret.encode(), body)}",
        "X-GitHub-Event": event or "ping",
        "X-GitHub-Delivery": delivery_id,
    }


PROVIDER = Provider(
    route="github",
    source="github",
    authenticate=hmac_signature("X-Hub-Signature-256", prefix="sha256="),
    delivery_headers=("x-github-delivery",),
    event_header="x-github-event",
    known_events=GITHUB_EVENTS,
    kept_headers=(
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-id",
        "x-github-hook-installation-target-type",
    ),
    scope=_scope,
    entities=ENTITIES,
    entity_scope=repository,
    # A ``deployment_status`` carries its ``deployment`` (sha, ref, environment, creator), so a
    # hook subscribed to statuses alone still yields the deployment that shipped the sha.
    embedded={"deployment_status": ("deployment",)},
    sign=_sign,
)
