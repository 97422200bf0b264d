"""How a tool's webhooks are received: authenticate, name the event, identify the delivery.

Each source's own dialect (a :class:`Provider`) lives in its package
(``sources/<tool>/webhooks.py``) and is found through the source registry; this module holds the
shared machinery. Every comparison with a secret is constant-time (:func:`hmac.compare_digest`)
and a source may hold several secrets at once, so a secret can be rotated without losing
deliveries. Reasons for a rejection name the header or field that was wrong, never a secret or a
computed digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # settings reads the source registry, which holds the providers
    from flowsync_pipelines.settings import SourceConfig

# Tools' ids are short (UUIDs, GUIDs); anything longer is hashed so the column stays bounded.
MAX_DELIVERY_ID_CHARS = 200
MAX_EVENT_TYPE_CHARS = 200
UNKNOWN_EVENT = "unknown"


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
# The headers a tool sends with a signed ``body``: (body, secret, event, delivery id) → headers.
Signer = Callable[[bytes, str, "str | None", str], dict[str, str]]
# What a tool adds to a JSON body before sending it: (document, secret, now in epoch s or None).
BodyPreparer = Callable[[dict[str, Any], str, "float | None"], dict[str, Any]]
# The record id of an embedded entity: (scope, entity, whole body) → id, None when unnamed.
RecordId = Callable[[str, dict[str, Any], dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class EntityMapping:
    """How a webhook event's embedded entity becomes the record a polling connector lands.

    ``record_id`` gets the scope, the entity and the whole body, and returns None when the body
    lacks what it needs (the delivery then lands whole, as ``webhook:<event>``).
    """

    kind: str
    entity_field: str
    record_id: RecordId
    updated_at_fields: tuple[str, ...]  # the entity's first non-null one is its update time


@dataclass(frozen=True)
class Provider:
    """One tool's webhook dialect.

    Each configured source of the tool is served at ``POST /webhooks/<source name>``, and at
    ``/webhooks/<route>`` while it is the tool's only source receiving webhooks.
    """

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
    # How the drain lands a delivery (webhooks.drain): where in the tool it happened, as the
    # polling connector names scopes ("" when unknown) …
    scope: Callable[[dict[str, Any]], str] | None = None
    # … events whose embedded entity lands as a polled kind, under the connector's record id, and
    # the scope such an entity lands under (None: the delivery lands whole) …
    entities: Mapping[str, EntityMapping] = field(default_factory=dict)
    entity_scope: Callable[[dict[str, Any]], str | None] | None = None
    # … entities a delivery embeds besides its own (event → events whose mapping also applies) …
    embedded: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # … what of a delivery's document lands (None: all of it) …
    landed_document: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # … and a tool-specific tidy-up of the ``webhook:<slug>`` kind's slug.
    event_slug: Callable[[str], str] | None = None
    # How the tool signs what it sends (the harness and tests deliver as the tool would).
    sign: Signer | None = None
    prepare_body: BodyPreparer | None = None

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


def event_kind(source_type: str, event_type: str) -> str:
    """The landing kind of a delivery that matches no polled kind: ``webhook:<slug>``.

    Slugs are lower-case ``[a-z0-9_]`` so they are safe as a Hive partition directory; GitLab's
    ``Merge Request Hook`` becomes ``merge_request`` (its ``System Hook`` stays ``system_hook``,
    which says more than ``system``).
    """
    slug = re.sub(r"[^a-z0-9]+", "_", event_type.lower()).strip("_") or UNKNOWN_EVENT
    provider = provider_for_source(source_type)
    if provider is not None and provider.event_slug is not None:
        slug = provider.event_slug(slug)
    return f"webhook:{slug}"


def providers() -> dict[str, Provider]:
    """Every source type's provider by route (its type's path), from the source registry."""
    from flowsync_pipelines.sources.registry import providers_by_route

    return providers_by_route()


def provider_for_source(source_type: str) -> Provider | None:
    """The provider of a source type, None when it sends no webhooks FlowSync can receive."""
    from flowsync_pipelines.sources.registry import SOURCES

    found = SOURCES.get(source_type)
    return found.webhook_provider if found else None


# -- authenticators shared by several tools --------------------------------------------------------
def same(expected: str, provided: str) -> bool:
    """Constant-time comparison of a secret with what a request carries."""
    # compare_digest refuses non-ASCII str; headers arrive decoded as latin-1, so bytes it is.
    return hmac.compare_digest(expected.encode(), provided.encode("latin-1", "replace"))


def hex_hmac(secret: bytes, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body``: what most tools sign with."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def hmac_signature(header: str, *, prefix: str = "") -> Authenticator:
    """``<header>: <prefix><hex HMAC-SHA256 of the raw body>`` (GitHub, Jira, Sentry, Linear)."""

    def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
        provided = inbound.headers.get(header.lower())
        if not provided:
            return f"missing {header} header"
        if not any(same(prefix + hex_hmac(s, inbound.body), provided.strip()) for s in secrets):
            return f"{header} does not match the body signed with the configured secret"
        return None

    return authenticate


def token_header(header: str) -> Authenticator:
    """``<header>: <the shared secret>`` (GitLab's ``X-Gitlab-Token``)."""

    def authenticate(inbound: Inbound, secrets: Sequence[bytes]) -> str | None:
        provided = inbound.headers.get(header.lower())
        if not provided:
            return f"missing {header} header"
        if not any(same(s.decode(), provided) for s in secrets):
            return f"{header} is not the configured secret token"
        return None

    return authenticate


def _field(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a JSON document; None when any step is missing."""
    for name in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


def event_names(text: str) -> frozenset[str]:
    """A vocabulary written as whitespace-separated names (easy to compare with the tool's docs)."""
    return frozenset(text.split())


@dataclass(frozen=True)
class Endpoint:
    """One configured source's webhook endpoint, ``POST /webhooks/<source name>``."""

    name: str  # the source's name in flowsync.yaml: the queue's ``source``, the landing partition
    provider: Provider  # its type's dialect; ``provider.source`` is the type
    secrets: tuple[bytes, ...]

    @property
    def source_type(self) -> str:
        return self.provider.source


class NoEndpoint(LookupError):
    """A path that names no configured source (the gateway answers 404 with the message)."""


@dataclass(frozen=True)
class WebhookSecrets:
    """Each webhook-receiving source's endpoint and secrets by source name, read at start.

    A source is reached at ``/webhooks/<its name>``. The type's path (``/webhooks/github``, the
    route, e.g. ``ci`` for Jenkins) keeps reaching it while it is the only source of that type
    receiving webhooks; with two, the type path names no one source and is refused, naming the
    source paths to use. A source's secrets authenticate its own endpoint only.
    """

    by_source: Mapping[str, Endpoint] = field(default_factory=dict)

    def resolve(self, path: str) -> Endpoint:
        """The endpoint ``POST /webhooks/<path>`` reaches: a source name first, else a type.

        Raises:
            NoEndpoint: no configured source answers to ``path`` (or two of its type do).
        """
        found = self.by_source.get(path)
        if found is not None:
            return found
        typed = sorted(
            (e for e in self.by_source.values() if path in (e.provider.route, e.source_type)),
            key=lambda e: e.name,
        )
        if len(typed) == 1:
            return typed[0]
        if typed:
            paths = ", ".join(f"/webhooks/{e.name}" for e in typed)
            raise NoEndpoint(
                f"{len(typed)} sources of type {typed[0].source_type!r} receive webhooks, so "
                f"/webhooks/{path} names none of them: use {paths}"
            )
        provider = providers().get(path) or provider_for_source(path)
        if provider is not None:
            raise NoEndpoint(
                f"{path} webhooks are not configured: give a source of type "
                f"{provider.source!r} a webhook_secret_env in flowsync.yaml"
            )
        raise NoEndpoint(f"no webhook endpoint for {path!r}; use one of {self.paths()}")

    def paths(self) -> list[str]:
        """Every path that reaches a source: its name, and its type's path when unambiguous."""
        by_route: dict[str, list[str]] = {}
        for endpoint in self.by_source.values():
            by_route.setdefault(endpoint.provider.route, []).append(endpoint.name)
        unambiguous = {route for route, names in by_route.items() if len(names) == 1}
        return sorted(set(self.by_source) | unambiguous)

    def routes(self) -> list[str]:
        """The provider routes (tools) with at least one configured source."""
        return sorted({e.provider.route for e in self.by_source.values()})


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
    by_source: dict[str, Endpoint] = {}
    problems = []
    for source in sources:
        env_name = source.webhook_secret_env
        if not env_name:
            continue
        provider = provider_for_source(source.type)
        if provider is None:
            supported = sorted(p.source for p in providers().values())
            problems.append(
                f"source {source.name!r} has webhook_secret_env but type {source.type!r} sends "
                f"no webhooks FlowSync can receive (supported: {supported})"
            )
            continue
        secret = environ.get(env_name, "")
        if not secret:
            problems.append(
                f"source {source.name!r} names webhook_secret_env {env_name!r}, "
                "but that environment variable is unset or empty"
            )
            continue
        by_source[source.name] = Endpoint(source.name, provider, (secret.encode(),))
    if problems:
        raise ValueError("cannot start the webhook gateway:\n  " + "\n  ".join(problems))
    return WebhookSecrets(by_source)
