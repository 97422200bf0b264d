"""Refactors change no output: a fixed-seed demo run's tables, landing and outbox hash to the
recorded digest (``tests/data/demo_output_digest.json``; see ``tests.output_digest`` to
regenerate it when behaviour changes on purpose)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.output_digest import RECORDED, content_digest, run_fixed_demo


def test_fixed_seed_demo_output_matches_the_recorded_digest(tmp_path: Path) -> None:
    recorded = json.loads(RECORDED.read_text())
    produced = content_digest(run_fixed_demo(tmp_path / "home"))
    changed = {
        part: {"recorded": recorded.get(part), "produced": produced.get(part)}
        for part in sorted(set(recorded) | set(produced))
        if recorded.get(part) != produced.get(part)
    }
    assert not changed, (
        "output differs from the recorded digest (run `python -m tests.output_digest --write` "
        f"only if the change is intended): {json.dumps(changed, indent=1)}"
    )
    assert produced["landing"]["rows"] > 0 and produced["duckdb:main.statements"]["rows"] > 0
