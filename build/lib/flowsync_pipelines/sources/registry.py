"""The one list of sources: everything that lists tools reads it.

Each source package (``sources/<tool>/``) builds its :class:`SourceSpec` and registers it when
imported; the imports below are that list, and one line is all a new source adds here. Settings
(source types, typed scopes, team-member handle fields), the Definitions' resources, the
normalisers, the webhook gateway and drain, identity, privacy and graph inputs derive what they
need from :data:`SOURCES` through the functions below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

# One line per source: importing a source package registers it.
from flowsync_pipelines.sources import (  # noqa: F401
    circleci,
    figma,
    git,
    github,
    gitlab,
    jenkins,
    jira,
    linear,
    pagerduty,
    sentry,
)
from flowsync_pipelines.sources.spec import (
    AccountKeys,
    HandleKind,
    RecordIdentity,
    SourceSpec,
    registered,
)

if TYPE_CHECKING:
    from flowsync_pipelines.webhooks.providers import Provider

SOURCES: Mapping[str, SourceSpec] = MappingProxyType(registered())
SOURCE_TYPES: tuple[str, ...] = tuple(SOURCES)

# FlowSync's own names for account fields (normalisers' and the vault's columns), wherever they
# reach a stored payload; privacy treats them like the tools' keys.
FLOWSYNC_ACCOUNT_KEYS = AccountKeys(
    nulled=frozenset({"account_id"}), names=frozenset({"display_name"})
)


def spec(source_type: str) -> SourceSpec:
    """The spec of ``source_type``, or an error listing the types there are."""
    found = SOURCES.get(source_type)
    if found is None:
        raise KeyError(f"no source type {source_type!r}; the types are: {', '.join(SOURCE_TYPES)}")
    return found


def member_handle_fields() -> tuple[str, ...]:
    """Team-member fields of flowsync.yaml holding a tool handle; each is also the ``source``
    the handle's pseudonym is keyed with."""
    return tuple(s.member_handle for s in SOURCES.values() if s.member_handle)


def sources_with_handles(*kinds: HandleKind) -> tuple[str, ...]:
    """Source types whose account handle is of one of ``kinds`` (identity evidence)."""
    return tuple(s.type for s in SOURCES.values() if s.handle_kind in kinds)


def account_keys() -> AccountKeys:
    """Every JSON key that names an account in any source's payloads, by how it is scrubbed."""
    keys = FLOWSYNC_ACCOUNT_KEYS
    for source in SOURCES.values():
        keys = keys | source.account_keys
    return keys


def normalisers() -> dict[tuple[str, str], Callable[..., Any]]:
    """``(source, kind)`` → normaliser: polled kinds, then deliveries landed whole."""
    found: dict[tuple[str, str], Callable[..., Any]] = {}
    for source in SOURCES.values():
        found |= {(source.type, k): f for k, f in source.polled_normalisers.items()}
    for source in SOURCES.values():
        found |= {(source.type, k): f for k, f in source.webhook_normalisers.items()}
    return found


def scheduled_kinds() -> frozenset[tuple[str, str]]:
    """``(source, kind)`` pairs whose events follow a schedule rather than an edit."""
    return frozenset((s.type, kind) for s in SOURCES.values() for kind in s.scheduled_kinds)


def tombstones() -> dict[tuple[str, str], tuple[str, str]]:
    """``(source, deleted kind)`` → (entity type, entity id template)."""
    return {(s.type, kind): t for s in SOURCES.values() for kind, t in s.tombstones.items()}


def record_identity(source_type: str, kind: str) -> RecordIdentity | None:
    """How ``source_type``'s records of ``kind`` are named, if the source declares it."""
    found = SOURCES.get(source_type)
    return found.records.get(kind) if found else None


def providers_by_source() -> dict[str, Provider]:
    """Source type → its webhook provider, for the sources that send webhooks."""
    return {s.type: s.webhook_provider for s in SOURCES.values() if s.webhook_provider is not None}


def providers_by_route() -> dict[str, Provider]:
    """``/webhooks/<route>`` → provider."""
    return {p.route: p for p in providers_by_source().values()}


def resource_types() -> dict[str, type]:
    """Source type → its Dagster resource class, for the sources that can be polled."""
    return {s.type: s.resource_class for s in SOURCES.values() if s.resource_class is not None}
