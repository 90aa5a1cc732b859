"""The realised coverage of published forecasts: each earlier run's bands against the candles
that closed since."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.pipeline.realised import published_coverage
from candlecast.core.report.tables import realised_table
from candlecast.core.results import TargetOutcome
from tests.fixtures.series import make_candles


def _published(candles: pd.DataFrame, issued: int, width: float) -> pd.DataFrame:
    """A naive forecast of the close from candle `issued`, four steps, bands of ±width."""
    origin = candles.index[issued]
    value = float(candles["close"].iloc[issued])
    times = pd.date_range(origin, periods=5, freq="h")[1:]
    return pd.DataFrame(
        {
            "target_time": times,
            "issued_at": origin,
            "step": [1, 2, 3, 4],
            "value": value,
            "lower_80": value - width,
            "upper_80": value + width,
            "lower_95": value - 3 * width,
            "upper_95": value + 3 * width,
        }
    )


def test_published_bands_are_scored_against_the_candles_that_closed():
    candles = make_candles(300, seed=5)
    published = pd.concat([_published(candles, i, 0.5) for i in range(250, 300, 4)])
    table = published_coverage(published, candles, "close")
    # 13 issues from candle 250 on, 4 apart: the last (298) has one step due, the others all four
    closes = candles["close"]
    due = published[pd.to_datetime(published["target_time"]).isin(closes.index)]
    assert table.loc[0.8, "n"] == len(due) == 12 * 4 + 1
    inside = (
        (closes.reindex(due["target_time"]).to_numpy() >= due["lower_80"].to_numpy())
        & (closes.reindex(due["target_time"]).to_numpy() <= due["upper_80"].to_numpy())
    ).mean()
    assert table.loc[0.8, "coverage"] == pytest.approx(inside)
    assert table.loc[0.95, "coverage"] >= table.loc[0.8, "coverage"]
    assert table.loc[0.8, "below"] + table.loc[0.8, "above"] == pytest.approx(1 - inside)
    assert table.loc[0.8, "mean_width"] == pytest.approx(1.0)
    html = realised_table(TargetOutcome("close", realised=table))
    assert "<th>steps due</th>" in html and ">80%<" in html


def test_nothing_due_or_published_is_none():
    candles = make_candles(100, seed=6)
    assert published_coverage(pd.DataFrame(), candles, "close") is None
    future = _published(candles, 99, 1.0)  # every step after the newest candle
    assert published_coverage(future, candles, "close") is None
    old = _published(candles, 10, 1.0)  # due, but older than the window
    assert published_coverage(old, candles, "close", window=pd.Timedelta(days=1)) is None
    assert np.isfinite(published_coverage(old, candles, "close").loc[0.8, "coverage"])
    assert "No published forecast" in realised_table(TargetOutcome("close"))
