"""Shared graphs (core.models.shared): a registered network loaded through its architecture's
template forecasts exactly as the same file loaded on its own, its weights read straight from
the file in Keras' own order."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from candlecast.core.errors import ModelError
from candlecast.core.models import shared
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.models.targets import target_series
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.slow


def _saved(cells, name: str, head: str, seed: int, folder) -> tuple[NetworkForecaster, object]:
    config = tiny_config(model={"head": head}, training={"seed": seed})
    cell_config = next(c for c in config.model.cells if c.name == name)
    network = NetworkForecaster(
        cells[name], cells, cell_config, config.model, config.training, "1h"
    )
    frame = make_candles(160, seed=seed)
    y = target_series(frame, "close")
    network.fit(frame, y)
    return network, network.save(folder / f"{name}-{head}-{seed}")


@pytest.fixture(autouse=True)
def _fresh_templates():
    shared.clear_templates()
    yield
    shared.clear_templates()


@pytest.mark.parametrize(
    ("cell", "head"),
    [
        ("simple", "seq2vec"),
        ("lstm", "seq2seq"),
        ("gru", "seq2vec2seq"),
        ("bidirectional", "seq2vec"),
    ],
)
def test_weights_read_from_the_file_are_keras_own_and_forecast_the_same(
    builtin_cells, tmp_path, cell, head
):
    _, first = _saved(builtin_cells, cell, head, 1, tmp_path)
    trained, second = _saved(builtin_cells, cell, head, 2, tmp_path)
    template_member = shared.load_shared(first, builtin_cells)
    assert isinstance(template_member, shared.SharedGraphForecaster)
    template = template_member.template
    assert template.order is not None, "the template's weight order could not be told"
    assert len(template.order) == len(template.model.weights)

    # telling the order left the template holding its own file's weights
    first_alone = NetworkForecaster.load(first, builtin_cells)
    for got, want in zip(
        template.model.get_weights(), first_alone.keras_model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(got, want)

    member = shared.load_shared(second, builtin_cells)
    assert member.template is template  # same architecture: same model, only weights read
    alone = NetworkForecaster.load(second, builtin_cells)
    for got, want in zip(member.weights, alone.keras_model.get_weights(), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)

    frame = make_candles(160, seed=3)
    y = target_series(frame, "close")
    origins = [100, 130, 159]
    expected = alone.predict_at(frame, y, origins)
    np.testing.assert_allclose(member.predict_at(frame, y, origins), expected, rtol=1e-6)
    np.testing.assert_allclose(trained.predict_at(frame, y, origins), expected, rtol=1e-6)
    # the template's own forecasts are its own, after the member's weights were set into it
    np.testing.assert_allclose(
        template_member.predict_at(frame, y, origins),
        first_alone.predict_at(frame, y, origins),
        rtol=1e-6,
    )


def test_without_an_order_the_weights_go_through_keras_and_are_the_same(
    builtin_cells, tmp_path, monkeypatch
):
    _, first = _saved(builtin_cells, "lstm", "seq2vec", 1, tmp_path)
    _, second = _saved(builtin_cells, "lstm", "seq2vec", 2, tmp_path)
    monkeypatch.setattr(shared, "_weight_order", lambda model, path: None)
    shared.load_shared(first, builtin_cells)
    member = shared.load_shared(second, builtin_cells)
    assert member.template.order is None
    alone = NetworkForecaster.load(second, builtin_cells)
    for got, want in zip(member.weights, alone.keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_member_with_a_damaged_weights_file_is_a_model_error_that_names_it(
    builtin_cells, tmp_path
):
    _, first = _saved(builtin_cells, "gru", "seq2vec", 1, tmp_path)
    _, second = _saved(builtin_cells, "gru", "seq2vec", 2, tmp_path)
    shared.load_shared(first, builtin_cells)
    damaged = tmp_path / "damaged.keras"
    with zipfile.ZipFile(second) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == shared.WEIGHTS_MEMBER:
                data = data[: len(data) // 2]  # cut short
            target.writestr(item, data)
    damaged.with_suffix(".json").write_bytes(second.with_suffix(".json").read_bytes())
    with pytest.raises(ModelError, match=r"damaged\.keras.*could not be loaded \(weights\)"):
        shared.load_shared(damaged, builtin_cells)
