"""The statements asset's audit hook and ``flowsync verify``'s re-derivation on a demo home.

    .venv/bin/python bench/audit_pipeline.py --home DIR

``DIR`` is a FlowSync home the demo ran in (``flowsync demo``; the 60 days). Its warehouse and
landing are only read; the audit log is written to a fresh SQLite file in a temporary directory.
Times: the landing evidence of every statement (DuckDB over the landing Parquet files), the
entries built and appended in one batch, the re-run that appends nothing, then ``verify``'s
chain check and the re-derivation of every statement and digest entry from landing.
Needs ``FLOWSYNC_PSEUDONYM_KEY`` (the home's ``secrets.env``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flowsync_pipelines import statements as st
from flowsync_pipelines import warehouse
from flowsync_pipelines.audit import AuditLog, VerifyContext, rederive_log, verify_log
from flowsync_pipelines.audit.verify import load_rederivers
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.settings import Paths
from flowsync_pipelines.statements.audit import landing_evidence, statement_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args()
    paths = Paths(home=args.home)
    secrets = args.home / "secrets.env"
    if "FLOWSYNC_PSEUDONYM_KEY" not in os.environ and secrets.exists():
        for line in secrets.read_text().splitlines():
            if line.startswith("FLOWSYNC_PSEUDONYM_KEY="):
                os.environ["FLOWSYNC_PSEUDONYM_KEY"] = line.split("=", 1)[1].strip()
    with warehouse.connect(paths.duckdb, read_only=True) as con:
        first, last = con.execute(
            "SELECT min(as_of_date), max(as_of_date) FROM statements"
        ).fetchone()
        frame = st.read(con, first, last + timedelta(days=1))
        clock = time.perf_counter()
        evidence = landing_evidence(con, frame, paths.landing)
        evidenced = time.perf_counter() - clock
    with tempfile.TemporaryDirectory(prefix="audit-pipeline-bench-") as tmp:
        store = MetadataStore(f"sqlite:///{Path(tmp) / 'metadata.sqlite'}")
        log = AuditLog(store.engine, Ed25519PrivateKey.generate())
        clock, cpu = time.perf_counter(), time.process_time()
        items = statement_items(frame, evidence)
        built = time.perf_counter() - clock
        appended = len(log.append_many(items, only_changed=True))
        total, cpu = time.perf_counter() - clock, time.process_time() - cpu
        clock = time.perf_counter()
        again = len(log.append_many(statement_items(frame, evidence), only_changed=True))
        rerun = time.perf_counter() - clock
        print(f"statements       : {frame.height:,} rows, {evidence.height:,} cited events")
        print(
            f"audit hook       : landing evidence {evidenced:.2f} s; entries built {built:.2f} s; "
            f"{appended:,} appended in {total:.2f} s = {appended / total:,.0f} entries/s "
            f"(target ≥ 5,000/s), CPU {cpu:.2f} s = {appended / cpu:,.0f} entries/CPU-second; "
            f"re-run appended {again} in {rerun:.2f} s"
        )
        clock = time.perf_counter()
        report = verify_log(store.engine)
        chain = time.perf_counter() - clock
        load_rederivers()
        clock = time.perf_counter()
        derived = rederive_log(store.engine, VerifyContext(engine=store.engine, home=args.home))
        rederived = time.perf_counter() - clock
        print(
            f"verify --all     : chain and signatures {chain:.2f} s ({report.entries:,} entries, "
            f"{'OK' if report.ok else 'FAILED'}); {derived.rederived:,} statements re-derived "
            f"from landing in {rederived:.2f} s, "
            f"{'OK' if derived.ok else f'{len(derived.problems)} problems'}"
        )
        for problem in derived.problems[:5]:
            print(f"  {problem}")
        print(f"load average     : {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        store.dispose()


if __name__ == "__main__":
    main()
