"""Confidence bands are defined once (``flowsync_pipelines/bands.py``) and read everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from flowsync_pipelines.bands import BAND_ORDER, HIGH, LOWER_BOUNDS, MEDIUM, band, band_expr
from flowsync_pipelines.digest import band as printed_band
from flowsync_pipelines.graph.calibrate import band_report

REPO = Path(__file__).resolve().parent.parent
# A confidence compared with a literal band threshold (0.6 / 0.60 / 0.8 / 0.80).
_LITERAL_THRESHOLD = re.compile(r"confidence\)?\s*>=?\s*0\.[68]0?\b")


def test_thresholds_bound_each_band_inclusively_from_below() -> None:
    assert [band(c) for c in (1.0, HIGH, HIGH - 1e-9, MEDIUM, MEDIUM - 1e-9, 0.0)] == [
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
    ]
    assert [band(LOWER_BOUNDS[b]) for b in BAND_ORDER] == list(BAND_ORDER)


def test_vectorised_and_printed_bands_agree_with_band() -> None:
    grid = [i / 200 for i in range(201)] + [HIGH, MEDIUM]
    frame = pl.DataFrame({"confidence": grid}).with_columns(band_expr().alias("band"))
    assert frame.get_column("band").to_list() == [band(c) for c in grid]
    assert [printed_band(c) for c in grid] == [band(c).capitalize() for c in grid]


def test_band_report_splits_predictions_at_the_shared_thresholds() -> None:
    predicted = pl.DataFrame(
        {"src": ["a", "b", "c", "d"], "dst": ["x"] * 4, "confidence": [HIGH, 0.79, MEDIUM, 0.59]}
    )
    truth = pl.DataFrame({"src": ["a", "c"], "dst": ["x", "x"]})
    report = band_report(predicted, truth)
    assert report.get_column("band").to_list() == list(BAND_ORDER)
    assert report.get_column("predicted").to_list() == [1, 2, 1]
    assert report.get_column("true").to_list() == [1, 1, 0]


def test_no_module_or_query_compares_a_confidence_with_a_literal_band_threshold() -> None:
    own = REPO / "flowsync_pipelines" / "bands.py"
    files = [
        *(REPO / "sql").rglob("*.sql"),
        *(
            p
            for d in ("flowsync_pipelines", "assets", "resources")
            for p in (REPO / d).rglob("*.py")
        ),
    ]
    offenders = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in files
        if path != own
        for line in path.read_text(encoding="utf-8").splitlines()
        if _LITERAL_THRESHOLD.search(line)
    ]
    assert not offenders, "compare with flowsync_pipelines.bands instead:\n" + "\n".join(offenders)
