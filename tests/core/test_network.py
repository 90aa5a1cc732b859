"""Networks: every cell with every head trains, saves, reloads (safe mode) and forecasts."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from candlecast.core.errors import ModelError
from candlecast.core.models.bundle import load_bundle
from candlecast.core.models.deadline import training_deadline
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.models.targets import target_series
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.slow
HEADS = ("seq2vec", "seq2seq", "seq2vec2seq")


def _network(cells, name: str, head: str, **model) -> NetworkForecaster:
    config = tiny_config(model={"head": head, **model})
    cell_config = next(c for c in config.model.cells if c.name == name)
    return NetworkForecaster(cells[name], cells, cell_config, config.model, config.training, "1h")


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cell", ["simple", "lstm", "gru", "bidirectional"])
def test_cell_with_head_trains_saves_reloads_and_forecasts(builtin_cells, tmp_path, cell, head):
    frame = make_candles(220)
    y = target_series(frame, "close")
    network = _network(builtin_cells, cell, head)
    report = network.fit(frame.iloc[:200], y.iloc[:200])
    assert report.epochs >= 1 and np.isfinite(report.train_loss)
    forecast = network.predict_at(frame, y, [199, 210])
    assert forecast.shape == (2, 4)
    assert np.all(np.isfinite(forecast)) and np.all(forecast > 0)
    # a log-return model forecasts near the last price, not somewhere else
    assert np.all(np.abs(forecast[:, 0] / y.to_numpy()[[199, 210]] - 1) < 0.2)
    path = network.save(tmp_path / "model")
    reloaded = NetworkForecaster.load(path, builtin_cells)
    np.testing.assert_allclose(reloaded.predict_at(frame, y, [199, 210]), forecast, rtol=1e-6)


def test_same_seed_same_forecast(builtin_cells):
    frame = make_candles(220)
    y = target_series(frame, "close")
    forecasts = []
    for _ in range(2):
        network = _network(builtin_cells, "gru", "seq2vec")
        network.fit(frame, y)
        forecasts.append(network.predict_at(frame, y, [219]))
    np.testing.assert_allclose(forecasts[0], forecasts[1], rtol=0, atol=1e-6)


def test_volume_target_with_extra_features(builtin_cells):
    frame = make_candles(220)
    y = target_series(frame, "volume")
    network = _network(
        builtin_cells,
        "lstm",
        "seq2vec2seq",
        targets=["volume"],
        features=["calendar", "volume", "trend", "range"],
    )
    assert network.transform.name == "log1p"
    network.fit(frame, y)
    forecast = network.predict_at(frame, y, [219])
    assert forecast.shape == (1, 4) and np.all(forecast > 0)
    assert network.channel_names[0] == "target" and "volume" in network.channel_names


def test_synthetic_candles_get_no_weight(builtin_cells):
    frame = make_candles(220)
    frame.loc[frame.index[100:103], "synthetic"] = True
    network = _network(builtin_cells, "simple", "seq2vec")
    network.fit(frame, target_series(frame, "close"))
    assert network.report.samples < 220  # trained; windows whose targets were filled weigh 0


def test_predict_before_fit_and_bad_inputs_are_clear(builtin_cells):
    frame = make_candles(50)
    y = target_series(frame, "close")
    network = _network(builtin_cells, "lstm", "seq2vec")
    with pytest.raises(ModelError, match="predict before fit"):
        network.predict_at(frame, y, [40])
    with pytest.raises(Exception, match="too short"):
        network.fit(frame.iloc[:10], y.iloc[:10])


def test_a_model_with_a_lambda_layer_is_refused_in_safe_mode(tmp_path):
    import keras

    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "evil.keras"
    model.save(path)
    path.with_suffix(".json").write_text("{}")
    with pytest.raises(ModelError, match="could not be loaded in safe mode"):
        load_bundle(path)


def test_a_corrupt_or_missing_model_file_is_a_model_error(builtin_cells, tmp_path):
    frame = make_candles(120)
    y = target_series(frame, "close")
    network = _network(builtin_cells, "simple", "seq2vec")
    network.fit(frame, y)
    path = network.save(tmp_path / "m")
    with zipfile.ZipFile(path, "a") as archive:  # tamper: a second, different config
        archive.writestr("config.json", "{not json")
    with pytest.raises(ModelError, match="safe mode"):
        NetworkForecaster.load(path, builtin_cells)
    path.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="safe mode"):
        NetworkForecaster.load(path, builtin_cells)
    path.unlink()
    with pytest.raises(ModelError, match="missing"):
        NetworkForecaster.load(path, builtin_cells)


def test_seasonal_lags_are_known_at_the_origin(builtin_cells):
    """Feature "seasonal": one period before each forecast step, never after the origin."""
    frame = make_candles(400)
    y = target_series(frame, "volume")
    network = _network(
        builtin_cells, "gru", "seq2vec", targets=["volume"], features=["calendar", "seasonal"]
    )
    assert network.lag_periods == [24, 168] and network.known == 4 + 2
    network.fit(frame.iloc[:380], y.iloc[:380])
    origin = np.array([300])
    values = y.to_numpy().copy()
    known = network._future_known(frame, origin, values)  # [1, H, 6]
    values[301:] *= 5.0  # the future changes
    np.testing.assert_array_equal(network._future_known(frame, origin, values), known)
    g = np.log1p(y.to_numpy())
    assert network.transform.name == "log1p"  # a level: the lag is the level a day earlier
    expected = g[300 + 1 - 24 : 300 + 5 - 24]  # steps 1..4, a day earlier
    scaler = network.target_scaler
    np.testing.assert_allclose(known[0, :, 4], (expected - scaler.mean) / scaler.std, rtol=1e-9)
    forecast = network.predict_at(frame, y, [380])
    assert forecast.shape == (1, 4) and np.all(forecast > 0)


def test_weights_do_not_depend_on_other_users_of_python_random(builtin_cells):
    """Another thread drawing from Python's global `random` between seeding and building (as
    Prefect's event client does) must not change the initial weights."""
    import random

    from candlecast.core.models.training import seed_everything

    weights = []
    for draws in (0, 7):
        network = _network(builtin_cells, "lstm", "seq2vec")
        seed_everything(network.training.seed)
        for _ in range(draws):
            random.random()
        network.build(channels=5)
        weights.append([w.copy() for w in network.keras_model.get_weights()])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_each_model_is_traced_once_for_any_batch_and_tensorflow_never_warns(builtin_cells, caplog):
    """Six models forecasting batches of 1 to 40 origins: one graph trace per model, and
    TensorFlow's frequent-retracing warning (a run printed four) never fires."""
    import logging

    frame = make_candles(220)
    y = target_series(frame, "close")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for cell, head in [(c, h) for c in ("simple", "gru") for h in HEADS]:
            network = _network(builtin_cells, cell, head, window=8)
            network.fit(frame.iloc[:150], y.iloc[:150])
            for origins in ([149], list(range(150, 190)), [200, 219]):
                assert network.predict_at(frame, y, origins).shape == (len(origins), 4)
            (graph,) = network._compiled[1].values()
            assert graph.experimental_get_tracing_count() == 1, (cell, head)
    assert [r.getMessage() for r in caplog.records if "retracing" in r.getMessage()] == []


