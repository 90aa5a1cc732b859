"""candlecast cell plugin `my_cell`: the module the `candlecast` entry point names.

candlecast calls `register_cells` once, when it first needs the cells; it calls `register`
once per cell. The cell itself lives in `cell.py` (one cell per file).
"""

from __future__ import annotations

from candlecast.plugins import hookimpl
from candlecast.plugins.hookspecs import Register
from candlecast_my_cell.cell import MyCell

__version__ = "0.1.0"
__all__ = ["MyCell", "register_cells"]


@hookimpl
def register_cells(register: Register) -> None:
    register(MyCell())
