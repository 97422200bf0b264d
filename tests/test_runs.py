"""Run-level behaviour: quarantine without failing, idempotent re-runs, CLI backfills."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import timedelta

import dagster as dg
import duckdb

from flowsync_pipelines.sandbox import Faults
from flowsync_pipelines.settings import Paths
from tests.conftest import deploy

TABLES = ("signals", "quarantine", "team_members", "em_team_wip", "em_team_wip_items")


def _table_digests(home) -> dict[str, str]:
    with duckdb.connect(str(Paths(home=home).duckdb), read_only=True) as con:
        return {
            t: hashlib.sha256(
                repr(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()).encode()
            ).hexdigest()
            for t in TABLES
        }


def _outbox_digest(home) -> str:
    files = sorted(Paths(home=home).outbox.rglob("*"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in files if p.is_file())).hexdigest()


def test_a_malformed_record_is_quarantined_with_its_reason_and_the_run_succeeds(world, tmp_path):
    repo = world.github_repos()[0]
    # The most recently updated pull request, so the one-day run below re-derives it.
    victim = max(world.github_pulls(repo, world.end), key=lambda p: p["updated_at"])["number"]
    faults = Faults(malformed={f"github:{repo}#{victim}": {"created_at": "last tuesday"}})
    for deployment in deploy(world, tmp_path / "home", faults):
        day = (world.end - timedelta(days=1)).date()
        result = deployment.run(day, day)
        assert result.success
        with duckdb.connect(str(Paths(home=deployment.home).duckdb), read_only=True) as con:
            rows = con.execute("SELECT record_id, reason FROM quarantine").fetchall()
        assert rows == [
            (f"{repo}#{victim}", "created_at is not an ISO-8601 timestamp: last tuesday")
        ]
        materialization = result.asset_materializations_for_node("signals")[0]
        assert materialization.metadata["records_quarantined"].value == 1
        assert materialization.metadata["records_of_unsupported_kinds"].value == 0
        assert materialization.metadata["ordering_violations_by_rule"].value == {}
        check = result.get_asset_check_evaluations()[0]
        assert check.check_name == "quarantine_rate"


def test_running_the_same_partition_twice_changes_nothing(deployment):
    world = deployment.world
    first = (world.start + timedelta(days=30)).date()
    last = first + timedelta(days=1)
    instance = dg.DagsterInstance.ephemeral()
    assert deployment.run(first, last, instance).success
    tables, outbox = _table_digests(deployment.home), _outbox_digest(deployment.home)
    landing_files = sorted(Paths(home=deployment.home).landing.rglob("*.parquet"))
    again = deployment.run(first, last, instance)
    assert again.success
    assert _table_digests(deployment.home) == tables
    assert _outbox_digest(deployment.home) == outbox
    # Nothing new was landed either: the second sync fetched the same versions.
    assert sorted(Paths(home=deployment.home).landing.rglob("*.parquet")) == landing_files
    landed = again.asset_materializations_for_node("github_landing")[0].metadata
    assert landed["records_landed"].value == 0


def test_the_dagster_cli_backfills_a_partition_range_in_one_run(deployment, tmp_path):
    world = deployment.world
    first = (world.end - timedelta(days=3)).date().isoformat()
    last = (world.end - timedelta(days=1)).date().isoformat()
    env = {
        **os.environ,
        "FLOWSYNC_HOME": str(deployment.home),
        "FLOWSYNC_CONFIG": str(deployment.config_file),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    (tmp_path / "dagster").mkdir()
    completed = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "dagster"),
            "asset",
            "materialize",
            "-m",
            "flowsync_pipelines.definitions",
            "--select",
            "*",
            "--partition-range",
            f"{first}...{last}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with duckdb.connect(str(Paths(home=deployment.home).duckdb), read_only=True) as con:
        days = con.execute(
            "SELECT DISTINCT as_of_date::VARCHAR FROM em_team_wip ORDER BY 1"
        ).fetchall()
    assert [d[0] for d in days] == [
        (world.end - timedelta(days=n)).date().isoformat() for n in (3, 2, 1)
    ]
