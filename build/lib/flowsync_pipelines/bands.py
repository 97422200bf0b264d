"""Confidence bands, defined once: High ≥ 0.80, Medium 0.60–0.80, Low < 0.60.

Every user — graph edges, statements, role views (through SQL parameters), digests, delivery
subscriptions and calibration reports — reads the thresholds and the band names from here.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

Band = Literal["high", "medium", "low"]

HIGH = 0.80
MEDIUM = 0.60
# Most confident first: a subscription's ``min_band`` shows its band and those before it.
BAND_ORDER: tuple[Band, ...] = ("high", "medium", "low")
# Each band's lower bound (inclusive); the band above starts where it ends.
LOWER_BOUNDS: dict[Band, float] = {"high": HIGH, "medium": MEDIUM, "low": 0.0}


def band(confidence: float) -> Band:
    """``high`` / ``medium`` / ``low`` for a confidence in [0, 1].

    >>> band(0.8), band(0.6), band(0.59)
    ('high', 'medium', 'low')
    """
    if confidence >= HIGH:
        return "high"
    return "medium" if confidence >= MEDIUM else "low"


def band_expr(column: str = "confidence") -> pl.Expr:
    """The same banding as :func:`band`, vectorised over a Polars column."""
    c = pl.col(column)
    return (
        pl.when(c >= HIGH)
        .then(pl.lit("high"))
        .when(c >= MEDIUM)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def at_least(band_name: str, min_band: str) -> bool:
    """Whether ``band_name`` (any case) is at least as confident as ``min_band``."""
    return BAND_ORDER.index(band_name.lower()) <= BAND_ORDER.index(min_band.lower())


def sql_params() -> dict[str, float]:
    """The thresholds as the ``$band_high`` / ``$band_medium`` parameters SQL files band with."""
    return {"band_high": HIGH, "band_medium": MEDIUM}
