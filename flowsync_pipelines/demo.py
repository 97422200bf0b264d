"""``flowsync demo``: the whole pipeline on the simulated organisation, end to end.

Builds the seeded world, serves it from the local sandboxes, writes a ``flowsync.yaml`` pointing
at them (plus a generated pseudonymisation key), then materialises every asset over the demo's
days in one backfill run — through the same connectors that talk to the real tools.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import yaml

from flowsync_pipelines.audit.keys import generate_signing_key
from flowsync_pipelines.env import (
    CONFIG_ENV,
    DAGSTER_HOME_ENV,
    HOME_ENV,
    PSEUDONYM_KEY_ENV,
    SIGNING_KEY_ENV,
)
from flowsync_pipelines.instance import prepare_dagster_home
from flowsync_pipelines.sandbox import Sandbox, SandboxServer
from flowsync_pipelines.sandbox.app import TOOLS
from flowsync_pipelines.settings import Paths
from flowsync_pipelines.simulator import DEMO, Conventions, World, build_world
from flowsync_pipelines.simulator.world import DEFAULT_START

# The sandboxes check that a token is sent, not its value; real deployments set real ones.
DEMO_TOKENS = {
    name: f"sandbox-{name.split('_')[0].lower()}-token"
    for name in (
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "JIRA_TOKEN",
        "LINEAR_API_KEY",
        "SENTRY_TOKEN",
        "FIGMA_TOKEN",
        "JENKINS_TOKEN",
        "CIRCLECI_TOKEN",
        "PAGERDUTY_TOKEN",
    )
}
SANDBOX_TOOLS = TOOLS  # every tool the sandboxes speak


@dataclass(frozen=True)
class DemoResult:
    home: Path
    duckdb: Path
    outbox: Path
    digests: int
    seconds: float
    run_id: str
    previews: list = field(default_factory=list)  # delivery.preview.Preview, one per role


def write_demo_config(
    world: World, base_urls: dict[str, str], home: Path, tools: Collection[str] = SANDBOX_TOOLS
) -> Path:
    """Write the demo organisation's ``flowsync.yaml`` (sources served by the sandbox; only
    ``tools`` of them)."""
    config = world.config({k: v for k, v in base_urls.items() if k in tools})
    path = home / "flowsync.yaml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def ensure_secrets(home: Path) -> dict[str, str]:
    """Load ``secrets.env`` into the environment, generating on first use the pseudonym key and
    the audit log's Ed25519 signing key."""
    path = home / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                name, value = line.split("=", 1)
                values[name.strip()] = value.strip()
    values.setdefault(PSEUDONYM_KEY_ENV, secrets.token_hex(32))
    values.setdefault(SIGNING_KEY_ENV, generate_signing_key())
    for name, value in DEMO_TOKENS.items():
        values.setdefault(name, value)
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Demo secrets. Generated once; keep private. Loaded by `flowsync demo` and `make dev`.\n"
        + "".join(f"{k}={v}\n" for k, v in sorted(values.items()))
    )
    path.chmod(0o600)
    os.environ.update(values)
    return values


def run_demo(
    home: Path,
    *,
    days: int = 60,
    seed: int = 7,
    port: int = 0,
    instance: dg.DagsterInstance | None = None,
    progress: Callable[[str], None] = print,
    conventions: Conventions = DEMO,
    upstream_of: str | None = None,
    start: datetime | None = None,
    tools: Collection[str] = SANDBOX_TOOLS,
) -> DemoResult:
    """Run the demo into ``home`` and return where its outputs are.

    ``conventions`` are the simulated organisation's habits (``simulator.conventions``): the
    demo's by default, or e.g. ``HELD_OUT`` to run the pipeline on an organisation whose
    conventions no model was trained on. Its ``flowsync.yaml`` follows them (no members when
    they are not configured, Sentry projects by their slugs). ``upstream_of`` names an asset:
    only what it depends on is materialised (the link-label tool builds the graph itself, with
    models it is still fitting). ``tools``: the sources configured (all the sandboxes serve by
    default; benches of what reads only the trackers configure those).
    """
    started = time.perf_counter()
    home = home.resolve()
    paths = Paths(home=home)
    progress(
        f"[1/4] simulating the demo organisation ({days} days, seed {seed}, "
        f"conventions {conventions.name})"
    )
    world = build_world(seed=seed, days=days, conventions=conventions, start=start or DEFAULT_START)
    (home / "demo").mkdir(parents=True, exist_ok=True)
    # Ground truth is for measuring accuracy; no pipeline code reads it.
    world.write_ground_truth(home / "demo" / "ground_truth.json")
    ensure_secrets(home)

    with SandboxServer(Sandbox(world), port=port) as server:
        progress(f"[2/4] sandboxes serving {', '.join(SANDBOX_TOOLS)} at {server.url}")
        config_file = write_demo_config(world, server.base_urls(), home, tools)
        os.environ[HOME_ENV] = str(home)
        os.environ[CONFIG_ENV] = str(config_file)

        from flowsync_pipelines.definitions import build_definitions

        defs = build_definitions(home=home, config_file=config_file)
        first = world.start.date().isoformat()
        last = (world.end - timedelta(days=1)).date().isoformat()
        progress(f"[3/4] materialising every asset for {first} … {last} in one backfill run")
        job = defs.resolve_job_def("daily_refresh")
        if instance is None and not os.environ.get(DAGSTER_HOME_ENV):
            # Like the Makefile: the run is recorded under the home, so a plain
            # `flowsync demo --home DIR` (an installed wheel, no make) needs nothing prepared.
            os.environ[DAGSTER_HOME_ENV] = str(prepare_dagster_home(home / "dagster").parent)
        instance = instance or dg.DagsterInstance.get()
        selection = None
        if upstream_of is not None:
            selection = list(
                dg.AssetSelection.assets(upstream_of)
                .upstream(include_self=False)
                .resolve(defs.resolve_asset_graph())
            )
        result = job.execute_in_process(
            instance=instance,
            asset_selection=selection,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
    digests = sorted(paths.outbox.glob("*/*.md"))
    previews = []
    if upstream_of is None and result.success:
        previews = preview_digests(home, config_file, (world.end - timedelta(days=1)).date())
    progress(f"[4/4] done in {time.perf_counter() - started:.1f} s")
    return DemoResult(
        home=home,
        duckdb=paths.duckdb,
        outbox=paths.outbox,
        digests=len(digests),
        seconds=time.perf_counter() - started,
        run_id=result.run_id,
        previews=previews,
    )


def preview_digests(home: Path, config_file: Path, last_day: date) -> list:
    """Every role's digest of ``last_day`` rendered for every channel under ``demo/digests``
    (what would be sent; the demo has no Slack, SMTP or Teams to send to)."""
    from flowsync_pipelines.delivery.preview import write_previews
    from flowsync_pipelines.metadata import MetadataStore
    from flowsync_pipelines.settings import load_config
    from flowsync_pipelines.warehouse import connect

    paths = Paths(home=home)
    store = MetadataStore(f"sqlite:///{paths.metadata}")
    try:
        with connect(paths.duckdb, read_only=True) as con:
            return write_previews(
                con,
                load_config(config_file),
                last_day,
                home / "demo" / "digests",
                pseudonym_key=os.environ[PSEUDONYM_KEY_ENV],
                resolve=store.resolve,
            )
    finally:
        store.dispose()
