"""Landing throughput from sandbox pages, excluding network waits (target ≥ 20,000 records/s).

Takes real page items from the demo world (GitHub pulls, reviews, commits, workflow runs; Jira
issues with changelog),
replicates them into N records with distinct ids, and times what landing does per batch:
canonical JSON, sha256, the Arrow frame, de-duplication against what is already landed, and
the fsync'd Parquet write. A second pass over the same records measures the no-change path.

    .venv/bin/python bench/landing_throughput.py [--records 200000] [--batch 5000] [--heaviest]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.simulator import build_world


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--heaviest", action="store_true", help="only ~13 KB pull requests")
    args = parser.parse_args()

    world = build_world()
    end, repos = world.end, world.github_repos()
    # The mix a full sync of the demo lands (pull requests with their embedded repositories are
    # the heaviest records at ~13 KB; reviews and commits are a few KB).
    samples = [("pulls", p) for r in repos for p in world.github_pulls(r, end)]
    samples += [
        ("reviews", v)
        for r in repos
        for p in world.github_pulls(r, end)
        for v in world.github_reviews(r, p["number"], end)
    ]
    samples += [("commits", c) for r in repos for c in world.github_commits(r, end)]
    samples += [("workflow_runs", c) for r in repos for c in world.github_workflow_runs(r, end)]
    samples += [("issues", i) for i in world.jira_issues(end)]
    if args.heaviest:
        samples = [s for s in samples if s[0] == "pulls"]
    records = [
        FetchedRecord(kind, "bench", f"{kind}-{n}", "2026-10-30T10:00:00Z", payload, "bench")
        for n, (kind, payload) in zip(
            range(args.records), samples * (args.records // len(samples) + 1), strict=False
        )
    ]
    size = sum(len(str(p)) for _, p in samples) / len(samples)
    print(
        f"{len(records):,} records, mean payload ≈ {size / 1024:.1f} KB, batches of {args.batch:,}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        store = LandingStore(Path(tmp) / "landing")
        for label in ("first landing", "re-landing (all duplicates)"):
            started = time.perf_counter()
            landed = 0
            for i in range(0, len(records), args.batch):
                frame = landing_frame(
                    "bench", records[i : i + args.batch], fetched_at=datetime.now(UTC)
                )
                landed += store.append(frame).height
            seconds = time.perf_counter() - started
            rate = len(records) / seconds
            print(f"{label}: {rate:,.0f} records/s ({seconds:.1f} s, {landed:,} landed)")


if __name__ == "__main__":
    main()
