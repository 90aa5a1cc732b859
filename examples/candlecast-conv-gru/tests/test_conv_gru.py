"""The example plugin's own tests: candlecast's cell contract kit over `conv_gru`.

Collected by candlecast's test suite too (pyproject `testpaths`); skipped where the example is
not installed (`pip install -e examples/candlecast-conv-gru`).
"""

from __future__ import annotations

import pytest

conv_gru = pytest.importorskip(
    "candlecast_conv_gru",
    reason="the example plugin is not installed: pip install -e examples/candlecast-conv-gru",
)

from candlecast.core.errors import PluginError  # noqa: E402
from candlecast.core.models.cell import CellRequest  # noqa: E402
from candlecast.plugins.testing import check_cell  # noqa: E402


@pytest.mark.slow
def test_conv_gru_keeps_the_cell_contract_with_its_parameters(tmp_path):
    report = check_cell(
        conv_gru.ConvGRUCell(), params={"filters": 6, "kernel_size": 2}, tmp_path=tmp_path
    )
    assert list(report.heads) == ["seq2vec", "seq2seq", "seq2vec2seq"]
    assert report.heads["seq2vec2seq"].output_shapes == {False: (None, 4), True: (None, 12, 4)}
    # a safe-mode reload found the registered layer class: same forecasts, bit for bit
    assert all(head.reload_diff == 0.0 for head in report.heads.values())


def test_the_layer_class_is_registered_with_keras():
    import keras

    found = keras.saving.get_registered_object("candlecast_conv_gru>ConvGRU")
    assert found is conv_gru.ConvGRU


def test_unknown_parameters_name_the_allowed_ones():
    request = CellRequest(units=4, return_sequences=False, params={"filter": 8})
    with pytest.raises(PluginError, match="does not take filter; allowed: filters, kernel_size"):
        conv_gru.ConvGRUCell().build(request, {})


def test_candlecast_finds_it_through_its_entry_point():
    from candlecast.plugins.manager import PluginHost

    registration = PluginHost().registry()["cells"]["conv_gru"]
    assert registration.origin == "entry point candlecast-conv-gru"
    assert registration.version == conv_gru.__version__
