"""What a source is: one :class:`SourceSpec` per tool type, declared in ``sources/<tool>/``.

A spec is light on purpose: a source package imports this module, pydantic and its own small
modules only, so the registry can be read from anywhere (settings, Definitions, privacy) without
an import cycle. The heavy pieces — the Dagster resource, the normalisers, the webhook provider —
are named as ``"module:attribute"`` references and loaded on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from flowsync_pipelines.webhooks.providers import Provider

# How a tool's account handle relates to the person: a ``login`` they chose and that other tools
# show too (GitHub, GitLab), another ``chosen`` name (a Jenkins user id), or an ``opaque`` id.
HandleKind = Literal["login", "chosen", "opaque"]
# Where a polled normaliser is found: ``"module:function"``.
Ref = str


def load(ref: Ref) -> Any:
    """The object a ``"module:attribute"`` reference names."""
    module, _, attribute = ref.partition(":")
    if not attribute:
        raise ValueError(f"{ref!r} is not a 'module:attribute' reference")
    return getattr(import_module(module), attribute)


class ScopeModel(BaseModel):
    """Base of every source type's typed ``scopes``: an unknown key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def one_value(value: Any, key: str) -> Any:
    """A scalar scope given as a one-item list (``rev: [HEAD]``) is that item."""
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(f"scopes.{key} names exactly one value, got {value!r}")
        return value[0]
    return value


@dataclass(frozen=True)
class RecordIdentity:
    """How the records of one landing kind are named: landing de-duplicates on this id, and a
    webhook and a poll of the same entity version meet under it.

    One template per kind, used by the connector that polls it, the webhook drain that lands a
    delivery's embedded entity as that kind, and :func:`flowsync_pipelines.record_ids.identify`
    (conformance). ``fields`` reads the template's fields from a bare REST item and the scope it
    was requested in; None when a bare item cannot name itself (the connector knows more).
    """

    template: str  # str.format over named fields, e.g. "{repo}#{number}"
    items_key: str | None = None  # key of the item list in a page body; None: a list or one item
    fields: Callable[[dict[str, Any], str], Mapping[str, Any]] | None = None

    def __call__(self, **fields: Any) -> str:
        """The record id of an entity with these ``fields``."""
        return self.template.format(**fields)

    def of_item(self, item: dict[str, Any], scope: str) -> str:
        """The record id of a bare REST ``item`` requested in ``scope``.

        Raises:
            KeyError, TypeError, ValueError, AttributeError: the item lacks what names it.
        """
        if self.fields is None:
            raise ValueError(f"a bare item cannot name itself as {self.template!r}")
        return self.template.format(**self.fields(item, scope))


@dataclass(frozen=True)
class AccountKeys:
    """JSON keys whose value names an account in a tool's payloads (privacy scrubs them).

    ``ghosted`` keys get what the tool shows for a vanished account (``ghost``), ``nulled`` keys
    become null, ``names`` show a display name (the object is then that person's), ``details``
    go with the account (ids, avatars).
    """

    ghosted: frozenset[str] = frozenset()
    nulled: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    details: frozenset[str] = frozenset()

    def __or__(self, other: AccountKeys) -> AccountKeys:
        return AccountKeys(
            self.ghosted | other.ghosted,
            self.nulled | other.nulled,
            self.names | other.names,
            self.details | other.details,
        )


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """Everything FlowSync knows about one tool type, in one place.

    Attributes:
        type: the ``type:`` of a flowsync.yaml source, the landing ``source`` of its records and
            the ``source`` its accounts' pseudonyms are keyed with.
        title: how people write the tool's name.
        scopes: the typed ``scopes:`` model of a source of this type.
        resource: ``"module:Class"`` of its Dagster resource (``from_source``), None when it
            cannot be polled.
        normalisers: the module holding its normalisers (its ``WEBHOOKS`` map, if any, turns
            deliveries landed whole into events).
        polled: landing kind → normaliser function name in ``normalisers``.
        provider: ``"module:attribute"`` of its webhook :class:`Provider`, None when it sends
            no webhooks FlowSync can receive.
        member_handle: the team-member field of flowsync.yaml holding a person's handle in this
            tool, None when members name no account there.
        handle_kind: what an account handle is (identity evidence, see :data:`HandleKind`).
        account_keys: the JSON keys naming an account in its payloads (privacy).
        records: landing kind → how its records are named (see :class:`RecordIdentity`).
        web_base_url: the web address citations link to by default (None: only a configured
            ``base_url`` says where the tool is, e.g. a Jira site).
        scheduled_kinds: kinds whose events follow a schedule rather than an edit (a sprint
            starts and ends on its dates), so a version updated before a window can hold its events.
        tombstones: kind of a deleted record → (entity type, entity id template over ``{id}``
            and ``{scope}``); kinds not listed keep their landing kind and record id.
    """

    type: str
    title: str
    scopes: type[ScopeModel]
    resource: Ref | None
    normalisers: str
    polled: Mapping[str, str]
    provider: Ref | None = None
    member_handle: str | None = None
    handle_kind: HandleKind = "opaque"
    account_keys: AccountKeys = field(default_factory=AccountKeys)
    records: Mapping[str, RecordIdentity] = field(default_factory=dict)
    web_base_url: str | None = None
    scheduled_kinds: frozenset[str] = frozenset()
    tombstones: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @cached_property
    def resource_class(self) -> type | None:
        """The Dagster resource class, or None for a source that cannot be polled."""
        return load(self.resource) if self.resource else None

    @cached_property
    def webhook_provider(self) -> Provider | None:
        """Its webhook dialect, or None when it sends no webhooks FlowSync can receive."""
        return load(self.provider) if self.provider else None

    @cached_property
    def polled_normalisers(self) -> dict[str, Callable[..., Any]]:
        """Landing kind → normaliser for the kinds its connector lands."""
        module = import_module(self.normalisers)
        return {kind: getattr(module, name) for kind, name in self.polled.items()}

    @cached_property
    def webhook_normalisers(self) -> dict[str, Callable[..., Any]]:
        """``webhook:<event>`` kind → normaliser, for deliveries landed whole."""
        if self.provider is None:
            return {}
        return dict(getattr(import_module(self.normalisers), "WEBHOOKS", {}))


_REGISTERED: dict[str, SourceSpec] = {}


def register(spec: SourceSpec) -> SourceSpec:
    """Add ``spec`` to the registry (each source package does this once, on import)."""
    known = _REGISTERED.get(spec.type)
    if known is not None and known is not spec:
        raise ValueError(f"two sources register the type {spec.type!r}")
    _REGISTERED[spec.type] = spec
    return spec


def registered() -> dict[str, SourceSpec]:
    """Every registered spec by type, in type order (stable whatever imported them first)."""
    return dict(sorted(_REGISTERED.items()))
