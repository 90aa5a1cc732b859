"""The cell contract kit: what a cell plugin's own tests call.

    from candlecast.plugins.testing import check_cell

    def test_my_cell_keeps_the_contract(tmp_path):
        report = check_cell(MyCell(), tmp_path=tmp_path)
        print(report.summary())

or, with pytest, the `cell_contract` fixture (candlecast ships it as a pytest plugin):

    def test_my_cell_keeps_the_contract(cell_contract):
        cell_contract(MyCell())

`check_cell` builds the cell with every head, trains a few steps on a small generated series,
saves and reloads the model in Keras' safe mode, and checks the forecast's shape, its values and
that the same seed gives the same forecast; a broken cell raises `CellContractError` saying what
is broken and for which head (see `contract.py`). Importing this package is cheap: TensorFlow
loads when `check_cell` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from candlecast.plugins.testing.errors import CellContractError

if TYPE_CHECKING:
    from candlecast.plugins.testing.contract import ContractSettings, check_cell
    from candlecast.plugins.testing.report import CellReport, HeadReport
    from candlecast.plugins.testing.series import contract_candles

_LAZY = {
    "check_cell": "candlecast.plugins.testing.contract",
    "ContractSettings": "candlecast.plugins.testing.contract",
    "CellReport": "candlecast.plugins.testing.report",
    "HeadReport": "candlecast.plugins.testing.report",
    "contract_candles": "candlecast.plugins.testing.series",
}


def __getattr__(name: str) -> Any:
    """Import the kit's heavier parts (pandas, the model code) on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CellContractError",
    "CellReport",
    "ContractSettings",
    "HeadReport",
    "check_cell",
    "contract_candles",
]