def test_a_trained_network_keeps_no_training_graph_and_is_freed_when_dropped(builtin_cells):
    """A run keeps its trained networks (128 in a 16-series run): only the weights and the
    inference graph stay, TensorFlow's gradient registry keeps nothing of the training, and a
    network no one holds any more is freed with its graphs (a serving process lets go of models
    its cache evicted)."""
    import gc
    import weakref

    from tensorflow.python.framework import ops

    def custom_gradients() -> set[str]:  # TensorFlow's process-wide gradient registry
        return {n for n in ops._gradient_registry.list() if n.startswith("CustomGradient-")}

    frame = make_candles(220)
    y = target_series(frame, "close")
    registered = custom_gradients()
    network = _network(builtin_cells, "gru", "seq2vec")
    network.fit(frame, y)
    forecast = network.predict_at(frame, y, [199, 210])
    model = network.keras_model
    assert model.train_function is None and model.test_function is None
    assert custom_gradients() == registered  # the traced step's gradient functions are gone
    np.testing.assert_allclose(network.predict_at(frame, y, [199, 210]), forecast)
    network.fit(frame, y, warm=True)  # a warm start traces its step again
    released = weakref.ref(model)
    del network, model
    gc.collect()
    assert released() is None


def test_a_training_past_its_deadline_stops_itself_cleanly(builtin_cells):
    """`orchestration.train_timeout_s` stops the training from inside (after a batch), never
    by an exception thrown into TensorFlow; the next training in the process is unharmed."""
    frame = make_candles(220)
    y = target_series(frame, "close")
    _network(builtin_cells, "gru", "seq2vec").fit(frame, y)  # TensorFlow loaded and warm
    config = tiny_config(training={"epochs": 10_000, "patience": 10_000})
    cell = next(c for c in config.model.cells if c.name == "gru")
    network = NetworkForecaster(
        builtin_cells["gru"], builtin_cells, cell, config.model, config.training, "1h"
    )
    with training_deadline(3), pytest.raises(TimeoutError, match=r"the 3 s limit passed in epoch"):
        network.fit(frame, y)
    with training_deadline(0), pytest.raises(TimeoutError, match="before the training started"):
        _network(builtin_cells, "lstm", "seq2vec").fit(frame, y)
    after = _network(builtin_cells, "gru", "seq2vec")
    with training_deadline(None):
        report = after.fit(frame, y)
    assert report.epochs >= 1 and np.isfinite(after.predict_at(frame, y, [219])).all()
