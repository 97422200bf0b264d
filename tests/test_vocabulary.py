"""The declared event vocabulary: every entity type and action the normalisers emit, ordering
reads and the SQL filters on is declared once in ``flowsync_pipelines/vocabulary.py``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from flowsync_pipelines import normalise as normalise_module
from flowsync_pipelines import ordering, vocabulary
from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.normalise.common import Normalised

SQL = Path(__file__).resolve().parents[1] / "sql" / "duckdb"
AT = datetime(2026, 11, 1, tzinfo=UTC)
USER = {"login": "octo-dev", "id": 1, "type": "User"}

_COLUMN = r"(?<![\w.])(?:\w+\.)?(entity_type|action)\s*"
# ``entity_type = 'x'``, ``action <> 'x'``; ``entity_type IN ('x', 'y')`` (over lines too);
# ``action LIKE 'status_%'`` (a pattern some declared action must match).
_COMPARED = re.compile(_COLUMN + r"(?:=|<>|!=)\s*'([^']*)'", re.IGNORECASE)
_LISTED = re.compile(_COLUMN + r"(?:NOT\s+)?IN\s*\(\s*('[^)]*)\)", re.IGNORECASE)
_LIKE = re.compile(_COLUMN + r"(?:NOT\s+)?I?LIKE\s*'([^']*)'", re.IGNORECASE)


def undeclared_sql_literals(path: Path) -> list[str]:
    """``file:line: <column> 'value'`` for each entity-type or action literal in ``path`` that
    the vocabulary does not declare."""
    text = path.read_text(encoding="utf-8")
    found: list[tuple[int, str, str, bool]] = []  # (offset, column, value, is a LIKE pattern)
    for match in _COMPARED.finditer(text):
        found.append((match.start(), match.group(1).lower(), match.group(2), False))
    for match in _LISTED.finditer(text):
        for value in re.findall(r"'([^']*)'", match.group(2)):
            found.append((match.start(), match.group(1).lower(), value, False))
    for match in _LIKE.finditer(text):
        found.append((match.start(), match.group(1).lower(), match.group(2), True))
    problems = []
    for offset, column, value, like in sorted(found):
        declared = vocabulary.ENTITY_TYPES if column == "entity_type" else vocabulary.ACTIONS
        if like:
            pattern = re.compile("^" + re.escape(value).replace("%", ".*").replace("_", ".") + "$")
            ok = any(pattern.match(name) for name in declared)
        else:
            ok = value in declared
        if not ok:
            line = text.count("\n", 0, offset) + 1
            problems.append(f"{path.name}:{line}: {column} {value!r} is not declared")
    return problems


def test_every_entity_type_and_action_literal_in_the_sql_is_declared() -> None:
    files = sorted(SQL.glob("*.sql"))
    assert len(files) > 50
    problems = [problem for path in files for problem in undeclared_sql_literals(path)]
    assert not problems, "\n".join(problems)


def test_the_sql_check_names_the_file_and_line_of_an_undeclared_literal(tmp_path: Path) -> None:
    query = tmp_path / "q.sql"
    query.write_text(
        "SELECT *\nFROM signals AS s\nWHERE s.entity_type = 'ticket'\n"
        "  AND action IN ('created',\n 'frobnicated')\n"
        "  AND entity_type IN ('pull_request', 'merge_train')\n"
        "  AND action LIKE 'status_%' AND action LIKE 'zap_%'\n"
    )
    assert undeclared_sql_literals(query) == [
        "q.sql:4: action 'frobnicated' is not declared",
        "q.sql:6: entity_type 'merge_train' is not declared",
        "q.sql:7: action 'zap_%' is not declared",
    ]


def test_ordering_reads_its_lifecycle_rules_from_the_vocabulary() -> None:
    assert ordering.CREATION == vocabulary.CREATION
    for entity, creation in ordering.CREATION.items():
        assert creation in vocabulary.ENTITY_TYPES[entity].actions
    for entity_types, final, later in ordering.REGRESSIONS:
        for entity in entity_types or vocabulary.ENTITY_TYPES:
            actions = vocabulary.ENTITY_TYPES[entity].actions
            assert final in actions
            assert set(later or ()) <= actions


def test_an_undeclared_action_or_entity_type_is_refused_in_code() -> None:
    assert vocabulary.action("ticket", "created") == "created"
    with pytest.raises(ValueError, match="'frobnicated' is not a declared action of 'ticket'"):
        vocabulary.action("ticket", "frobnicated")
    with pytest.raises(ValueError, match="'merge_train' is not a declared entity type"):
        vocabulary.entity_type("merge_train")


def _issue_delivery(action: str, number: int) -> FetchedRecord:
    body = {
        "action": action,
        "sender": USER,
        "issue": {"number": number, "title": "t", "state": "open"},
    }
    return FetchedRecord(
        "webhook:issues", "acme/api", f"d{number}", None, body, f"delivery:{number}"
    )


def test_a_tool_action_outside_the_vocabulary_is_quarantined_with_the_reason() -> None:
    landing = landing_frame(
        "github", [_issue_delivery("labeled", 1), _issue_delivery("frobnicated", 2)], fetched_at=AT
    )
    result = normalise(landing, pseudonym_key="k")
    assert result.signals.select("entity_type", "action").rows() == [("ticket", "labeled")]
    assert result.quarantine.select("record_id", "reason").rows() == [
        (
            "d2",
            "action frobnicated of entity type ticket is not in the declared event vocabulary "
            "(flowsync_pipelines/vocabulary.py)",
        )
    ]
    assert result.records_ok == 1


def test_a_normaliser_emitting_an_undeclared_entity_type_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    honest = normalise_module.NORMALISERS[("github", "webhook:issues")]

    def renamed(landing: pl.DataFrame, key: str) -> Normalised:
        result = honest(landing, key)
        signals = result.signals.with_columns(pl.lit("issue").alias("entity_type"))
        return Normalised(signals, result.quarantine, result.accounts, result.references)

    monkeypatch.setitem(normalise_module.NORMALISERS, ("github", "webhook:issues"), renamed)
    landing = landing_frame("github", [_issue_delivery("closed", 1)], fetched_at=AT)
    with pytest.raises(vocabulary.UndeclaredEntityType, match=r"github/webhook:issues.*'issue'"):
        normalise(landing, pseudonym_key="k")
