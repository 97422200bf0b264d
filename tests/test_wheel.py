"""A wheel built from the project installs into a fresh virtualenv and works outside the checkout:
it carries every SQL, Cypher, template and Dagster instance file, the product's own loaders find
them there, and ``flowsync demo --days 3`` runs from it with no environment prepared."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from flowsync_pipelines import warehouse
from flowsync_pipelines.graph.neo4j_sync import cypher
from flowsync_pipelines.metastore import head_revision
from flowsync_pipelines.packaged import SHIPPED

REPO = Path(__file__).resolve().parent.parent
# Top-level folders a build does not need (the Neo4j jars alone are ~120 MB).
_NOT_BUILT = {".git", ".venv", "data", "tools", "tests", "bench", "build", ".hypothesis"}
_PIP = (sys.executable, "-m", "pip", "--quiet", "--no-input")
# Nothing is fetched: no dependencies (this environment has them) and no index.
_OFFLINE = ("--no-deps", "--no-index")
_CACHES = ("__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", ".dagster_home")

# Run by the installed package's interpreter, from a directory with no checkout in sight.
_PROBE = """
import json
from pathlib import Path

import flowsync_pipelines
from flowsync_pipelines import warehouse
from flowsync_pipelines.digest import _env
from flowsync_pipelines.graph.neo4j_sync import CYPHER_DIR, cypher
from flowsync_pipelines.instance import instance_yaml
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.metastore import current_revision
from flowsync_pipelines.metastore.migrate import MIGRATIONS_DIR

with warehouse.connect(Path("probe.duckdb")) as con:
    tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
store = MetadataStore("sqlite:///probe-metadata.sqlite")  # migrated to head from the wheel
print(json.dumps({
    "migrations": str(MIGRATIONS_DIR),
    "metastore_revision": current_revision(store.engine),
    "package": flowsync_pipelines.__file__,
    "sql_dir": str(warehouse.SQL_DIR),
    "cypher_dir": str(CYPHER_DIR),
    "instance": str(instance_yaml()),
    "tables": [t for (t,) in tables],
    "constraints": list(cypher("constraints")),
    "template": _env.get_template("digest.md.j2").filename,
}))
"""


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = set(shutil.ignore_patterns(*_CACHES)(directory, names))
    return ignored | (_NOT_BUILT & set(names) if Path(directory) == REPO else set())


def _expected_members() -> set[str]:
    """Every query, Cypher file, template and instance file of the tree, as a wheel path."""
    members = set()
    for name in SHIPPED:
        source = REPO / name
        files = [p for p in source.rglob("*") if p.is_file()] if source.is_dir() else [source]
        members |= {f"flowsync_pipelines/{p.relative_to(REPO).as_posix()}" for p in files}
    templates = REPO / "flowsync_pipelines" / "templates"
    members |= {p.relative_to(REPO).as_posix() for p in templates.rglob("*") if p.is_file()}
    return members


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=_ignore)
    # No build isolation and no index: the dev environment holds the build backend.
    build = subprocess.run(
        [*_PIP, "wheel", *_OFFLINE, "--no-build-isolation", "-w", str(root / "dist"), str(source)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (built,) = (root / "dist").glob("flowsync-*.whl")
    return built


def test_the_wheel_carries_every_query_cypher_template_and_instance_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = _expected_members()
    assert any(n.endswith(".sql") for n in expected) and any(
        n.endswith(".cypher") for n in expected
    )
    assert expected - names == set()


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed (not editable), and its dependencies resolved
    by uv from the index (or uv's cache) as a user's install would: its ``bin`` directory."""
    uv = Path(sys.executable).parent / "uv"  # the Makefile installs uv into the dev venv
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    python = str(venv / "bin" / "python")
    for command in (
        [str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)],
        [str(uv), "pip", "install", "--quiet", "--python", python, str(wheel)],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    """No environment prepared by the Makefile or the tests: no FlowSync or Dagster variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLOWSYNC_", "DAGSTER_"))}


def test_the_installed_wheel_reads_its_own_sql_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    probe = subprocess.run(
        [str(installed / "python"), "-c", _PROBE],
        cwd=work,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.splitlines()[-1])

    site = installed.parent / "lib"
    for key in ("package", "sql_dir", "cypher_dir", "instance", "template", "migrations"):
        assert Path(found[key]).is_relative_to(site), (key, found[key])
    with warehouse.connect(tmp_path / "checkout.duckdb") as con:
        tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    assert found["tables"] == [t for (t,) in tables] and found["tables"]
    assert found["constraints"] == list(cypher("constraints"))
    assert found["metastore_revision"] == head_revision()


def test_the_installed_wheel_runs_the_demo_with_nothing_prepared(
    installed: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    demo = subprocess.run(
        [str(installed / "flowsync"), "demo", "--days", "3", "--home", str(home)],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "[4/4] done" in demo.stdout
    assert (home / "dagster" / "dagster.yaml").is_file()  # the run was recorded under the home
    assert list((home / "outbox").glob("*/*.md")), "no digest was written"
    with warehouse.connect(home / "flowsync.duckdb", read_only=True) as con:
        (signals,) = con.execute("SELECT count(*) FROM signals").fetchone()
    assert signals > 0
