"""What each tool's webhooks look like: how they authenticate, name events and identify deliveries.

Every comparison with a secret is constant-time (:func:`hmac.compare_digest`) and a source may
hold several secrets at once, so a secret can be rotated without losing deliveries. Reasons for a
rejection name the header or field that was wrong, never a secret or a computed digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.pagerduty import webhooks as pagerduty

# Tools' ids are short (UUIDs, GUIDs); anything longer is hashed so the column stays bounded.
MAX_DELIVERY_ID_CHARS = 200
MAX_EVENT_TYPE_CHARS = 200
UNKNOWN_EVENT = "unknown"
# How far Linear's ``webhookTimestamp`` may be from our clock before a delivery counts as replayed.
LINEAR_TOLERANCE_S = 60.0


@dataclass(frozen=True)
class Inbound:
    """A request as the gateway saw it: lower-case headers and the raw body.

    The body is decoded only when first asked for, so a provider that signs the raw bytes
    rejects a forged request before spending any time parsing it.
    """

    headers: Mapping[str, str]
    body: bytes
    received_epoch_s: float

    @cached_property
    def decoded(self) -> tuple[Any, str | None]:
        """The JSON document (None if undecodable) and why it cannot be stored as-is, if so."""
        try:
            document = json.loads(self.body)
        except RecursionError:
            return None, "body is JSON nested too deeply to decode"
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError alike
            return None, f"body is not valid JSON: {err}"
        if not isinstance(document, dict):
            return document, f"body is JSON but a {type(document).__name__}, not an object"
        return document, None

    @property
    def document(self) -> Any:
        """The decoded JSON body; None when the body is not JSON."""
        return self.decoded[0]


# None when the request is authentic; otherwise the reason, fit to show the sender.
Authenticator = Callable[[Inbound, Sequence[bytes]], str | None]


@dataclass(frozen=True)
class Provider:
    """One tool's webhook dialect, served at ``POST /webhooks/<route>``."""

    route: str
    source: str  # the flowsync.yaml source type, and the landing ``source`` of its records
    authenticate: Authenticator
    delivery_headers: tuple[str, ...]  # first one present identifies the delivery
    delivery_field: str | None = None  # JSON field identifying it, if no header does
    event_header: str | None = None
    event_field: str | None = None  # JSON field naming the event, if no header does
    # (a field is top-level, or a dotted path into objects: ``event.event_type``)
    known_events: frozenset[str] | None = None  # None: the tool has no fixed vocabulary
    kept_headers: tuple[str, ...] = ()  # headers worth storing; never a signature or a token
    secret_fields: tuple[str, ...] = ()  # body fields that carry the shared secret itself

    def event_type(self, inbound: Inbound) -> str:
        """The event name as the tool spells it, or ``unknown`` when the tool named none."""
        name = inbound.headers.get(self.event_header) if self.event_header else None
        if not name and self.event_field:
            value = _field(inbound.document, self.event_field)
            name = value if isinstance(value, str) else None
        return (name or UNKNOWN_EVENT).strip()[:MAX_EVENT_TYPE_CHARS] or UNKNOWN_EVENT

    def is_known(self, event_type: str) -> bool:
        """Whether the tool documents this event; unknown ones are stored and reported."""
        if event_type == UNKNOWN_EVENT:
            return False
        return self.known_events is None or event_type in self.known_events

    def delivery_id(self, inbound: Inbound) -> str:
        """The tool's delivery id, else ``sha256:<hex>`` of source and body.

        The fallback makes a byte-identical redelivery from a tool without ids a duplicate, which
        is the best any receiver can do for such a tool.
        """
        candidates = [inbound.headers.get(header, "") for header in self.delivery_headers]
        if self.delivery_field:
            value = _field(inbound.document, self.delivery_field)
            candidates.append(value if isinstance(value, str) else "")
        for candidate in candidates:
            value = candidate.strip()
            if value:
                if len(value) > MAX_DELIVERY_ID_CHARS or not value.isprintable():
                    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
                return value
        digest = hashlib.sha256(self.source.encode() + b"\n" + inbound.body).hexdigest()
        return f"sha256:{digest}"

    def stored_headers(self, inbound: Inbound) -> dict[str, str]:
        """The headers kept with the delivery: content type, user agent and the tool's ids."""
        wanted = ("content-type", "user-agent", *self.kept_headers)
        return {name: inbound.headers[name] for name in wanted if name in inbound.headers}


