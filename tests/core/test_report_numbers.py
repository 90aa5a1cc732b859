"""What the Prefect artifacts show: prices as prices, leaderboard metrics as numbers, and a
reason shared by several models said once."""

from __future__ import annotations

import math

import pytest

from candlecast.core.config import build_config
from candlecast.core.pipeline.candidates import baseline_candidates
from candlecast.core.pipeline.evaluate import evaluate
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import prepare_series
from candlecast.core.report import series_markdown
from candlecast.core.report.numbers import metric_value, price_text
from candlecast.core.report.summary import leaderboard_rows, run_markdown
from tests.fixtures.results import KEY, forecast_frame, make_outcome, make_results
from tests.fixtures.series import make_candles


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (36850.37, "36,850.37"),
        (36850.374999, "36,850.37"),
        (1_234_567.891, "1,234,567.89"),
        (101.5, "101.500"),
        (1.2345678, "1.23457"),
        (0.000123456, "0.000123456"),
        (-4.5, "-4.50000"),
        (0, "0.00"),
        (float("nan"), "–"),
        (None, "–"),
        ("x", "–"),
    ],
)
def test_prices_keep_their_digits_and_never_turn_into_exponents(value, text):
    assert price_text(value) == text


def test_metrics_are_rounded_numbers_and_missing_ones_none():
    assert metric_value(0.912345) == 0.9123
    assert metric_value(12.345678) == 12.35
    assert metric_value(0.8, 3) == 0.8
    assert metric_value(float("nan")) is None and metric_value(None) is None
    assert metric_value(0.0) == 0.0


def _at_price(level: float):
    """A run whose forecasts are around `level` (bands ±1 and ±2, as the fixture makes)."""
    outcome = make_outcome()
    for model in outcome.targets["close"].models.values():
        model.forecast = forecast_frame(outcome.origin, level)
    return make_results(series=(outcome,)), outcome


def test_the_run_and_series_summaries_show_intervals_as_prices():
    results, outcome = _at_price(36850.0)
    run_text = run_markdown(results)
    series_text = series_markdown(results, outcome, "close")
    for text in (run_text, series_text):
        assert "e+0" not in text
        assert "| 36,851.00 | 36,850.00 – 36,852.00 | 36,849.00 – 36,853.00 |" in text


def test_the_leaderboard_artifact_holds_numbers():
    results, _ = _at_price(36850.0)
    rows = leaderboard_rows(results)
    assert [row["model"] for row in rows] == ["lstm", "naive", "drift"]
    lstm = rows[0]
    assert lstm["champion"] is True
    assert lstm["MASE"] == 0.9 and lstm["MAE/naive"] == 0.9 and lstm["sMAPE %"] == 0.45
    assert lstm["coverage 80"] == 0.8 and lstm["coverage 95"] == 0.95
    for row in rows:
        for column in ("MASE", "MAE/naive", "sMAPE %", "direction", "coverage 80"):
            assert isinstance(row[column], float) and math.isfinite(row[column])


def test_too_few_origins_for_intervals_is_said_once_for_every_model_it_concerns():
    config = build_config(
        {
            "model": {"window": 12, "horizon": 4, "targets": ["close"]},
            "backtest": {
                "origins_per_fold": 20,
                "step": 2,
                "baselines": ["naive", "seasonal_naive", "drift"],
            },
        }
    )
    plan = SeriesPlan.from_config(config)
    prepared = prepare_series(make_candles(400), KEY, plan)
    candidates = baseline_candidates(prepared, "close", config, plan.folds)
    notes = evaluate(prepared, "close", candidates, config, plan).notes
    assert notes == [
        "no intervals for naive, seasonal_naive, drift: 95% intervals need at least 39 "
        "backtest residuals per horizon step; step 1 has 20. Backtest more origins (more "
        "folds or origins per fold, or a smaller step)"
    ]
