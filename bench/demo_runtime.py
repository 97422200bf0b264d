"""How long `make demo` takes after installation (target: < 3 minutes on 2 cores).

Runs `flowsync demo` in a fresh FLOWSYNC_HOME as a subprocess (so interpreter start-up and
imports count, as they do for a user) and prints wall time per run.

    .venv/bin/python bench/demo_runtime.py [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    flowsync = Path(sys.executable).parent / "flowsync"
    timings = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "DAGSTER_HOME": f"{tmp}/dagster", "FLOWSYNC_HOME": f"{tmp}/data"}
            subprocess.run(
                [str(flowsync), "instance", "--home", f"{tmp}/dagster"], env=env, check=True
            )
            started = time.perf_counter()
            subprocess.run(
                [str(flowsync), "demo", "--home", f"{tmp}/data", "--port", "0"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            timings.append(time.perf_counter() - started)
            print(f"run {run + 1}: flowsync demo took {timings[-1]:.1f} s")
    print(f"best {min(timings):.1f} s, worst {max(timings):.1f} s (target < 180 s)")


if __name__ == "__main__":
    main()
