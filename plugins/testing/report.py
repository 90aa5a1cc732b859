"""What the cell contract kit found: one `HeadReport` per head, gathered in a `CellReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class HeadReport:
    """One head's checks, all passed.

    output_shapes    symbolic output shape of the built layer per `return_sequences` value the
                     head uses, for an input `[batch, window, channels]`
    parameters       trainable and non-trainable weights of the whole model
    epochs           epochs trained (early stopping may end sooner)
    train_loss       the best epoch's training loss (standardised targets)
    forecast_shape   `(origins, horizon)`
    reload_diff      largest relative difference between the forecasts before saving and after
                     reloading in safe mode
    rerun_diff       largest relative difference between two trainings with the same seed
    seconds          wall time of this head's checks
    fresh_diff       largest relative difference between the forecasts before saving and after
                     loading in a fresh process (None: not checked, see `CellReport.fresh_load`)
    """

    head: str
    output_shapes: dict[bool, Shape]
    parameters: int
    epochs: int
    train_loss: float
    forecast_shape: tuple[int, int]
    reload_diff: float
    rerun_diff: float
    seconds: float
    fresh_diff: float | None = None


@dataclass(frozen=True)
class CellReport:
    """Every check `check_cell` ran on one cell, all passed. `fresh_load` says how the fresh
    process reached the cell (`entry point <distribution>`, `builtin`, its module) or why it
    was not checked there."""

    cell: str
    description: str
    heads: dict[str, HeadReport] = field(default_factory=dict)
    fresh_load: str = ""

    def summary(self) -> str:
        """One line per head, for a test's output or a plugin's README."""
        lines = [f"cell {self.cell!r} passes the contract ({self.description})"]
        for report in self.heads.values():
            shapes = ", ".join(
                f"return_sequences={flag}: {shape}" for flag, shape in report.output_shapes.items()
            )
            lines.append(
                f"  {report.head:<12} {shapes}; {report.parameters} weights, "
                f"{report.epochs} epoch(s), loss {report.train_loss:.4f}, forecast "
                f"{report.forecast_shape}, reload diff {report.reload_diff:.1e}, "
                f"rerun diff {report.rerun_diff:.1e}, {report.seconds:.1f} s"
                + ("" if report.fresh_diff is None else f", fresh diff {report.fresh_diff:.1e}")
            )
        lines.append(f"  saved models loaded in a fresh process: {self.fresh_load}")
        return "\n".join(lines)
