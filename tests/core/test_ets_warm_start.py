"""ETS's fit starts where the last run's ended: the same maximum-likelihood fit on the current
training part (the same optimum, to the optimiser's tolerance), in fewer iterations; the
parameters go through the store between runs."""

from __future__ import annotations

import numpy as np

from candlecast.core.evaluation.baselines import ETSForecaster
from candlecast.core.market.candles import SeriesKey
from candlecast.core.models.targets import target_series
from candlecast.core.pipeline.candidates import baseline_candidates
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import prepare_series
from candlecast.core.storage.fit_store import FitStore
from candlecast.core.storage.store import Store
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles


def test_a_warm_started_fit_reaches_the_cold_fit_in_fewer_iterations():
    frame = make_candles(601)
    y = target_series(frame, "close")
    before = ETSForecaster(4, seasonal_period=24)
    before.fit(frame.iloc[:600], y.iloc[:600])
    cold = ETSForecaster(4, seasonal_period=24)
    cold.fit(frame.iloc[1:601], y.iloc[1:601])  # the next run: one candle on
    warm = ETSForecaster(4, seasonal_period=24, start_params=before.params)
    warm.fit(frame.iloc[1:601], y.iloc[1:601])
    assert warm.iterations < cold.iterations
    np.testing.assert_allclose(warm.params, cold.params, rtol=0, atol=2e-3)
    origins = list(range(500, 597))
    np.testing.assert_allclose(
        warm.predict_at(frame.iloc[1:], y.iloc[1:], origins),
        cold.predict_at(frame.iloc[1:], y.iloc[1:], origins),
        rtol=1e-3,
    )


def test_baselines_store_the_ets_fit_and_start_the_next_one_from_it(tmp_path):
    config = tiny_config(backtest={"baselines": ["naive", "ets"]})
    plan = SeriesPlan.from_config(config)
    key = SeriesKey("binance", "BTC/USDT", "1h")
    fits = FitStore(Store(f"sqlite:///{tmp_path / 'db.sqlite'}").create().engine)
    frame = make_candles(400)
    baseline_candidates(
        prepare_series(frame.iloc[:399], key, plan), "close", config, plan.folds, fits
    )
    settings = ETSForecaster(4, seasonal_period=24).settings
    stored = fits.params(str(key), "close", "ets", settings)
    assert stored is not None and np.all(np.isfinite(stored))
    assert fits.params(str(key), "close", "ets", "other settings") is None
    again = baseline_candidates(prepare_series(frame, key, plan), "close", config, plan.folds, fits)
    assert np.all(np.isfinite(again["ets"].forecast))
