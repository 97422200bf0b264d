"""Where resolved identities are kept: ``identity_links`` in the metadata store (vault side) and
the pseudonymous ``identities`` table in DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl
import sqlalchemy as sa

from flowsync_pipelines.metastore import upgrade
from flowsync_pipelines.metastore.tables import identity_links, identity_vault
from flowsync_pipelines.warehouse import insert_rows, run_sql

if TYPE_CHECKING:
    import duckdb

RESULT_SCHEMA = pl.Schema(
    {
        "pseudonym": pl.String,
        "source": pl.String,
        "person": pl.String,
        "confidence": pl.Float64,
        "method": pl.String,
    }
)


def read_vault(engine: sa.Engine) -> pl.DataFrame:
    """Every identity-vault row, as the frame :func:`resolve_identities` takes."""
    columns = ["pseudonym", "source", "handle", "display_name", "email", "actor_kind"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*(identity_vault.c[c] for c in columns))).all()
    return pl.DataFrame(
        [tuple(r) for r in rows], schema={c: pl.String for c in columns}, orient="row"
    )


def save_identity_links(engine: sa.Engine, links: pl.DataFrame) -> int:
    """Replace ``identity_links`` with ``links`` in one transaction (re-runs change nothing)."""
    upgrade(engine)
    now = datetime.now(UTC)
    rows = [{**row, "updated_at": now} for row in links.select(RESULT_SCHEMA.names()).to_dicts()]
    with engine.begin() as conn:
        conn.execute(identity_links.delete())
        if rows:
            conn.execute(identity_links.insert(), rows)
    return len(rows)


def write_identities(con: duckdb.DuckDBPyConnection, links: pl.DataFrame) -> int:
    """Replace the DuckDB ``identities`` table: pseudonyms, persons, confidence, method only."""
    pseudonymous = links.select(list(RESULT_SCHEMA.names()))
    run_sql(con, "identities_schema")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM identities")
        insert_rows(con, "identities", pseudonymous)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return pseudonymous.height
