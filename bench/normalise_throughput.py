"""Normalise 1 million mixed GitHub and Jira records from landing to signals (issue targets:
≥ 50,000 events/s on 2 cores, peak RSS < 4 GiB), against the parse-only lower bound.

Builds a landing frame of N records sampled from the demo world (pull requests ~13 KB, reviews
~3 KB, commits ~4 KB, workflow runs ~7 KB, Jira issues with changelog 2–20 KB), each with a
distinct record id, then times:
  * ``polars.read_ndjson`` of the same payloads (parse only: the floor), and
  * ``normalise()`` (decode, validate, pseudonymise, events, HLC, ordering checks).

    .venv/bin/python bench/normalise_throughput.py [--records 1000000]
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.simulator import build_world


def sample_records(limit: int) -> list[tuple[str, str, str, dict]]:
    world = build_world()
    end, repos = world.end, world.github_repos()
    out: list[tuple[str, str, str, dict]] = []
    for repo in repos:
        for pull in world.github_pulls(repo, end):
            out.append(("github", "pulls", repo, pull))
            out += [
                ("github", "reviews", repo, r)
                for r in world.github_reviews(repo, pull["number"], end)
            ]
        out += [("github", "commits", repo, c) for c in world.github_commits(repo, end)]
        out += [("github", "workflow_runs", repo, r) for r in world.github_workflow_runs(repo, end)]
    out += [("jira", "issues", "PLAT", i) for i in world.jira_issues(end)]
    return out[:limit]


# The field that makes each replica a distinct entity (so events do not collapse by event id).
IDENTITY = {"pulls": "number", "reviews": "id", "commits": "sha", "workflow_runs": "id"}


def _replica(kind: str, payload: dict, rep: int) -> dict:
    if rep == 0:
        return payload
    if kind == "issues":
        return {**payload, "key": f"{payload['key']}{rep:03d}"}
    field = IDENTITY[kind]
    value = payload[field]
    return {
        **payload,
        field: value + rep * 1_000_000 if isinstance(value, int) else f"{value}{rep}",
    }


def build_landing(n: int, store: LandingStore, batch: int = 50_000) -> None:
    """Land ``n`` distinct records (replicas of the demo's, re-identified) into ``store``."""
    samples = sample_records(n)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    pending: dict[str, list[FetchedRecord]] = {"github": [], "jira": []}
    for i in range(n):
        source, kind, scope, payload = samples[i % len(samples)]
        rep = i // len(samples)
        record = FetchedRecord(kind, scope, f"{kind}-{i}", None, _replica(kind, payload, rep), "b")
        pending[source].append(record)
        if len(pending[source]) >= batch:
            store.append(landing_frame(source, pending[source], fetched_at=at))
            pending[source] = []
    for source, records in pending.items():
        if records:
            store.append(landing_frame(source, records, fetched_at=at))


def _batches(root: Path) -> Iterator[pl.DataFrame]:
    """Each landed batch file on its own, as partition runs read them: memory stays flat."""
    for path in sorted(root.rglob("*.parquet")):
        source, kind = path.parent.parent.name[len("source=") :], path.parent.name[len("kind=") :]
        frame = pl.read_parquet(path)
        yield frame.with_columns(pl.lit(source).alias("source"), pl.lit(kind).alias("kind"))


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def phase(name: str, root: Path, records: int) -> None:
    """One measured phase, run in its own process so its peak RSS is its own."""
    started = time.perf_counter()
    if name == "build":
        build_landing(records, LandingStore(root))
        print(f"landed {records:,} records in {time.perf_counter() - started:.0f} s")
        return
    if name == "parse":
        # The floor: each batch (one source and kind) parsed as one NDJSON document.
        for frame in _batches(root):
            text = "\n".join(frame.get_column("payload").to_list())
            pl.read_ndjson(io.StringIO(text), infer_schema_length=100)
        seconds = time.perf_counter() - started
        print(f"parse_seconds={seconds:.3f}")
        print(
            f"polars.read_ndjson (parse only): {records / seconds:,.0f} records/s ({seconds:.1f} s)"
        )
    else:
        events = 0
        for frame in _batches(root):
            events += normalise(frame, pseudonym_key="bench").signals.height
        seconds = time.perf_counter() - started
        print(f"normalise_seconds={seconds:.3f}")
        print(
            f"normalise: {records / seconds:,.0f} records/s, {events / seconds:,.0f} events/s "
            f"({events:,} events in {seconds:.1f} s)"
        )
    print(f"  peak RSS of this phase: {_peak_rss_gib():.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--phase", choices=["build", "parse", "normalise"])
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.phase:
        phase(args.phase, args.root, args.records)
        return
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {}
        for name in ("build", "parse", "normalise"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--phase",
                    name,
                    "--root",
                    tmp,
                    "--records",
                    str(args.records),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            print(out, end="")
            for line in out.splitlines():
                if "_seconds=" in line:
                    seconds[name] = float(line.split("=")[1])
        print(f"normalise time / parse-only time: {seconds['normalise'] / seconds['parse']:.2f}")


if __name__ == "__main__":
    main()
