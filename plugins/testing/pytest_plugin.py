"""candlecast's pytest plugin (entry point `pytest11: candlecast`): the `cell_contract` fixture.

A cell plugin's tests get it as soon as candlecast is installed:

    def test_my_cell_keeps_the_contract(cell_contract):
        report = cell_contract(MyCell(), params={"depth": 2})
        assert set(report.heads) == {"seq2vec", "seq2seq", "seq2vec2seq"}

pytest loads this module in every session of an environment where candlecast is installed, so
it imports nothing heavy: the kit (and TensorFlow) load when a test calls the fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from candlecast.plugins.testing.report import CellReport


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `slow` marker (contract tests train networks) where the project does not."""
    declared = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    if "slow" not in declared:
        config.addinivalue_line("markers", "slow: trains real networks (seconds per test)")


@pytest.fixture
def cell_contract(tmp_path: Path) -> Callable[..., CellReport]:
    """`cell_contract(cell, **kwargs)`: `check_cell` saving its models under the test's tmp_path.

    Takes the keyword arguments of `candlecast.plugins.testing.check_cell` (cells, heads, params,
    seed, settings); returns its `CellReport` or raises `CellContractError`.
    """

    def run(cell: Any, **kwargs: Any) -> CellReport:
        from candlecast.plugins.testing.contract import check_cell

        kwargs.setdefault("tmp_path", tmp_path / "cell_contract")
        return check_cell(cell, **kwargs)

    return run
