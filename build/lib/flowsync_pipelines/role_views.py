"""Role views: what each role reads, per team and UTC day, materialised as DuckDB tables.

The SQL lives in ``sql/duckdb/`` (tables in ``role_views_schema.sql``; one file per view). This
module runs it for a window of as-of days over the same prepared inputs the statements use
(``statements_prepare.sql``), so a fact such as "which team owns a repository" or "when an
incident closed" has one definition. Dagster-free: the assets in ``assets/role_views.py`` call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from flowsync_pipelines.bands import HIGH, sql_params
from flowsync_pipelines.warehouse import query, run_sql

# The views (tables), and the SQL files that fill them, in order: em_team_flow reads
# em_cycle_time and em_attention; exec_views.sql fills both executive tables.
VIEWS = (
    "dora",
    "em_cycle_time",
    "em_attention",
    "em_team_flow",
    "engineer_items",
    "pm_progress",
    "pm_items",
    "exec_team_weekly",
    "exec_investment",
)
_STEPS = (
    "dora",
    "em_cycle_time",
    "em_attention",
    "em_team_flow",
    "engineer_items",
    "pm_progress",
    "pm_items",
    "exec_views",
)
# Views a product manager or an executive reads: no person, no pseudonym, in any column.
PERSONLESS_VIEWS = ("pm_progress", "pm_items", "exec_team_weekly", "exec_investment", "dora")


@dataclass(frozen=True)
class RoleViewSettings:
    """Settings of the role views.

    Attributes:
        min_link_confidence: graph links at least this confident count as facts (a pull
            request's commits, what a deployment carried, a ticket's sprint and epic).
    """

    min_link_confidence: float = HIGH


def prepare(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    settings: RoleViewSettings | None = None,
) -> None:
    """Create the role-view tables and the temporary inputs for the as-of days ``[start, end)``."""
    settings = settings or RoleViewSettings()
    run_sql(con, "statements_schema")
    run_sql(con, "role_views_schema")
    run_sql(con, "dora_thresholds")
    run_sql(con, "statements_prepare", window_start=start, window_end=end)
    run_sql(con, "role_views_prepare", min_link_confidence=settings.min_link_confidence)


def build(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    settings: RoleViewSettings | None = None,
) -> dict[str, int]:
    """Replace the window ``[start, end)`` of every role view in one transaction (re-runnable:
    the same inputs give the same rows). Returns each view's row count for the window.

    ``em_team_wip`` (and its items) must already hold the window: ``em_team_flow`` reads it.
    """
    settings = settings or RoleViewSettings()
    prepare(con, start, end, settings)
    con.execute("BEGIN TRANSACTION")
    try:
        run_sql(con, "delete_role_views_window", window_start=start, window_end=end)
        for step in _STEPS:
            run_sql(con, step, min_link_confidence=settings.min_link_confidence, **sql_params())
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return {
        view: con.execute(
            f"SELECT count(*) FROM {view} WHERE as_of_date >= $s AND as_of_date < $e",
            {"s": start, "e": end},
        ).fetchone()[0]
        for view in VIEWS
    }


def readme_examples(readme: Path) -> dict[str, str]:
    """The SQL examples of the README's "Role views" section, by the view each one names in its
    first line (``-- <view>: …``), so the bench and the tests run them exactly as documented."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("\n## Role views\n", 1)[1].split("\n## ", 1)[0]
    examples = {}
    for block in section.split("```sql\n")[1:]:
        sql = block.split("```", 1)[0].strip()
        view = sql.splitlines()[0].removeprefix("-- ").split(":", 1)[0]
        examples[view] = sql
    return examples


def check_failures(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[str, int]:
    """Per check of ``role_views_checks.sql``: the window's rows that break it (0 = passes)."""
    frame = query(con, "role_views_checks", window_start=start, window_end=end)
    return dict(frame.iter_rows())
