"""The metadata store's schema has one owner: the tables in ``metastore.tables`` and the Alembic
migrations that build them. A new store and one made by ``create_all`` before migrations existed
end identical after opening, on SQLite and on PostgreSQL, and both match the model."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.metastore import METADATA, current_revision, head_revision
from flowsync_pipelines.metastore.baseline import BASELINE
from flowsync_pipelines.metastore.migrate import VERSION_TABLE
from flowsync_pipelines.webhooks.queue import DeliveryQueue


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A factory of empty databases of one dialect."""
    if request.param == "sqlite":
        yield lambda name: f"sqlite:///{tmp_path / name}.sqlite"
        return
    server = request.getfixturevalue("postgres_url")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(name: str) -> str:
        database = f"metastore_{name}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        made.append(database)
        return sa.make_url(server).set(database=database).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for database in made:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin.dispose()


def _shape(engine: sa.Engine) -> dict[str, object]:
    """Tables, columns (type, nullability, key), indexes and unique constraints, by name."""
    inspector = sa.inspect(engine)
    shape: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        shape[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
        }
    return shape


def test_a_new_store_and_a_store_from_before_migrations_end_identical(new_url) -> None:
    fresh = MetadataStore(new_url("fresh"))
    # Today's store: what create_all made before migrations, holding a cursor and a delivery.
    old_url = new_url("today")
    old = sa.create_engine(old_url)
    BASELINE.create_all(old)
    stamp = datetime(2026, 9, 1, 5, tzinfo=UTC)
    with old.begin() as conn:
        conn.execute(
            BASELINE.tables["sync_state"].insert(),
            {
                "source": "github",
                "scope": "acme/api",
                "endpoint": "pulls",
                "cursor": "c1",
                "etag": "e1",
                "updated_at": stamp,
            },
        )
        conn.execute(
            BASELINE.tables["webhook_deliveries"].insert(),
            {
                "source": "github",
                "delivery_id": "d1",
                "event_type": "push",
                "received_at": stamp,
                "received_day": "2026-09-01",
                "headers": "{}",
                "body": b"{}",
                "body_sha256": "0" * 64,
                "state": "pending",
            },
        )
    old.dispose()
    assert current_revision(sa.create_engine(old_url)) is None

    upgraded = MetadataStore(old_url)
    try:
        assert current_revision(upgraded.engine) == current_revision(fresh.engine)
        assert current_revision(fresh.engine) == head_revision()
        assert _shape(upgraded.engine) == _shape(fresh.engine)
        assert set(_shape(fresh.engine)) == {*METADATA.tables, VERSION_TABLE}
        # The rows a store held survive its upgrade.
        assert upgraded.sync_position("github", "acme/api", "pulls") == ("c1", "e1")
        # 0002: a delivery queued when ``source`` was the type is of the source named after it.
        queue = DeliveryQueue(old_url)
        try:
            [delivery] = queue.find("github", ["d1"])
            assert (delivery.source, delivery.source_type) == ("github", "github")
            with queue.engine.connect() as conn:
                column = sa.text("SELECT source_type FROM webhook_deliveries")
                assert conn.execute(column).scalars().all() == ["github"]
        finally:
            queue.dispose()
        # The migrations at head build exactly the model: a table changed in
        # metastore/tables.py without a migration shows here.
        with fresh.engine.connect() as conn:
            opts = {"compare_type": True, "version_table": VERSION_TABLE}
            context = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(context, METADATA) == []
    finally:
        fresh.dispose()
        upgraded.dispose()


def test_every_door_to_the_store_upgrades_it_once(tmp_path: Path) -> None:
    """The webhook gateway may open the store before anything else: it upgrades it too, and a
    second opening finds it at head."""
    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    queue = DeliveryQueue(url)
    try:
        assert current_revision(queue.engine) == head_revision()
        before = _shape(queue.engine)
    finally:
        queue.dispose()
    store = MetadataStore(url)
    try:
        assert _shape(store.engine) == before
        with store.engine.connect() as conn:
            versions = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        assert versions == [(head_revision(),)]
    finally:
        store.dispose()


def test_processes_opening_a_new_sqlite_store_at_once_all_find_it_at_head(tmp_path: Path) -> None:
    """Dagster's run workers and the webhook gateway may open a new store in the same second
    (SQLite has no lock to wait on: the losers retry; PostgreSQL waits on an advisory lock)."""
    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    script = (
        "import sys; from flowsync_pipelines.metadata import MetadataStore; "
        "MetadataStore(sys.argv[1])"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [w.communicate(timeout=120)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errors
    engine = sa.create_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) == {*METADATA.tables, VERSION_TABLE}
    finally:
        engine.dispose()


def test_a_database_shared_with_dagsters_storage_keeps_both_revisions(tmp_path: Path) -> None:
    """Dagster's PostgreSQL storage records its schema revision in ``alembic_version``; the
    metadata store may live in the same database, so it keeps its own revision elsewhere."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('dagster_revision_1')")
    store = MetadataStore(url)
    try:
        assert current_revision(store.engine) == head_revision()
        with engine.connect() as conn:
            theirs = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert theirs == [("dagster_revision_1",)]
    finally:
        store.dispose()
        engine.dispose()
