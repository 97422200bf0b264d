"""The source registry is the one list of tools, and each source's spec is consistent.

A new source is one package under ``flowsync_pipelines/sources/`` and one import line in the
registry; these tests fail when a production module lists tools of its own again, or when a
spec names a piece that is missing (a normaliser, a provider, a resource, a member field).
"""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.role_views import team_tables
from flowsync_pipelines import gdpr
from flowsync_pipelines.normalise import NORMALISERS
from flowsync_pipelines.privacy import identifiers
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import SCOPES, FlowSyncConfig, Member, SourceConfig, SourceType
from flowsync_pipelines.sources import registry
from flowsync_pipelines.sources.spec import ScopeModel
from flowsync_pipelines.webhooks.drain import landing_records
from flowsync_pipelines.webhooks.harness import sign
from flowsync_pipelines.webhooks.providers import Inbound, providers
from flowsync_pipelines.webhooks.queue import StoredDelivery

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("flowsync_pipelines", "assets", "resources")
# The registry's own home, and the demo world (simulator and sandboxes), which keeps its lists.
NOT_SCANNED = (
    "flowsync_pipelines/sources/",
    "flowsync_pipelines/sandbox/",
    "flowsync_pipelines/simulator/",
)
TOOLS = frozenset(registry.SOURCE_TYPES)
MIN_LISTED = 3


def _tool_names(node: ast.AST) -> set[str]:
    """Tool type names a literal collection, dict or ``Literal[...]`` lists (a tuple key such as
    ``("github", "pulls")`` counts by its first item)."""

    def name(element: ast.AST | None) -> str | None:
        if isinstance(element, ast.Tuple) and element.elts:
            element = element.elts[0]
        if isinstance(element, ast.Constant) and element.value in TOOLS:
            return element.value
        return None

    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        elements = node.elts
    elif isinstance(node, ast.Dict):
        elements = node.keys
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
        elements = node.slice.elts  # Literal["github", "gitlab", ...]
    else:
        return set()
    return {n for e in elements if (n := name(e))}


def _compared_tools(function: ast.AST) -> set[str]:
    """Tool type names one function compares a value with (``if route == "github": … elif``)."""
    found = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                if isinstance(operand, ast.Constant) and operand.value in TOOLS:
                    found.add(operand.value)
    return found


def tool_lists(root: Path) -> list[str]:
    """``file:line: names`` of every place outside the registry that lists ≥3 tool types."""
    found = []
    for package in PRODUCTION:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative.startswith(NOT_SCANNED):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = _tool_names(node)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    names = _compared_tools(node)
                if len(names) >= MIN_LISTED:
                    found.append((relative, node.lineno, ", ".join(sorted(names))))
    return [f"{file}:{line}: {names}" for file, line, names in sorted(found)]


def test_no_production_module_lists_tools_outside_the_registry():
    listed = tool_lists(ROOT)
    assert not listed, (
        "these modules list tool types themselves; read flowsync_pipelines.sources.registry "
        "instead:\n" + "\n".join(listed)
    )


def test_the_scan_finds_a_list_of_tools_and_an_if_chain_over_them(tmp_path):
    (tmp_path / "flowsync_pipelines").mkdir()
    (tmp_path / "flowsync_pipelines" / "copy.py").write_text(
        'HANDLES = ("github", "gitlab", "jira")\n'
        'KINDS = {("sentry", "issues"): 1, ("figma", "comments"): 2, ("linear", "cycles"): 3}\n'
        "def sign(route):\n"
        '    if route == "github":\n        return 1\n'
        '    elif route == "jira":\n        return 2\n'
        '    elif route == "sentry":\n        return 3\n'
    )
    (tmp_path / "assets").mkdir()
    (tmp_path / "resources").mkdir()
    assert tool_lists(tmp_path) == [
        "flowsync_pipelines/copy.py:1: github, gitlab, jira",
        "flowsync_pipelines/copy.py:2: figma, linear, sentry",
        "flowsync_pipelines/copy.py:3: github, jira, sentry",
    ]


@pytest.mark.parametrize("source_type", registry.SOURCE_TYPES)
def test_each_spec_names_pieces_that_exist_and_agree(source_type):
    spec = registry.spec(source_type)
    assert issubclass(spec.scopes, ScopeModel) and spec.scopes.model_config["extra"] == "forbid"
    assert SCOPES[source_type] is spec.scopes
    if spec.resource is not None:
        assert issubclass(spec.resource_class, dg.ConfigurableResource)
        assert callable(spec.resource_class.from_source)
    assert spec.polled, "a source lands at least one kind"
    for kind, normaliser in spec.polled_normalisers.items():
        assert NORMALISERS[(source_type, kind)] is normaliser
    assert spec.scheduled_kinds <= set(spec.polled)
    assert set(spec.tombstones) <= set(spec.polled)
    for kind, identity in spec.records.items():
        assert identity.template.count("{") >= 1, kind
    if spec.member_handle is not None:
        assert spec.member_handle in Member.model_fields
    if spec.web_base_url is not None:
        assert spec.web_base_url.startswith("https://") and not spec.web_base_url.endswith("/")