def _field(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a JSON document; None when any step is missing."""
    for name in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


def event_kind(source: str, event_type: str) -> str:
    """The landing kind of a delivery that matches no polled kind: ``webhook:<slug>``.

    Slugs are lower-case ``[a-z0-9_]`` so they are safe as a Hive partition directory; GitLab's
    ``Merge Request Hook`` becomes ``merge_request`` (its ``System Hook`` stays ``system_hook``,
    which says more than ``system``).
    """
    slug = re.sub(r"[^a-z0-9]+", "_", event_type.lower()).strip("_") or UNKNOWN_EVENT
    if source == "gitlab" and slug.endswith("_hook") and slug != "system_hook":
        slug = slug.removesuffix("_hook")
    return f"webhook:{slug}"


# -- authenticators ------------------------------------------------------------------------------
def _same(expected: str, provided: str) -> bool:
    # compare_digest refuses non-ASCII str; headers arrive decoded as latin-1, so bytes it is.
    return hmac.compare_digest(expected.encode(), provided.encode("latin-1", "replace"))


def _hex_hmac(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def hmac_signature(header: str, *, prefix: str = "") -> Authenticator:
    """``<header>: <prefix><hex HMAC-SHA256 of the raw body>`` (GitHub, Jira, Sentry, Linear)."""

    def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
        provided = inbound.headers.get(header.lower())
        if not provided:
            return f"missing {header} header"
        if not any(_same(prefix + _hex_hmac(s, inbound.body), provided.strip()) for s in secrets):
            return f"{header} does not match the body signed with the configured secret"
        return None

    return authenticate


def token_header(header: str) -> Authenticator:
    """``<header>: <the shared secret>`` (GitLab's ``X-Gitlab-Token``)."""

    def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
        provided = inbound.headers.get(header.lower())
        if not provided:
            return f"missing {header} header"
        if not any(_same(s.decode(), provided) for s in secrets):
            return f"{header} is not the configured secret token"
        return None

    return authenticate


def linear(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """``Linear-Signature`` (hex HMAC of the body) and a fresh ``webhookTimestamp`` (epoch ms).

    A body that is signed but not JSON has no timestamp to check; it is authentic, so it is
    accepted and quarantined rather than retried forever.
    """
    reason = hmac_signature("Linear-Signature")(inbound, secrets)
    if reason or inbound.document is None:
        return reason
    stamp = inbound.document.get("webhookTimestamp") if isinstance(inbound.document, dict) else None
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return "body has no numeric webhookTimestamp (epoch milliseconds)"
    skew = abs(inbound.received_epoch_s - stamp / 1000.0)
    if skew > LINEAR_TOLERANCE_S:
        return (
            f"webhookTimestamp is {skew:.0f} s away from the gateway's clock "
            f"(tolerance {LINEAR_TOLERANCE_S:.0f} s): a replayed delivery, or a clock out of sync"
        )
    return None


def figma(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """Figma puts the webhook's ``passcode`` in the JSON body."""
    if not isinstance(inbound.document, dict):
        return "body is not a JSON object, so its passcode cannot be checked"
    passcode = inbound.document.get("passcode")
    if not isinstance(passcode, str) or not passcode:
        return "body has no passcode"
    if not any(_same(s.decode(), passcode) for s in secrets):
        return "passcode is not the configured passcode"
    return None


def ci(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """Generic CI senders (Jenkins): ``Authorization: Bearer <secret>`` or ``X-Signature-256``."""
    authorization = inbound.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "Authorization header is not 'Bearer <token>'"
        if not any(_same(s.decode(), token.strip()) for s in secrets):
            return "bearer token is not the configured secret"
        return None
    if "x-signature-256" in inbound.headers:
        return hmac_signature("X-Signature-256", prefix="sha256=")(inbound, secrets)
    return "missing Authorization (Bearer) or X-Signature-256 header"


def circleci(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
    """``circleci-signature: v1=<hex HMAC-SHA256 of the body>``, possibly among other versions.

    The header is a comma-separated list of ``<version>=<signature>``; CircleCI sends ``v1``
    today and may add versions. The delivery is authentic when any ``v1`` value matches the
    body signed with any configured secret; values of other versions are ignored.
    """
    header = inbound.headers.get("circleci-signature")
    if not header:
        return "missing circleci-signature header"
    provided = [
        value.strip()
        for version, _, value in (part.strip().partition("=") for part in header.split(","))
        if version.strip() == "v1" and value.strip()
    ]
    if not provided:
        return "circleci-signature carries no v1=<signature> value"
    expected = [_hex_hmac(secret, inbound.body) for secret in secrets]
    # Every pair is compared, so the time taken does not depend on which one matches.
    matches = [_same(digest, value) for digest in expected for value in provided]
    if not any(matches):
        return "circleci-signature does not match the body signed with the configured secret"
    return None


# -- the tools -------------------------------------------------------------------------------------
def _names(text: str) -> frozenset[str]:
    """A vocabulary written as whitespace-separated names (easy to compare with the tool's docs)."""
    return frozenset(text.split())


# Event names as each tool documents them (headers or body fields, see the providers below).
GITHUB_EVENTS = _names("""
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
GITLAB_EVENTS = frozenset(
    f"{name} Hook"
    for name in (
        "Push", "Tag Push", "Issue", "Confidential Issue", "Note", "Confidential Note",
        "Merge Request", "Wiki Page", "Pipeline", "Job", "Deployment", "Feature Flag", "Release",
        "Emoji", "Milestone", "Resource Access Token", "Member", "Subgroup", "Project",
        "Vulnerability", "System",
    )
)  # fmt: skip
JIRA_EVENTS = _names("""
    jira:issue_created jira:issue_updated jira:issue_deleted comment_created comment_updated
    comment_deleted worklog_created worklog_updated worklog_deleted issuelink_created
    issuelink_deleted attachment_created attachment_deleted sprint_created sprint_updated
    sprint_deleted sprint_started sprint_closed board_created board_updated board_deleted
    board_configuration_changed project_created project_updated project_deleted
    jira:version_created jira:version_updated jira:version_released jira:version_unreleased
    jira:version_moved jira:version_deleted user_created user_updated user_deleted
    issue_property_set issue_property_deleted
""")
LINEAR_EVENTS = _names("""
    Issue Comment IssueLabel Reaction Project ProjectUpdate Cycle Attachment Document
    Initiative InitiativeUpdate Customer CustomerNeed User IssueSLA OAuthApp
""")
# Sentry's ``Sentry-Hook-Resource`` values; the action (``triggered``, ``critical``…) is the
# body's ``action`` and is read by the normaliser, so the event name stays the resource.
SENTRY_EVENTS = _names("""
    installation event_alert issue metric_alert error comment seer activity_alert
    preprod_artifact
""")
CIRCLECI_EVENTS = _names("""
    workflow-completed job-completed ping
""")
FIGMA_EVENTS = _names("""
    PING FILE_UPDATE FILE_VERSION_UPDATE FILE_DELETE LIBRARY_PUBLISH FILE_COMMENT
    DEV_MODE_STATUS_UPDATE
""")

PROVIDERS: dict[str, Provider] = {
    p.route: p
    for p in (
        Provider(
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
        ),
        Provider(
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
        ),
        Provider(
            route="jira",
            source="jira",
            authenticate=hmac_signature("X-Hub-Signature", prefix="sha256="),
            delivery_headers=("x-atlassian-webhook-identifier",),
            event_field="webhookEvent",
            known_events=JIRA_EVENTS,
            kept_headers=("x-atlassian-webhook-identifier", "x-atlassian-webhook-retry"),
        ),
        Provider(
            route="linear",
            source="linear",
            authenticate=linear,
            delivery_headers=("linear-delivery",),
            event_header="linear-event",
            event_field="type",
            known_events=LINEAR_EVENTS,
            kept_headers=("linear-delivery", "linear-event"),
        ),
        Provider(
            route="sentry",
            source="sentry",
            authenticate=hmac_signature("Sentry-Hook-Signature"),
            delivery_headers=("request-id",),
            event_header="sentry-hook-resource",
            known_events=SENTRY_EVENTS,
            kept_headers=("request-id", "sentry-hook-resource", "sentry-hook-timestamp"),
        ),
        Provider(
            route="figma",
            source="figma",
            authenticate=figma,
            delivery_headers=(),
            event_field="event_type",
            known_events=FIGMA_EVENTS,
            secret_fields=("passcode",),
        ),
        Provider(
            route="circleci",
            source="circleci",
            authenticate=circleci,
            # No delivery-id header: the body's ``id`` identifies the event (CircleCI's advice
            # for de-duplicating redeliveries).
            delivery_headers=(),
            delivery_field="id",
            event_header="circleci-event-type",
            event_field="type",
            known_events=CIRCLECI_EVENTS,
            kept_headers=("circleci-event-type",),
        ),
        Provider(**pagerduty.PROVIDER),
        Provider(
            route="ci",
            source="jenkins",
            authenticate=ci,
            delivery_headers=("x-delivery-id",),
            event_header="x-event-type",
            event_field="event",
            kept_headers=("x-delivery-id", "x-event-type"),
        ),
    )
}
PROVIDERS_BY_SOURCE: dict[str, Provider] = {p.source: p for p in PROVIDERS.values()}


@dataclass(frozen=True)
class WebhookSecrets:
    """Secrets per provider route, read once when the gateway starts."""

    by_route: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)

    def for_route(self, route: str) -> tuple[bytes, ...]:
        return self.by_route.get(route, ())


def secrets_from_environment(
    sources: Sequence[SourceConfig], environ: Mapping[str, str]
) -> WebhookSecrets:
    """Collect each configured source's webhook secret from the env var it names.

    Args:
        sources: ``SourceConfig`` entries of flowsync.yaml; those without ``webhook_secret_env``
            receive no webhooks.
        environ: where secrets live (``os.environ`` in the gateway process).

    Raises:
        ValueError: a source names a variable that is unset or empty — better to refuse to start
            than to answer every delivery of that tool with 401.
    """
    by_route: dict[str, list[bytes]] = {}
    problems = []
    for source in sources:
        env_name = source.webhook_secret_env
        if not env_name:
            continue
        provider = PROVIDERS_BY_SOURCE.get(source.type)
        if provider is None:
            problems.append(
                f"source {source.name!r} has webhook_secret_env but type {source.type!r} sends "
                f"no webhooks FlowSync can receive (supported: {sorted(PROVIDERS_BY_SOURCE)})"
            )
            continue
        secret = environ.get(env_name, "")
        if not secret:
            problems.append(
                f"source {source.name!r} names webhook_secret_env {env_name!r}, "
                "but that environment variable is unset or empty"
            )
            continue
        by_route.setdefault(provider.route, []).append(secret.encode())
    if problems:
        raise ValueError("cannot start the webhook gateway:\n  " + "\n  ".join(problems))
    return WebhookSecrets({route: tuple(values) for route, values in by_route.items()})