@pytest.mark.parametrize(
    "source_type", [t for t in registry.SOURCE_TYPES if registry.spec(t).provider]
)
def test_each_webhook_source_has_a_provider_normalisers_and_a_signer_it_accepts(source_type):
    spec = registry.spec(source_type)
    provider = spec.webhook_provider
    assert provider.source == source_type
    assert providers()[provider.route] is provider
    assert spec.webhook_normalisers, "deliveries landed whole need normalisers"
    for kind in spec.webhook_normalisers:
        assert kind.startswith("webhook:") and (source_type, kind) in NORMALISERS
    for mapping in provider.entities.values():
        assert mapping.kind in spec.polled and mapping.kind in spec.records
    # What the harness sends as this tool, the gateway's authenticator accepts.
    now = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
    body, headers = sign(provider.route, {"id": "1", "type": "x"}, "s3cret", now_s=now)
    inbound = Inbound({k.lower(): v for k, v in headers.items()}, body, now)
    assert provider.authenticate(inbound, [b"s3cret"]) is None
    assert provider.authenticate(inbound, [b"another"]) is not None


def test_settings_take_exactly_the_registered_types_and_their_scopes():
    assert set(SourceType.__args__) == set(registry.SOURCE_TYPES)
    assert registry.resource_types().keys() <= set(registry.SOURCE_TYPES)
    with pytest.raises(ValueError, match="sends no webhooks"):
        SourceConfig(name="g", type="git", receive="webhooks", webhook_secret_env="X")
    assert set(registry.providers_by_source()) == {
        t for t in registry.SOURCE_TYPES if registry.spec(t).provider
    }


def test_privacy_scrubs_every_account_key_the_sources_declare():
    keys = registry.account_keys()
    assert "summary" in keys.names  # PagerDuty's user reference: a display name
    assert keys.ghosted == identifiers._GHOSTED_KEYS
    assert keys.nulled == identifiers._NULLED_KEYS
    assert keys.ghosted | keys.nulled == identifiers.ACCOUNT_KEYS
    assert keys.names == identifiers._NAME_KEYS
    assert keys.details == identifiers._ACCOUNT_DETAIL_KEYS
    assert registry.member_handle_fields() == gdpr.MEMBER_HANDLE_FIELDS


def test_a_webhook_and_a_poll_of_one_pull_request_land_under_the_connectors_record_id():
    pull = {"number": 7, "id": 70, "updated_at": "2026-11-01T10:00:00Z"}
    document = {"action": "edited", "pull_request": pull, "repository": {"full_name": "a/b"}}
    delivery = StoredDelivery(
        id=1,
        source="github",
        delivery_id="d-1",
        event_type="pull_request",
        received_at=datetime(2026, 11, 1, 10, 1, tzinfo=UTC),
        headers={},
        body=json.dumps(document).encode(),
        state="pending",
        reason=None,
        landing_refs=[],
    )
    (record,) = landing_records(delivery)
    github = registry.spec("github")
    assert (record.kind, record.record_id) == (
        "pulls",
        github.records["pulls"](repo="a/b", number=7),
    )
    assert record.record_id == "a/b#7"
    assert (
        github.records["pulls"].of_item({"number": 7, "base": {"repo": {"full_name": "a/b"}}}, "x")
        == "a/b#7"
    )


def test_role_views_read_every_member_handle_and_skip_a_member_erased_by_any_of_them():
    config = FlowSyncConfig.model_validate(
        {
            "teams": [
                {
                    "key": "t",
                    "name": "T",
                    "members": [
                        {"name": "Ann", "github": "ann", "figma": "Ann A", "sentry": "ann@x.io"},
                        {"name": "Bo", "github": "bo", "figma": "Bo B"},
                    ],
                }
            ]
        }
    )
    members, _, vault = team_tables(config, "k", erased={"Bo B"})
    rows = set(members.iter_rows())
    assert rows == {
        ("t", "github", pseudonym("k", "github", "ann")),
        ("t", "figma", pseudonym("k", "figma", "Ann A")),
        ("t", "sentry", pseudonym("k", "sentry", "ann@x.io")),
    }
    assert {v["handle"] for v in vault} == {"ann", "Ann A", "ann@x.io"}
