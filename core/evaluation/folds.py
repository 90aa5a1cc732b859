"""Walk-forward folds: where a backtest fits and which origins it forecasts from.

Positions index the series (0 = oldest candle). An *origin* is the position of the last value a
forecast may see: from origin `o` a model forecasts `y[o + 1 : o + 1 + horizon]`. A fold trains on
`[train_start, train_end)` and forecasts from its origins, all at or after `train_end - 1`, so
nothing fitted in a fold can have seen a value it is scored on.

Origins sit at the end of the history, `step` candles apart, the last one `horizon` candles
before the end so its forecast can be scored completely. Folds split them into chronological
groups of `origins_per_fold`; each fold's training part ends right after its first origin.

Two layouts cover what candlecast needs:

  rolling evaluation   FoldSpec(folds=5, step=24, horizon=24)
                       five origins a day apart, a fit before each (refit=True)
  fit once, then test  FoldSpec.holdout(test=1560, step=24, horizon=24)
                       one fit on everything before the test part, then 65 origins through it
                       (the benchmark protocol's layout)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from candlecast.core.errors import ConfigError

Scheme = Literal["expanding", "sliding"]
SCHEMES: tuple[str, ...] = ("expanding", "sliding")


def _positive_int(field: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{field} must be an integer >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class FoldSpec:
    """How to lay out walk-forward folds.

    folds             number of folds (chronological groups of origins)
    step              candles between consecutive origins
    horizon           candles forecast from each origin
    scheme            "expanding": every fold trains from the first candle;
                      "sliding": every fold trains on the `window` candles before its first origin
    window            training length of the sliding scheme (candles); only for "sliding"
    refit             fit a fresh model in every fold (True) or fit once, in the first fold, and
                      forecast every later origin with that model (False)
    min_train         the fewest candles the first fold may train on
    origins_per_fold  origins in each fold
    """

    folds: int = 5
    step: int = 24
    horizon: int = 24
    scheme: Scheme = "expanding"
    window: int | None = None
    refit: bool = True
    min_train: int = 48
    origins_per_fold: int = 1

    def __post_init__(self) -> None:
        _positive_int("folds", self.folds)
        _positive_int("step", self.step)
        _positive_int("horizon", self.horizon)
        _positive_int("min_train", self.min_train)
        _positive_int("origins_per_fold", self.origins_per_fold)
        if self.scheme not in SCHEMES:
            raise ConfigError(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")
        if not isinstance(self.refit, bool):
            raise ConfigError(f"refit must be true or false, got {self.refit!r}")
        if self.scheme == "sliding":
            if self.window is None:
                raise ConfigError(
                    "window (training candles per fold) is required with scheme 'sliding'"
                )
            _positive_int("window", self.window, self.min_train)
        elif self.window is not None:
            raise ConfigError(
                f"window only applies to scheme 'sliding'; got window={self.window!r} with "
                f"scheme {self.scheme!r} (drop window, or use scheme 'sliding')"
            )

    @classmethod
    def holdout(cls, test: int, step: int, horizon: int, *, min_train: int = 48) -> FoldSpec:
        """Fit once on everything before the last `test` candles, then forecast every `step`.

        The origins are `n - test - 1, n - test - 1 + step, ...` as long as a whole horizon fits
        before the end: `(test - horizon) // step + 1` of them. When `test - horizon` is not a
        multiple of `step` the origins keep their distance from the end, so the fit sees up to
        `step - 1` candles more than `n - test` (never fewer).
        """
        _positive_int("test", test)
        _positive_int("step", step)
        _positive_int("horizon", horizon)
        if test < horizon:
            raise ConfigError(
                f"test must hold at least one horizon ({horizon} candles), got test={test}"
            )
        return cls(
            folds=1,
            step=step,
            horizon=horizon,
            refit=False,
            min_train=min_train,
            origins_per_fold=(test - horizon) // step + 1,
        )

    @property
    def n_origins(self) -> int:
        return self.folds * self.origins_per_fold

    def required_candles(self) -> int:
        """The shortest history these folds fit in."""
        return self.min_train + self.horizon + (self.n_origins - 1) * self.step


@dataclass(frozen=True)
class Fold:
    """One fold: fit on positions `[train_start, train_end)`, forecast from `origins`."""

    index: int
    train_start: int
    train_end: int
    origins: tuple[int, ...]

    @property
    def n_train(self) -> int:
        return self.train_end - self.train_start

    @property
    def last_origin(self) -> int:
        return self.origins[-1]


def walk_forward(n: int, spec: FoldSpec) -> list[Fold]:
    """The folds of `spec` on a series of `n` candles, oldest fold first."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"n (candles in the series) must be a non-negative integer, got {n!r}")
    needed = spec.required_candles()
    if n < needed:
        raise ConfigError(
            f"a walk-forward backtest with {spec.folds} fold(s) x {spec.origins_per_fold} "
            f"origin(s), step {spec.step}, horizon {spec.horizon} and min_train "
            f"{spec.min_train} needs at least {needed} candles, got {n}; fetch more history "
            f"or lower folds, step or min_train"
        )
    last = n - 1 - spec.horizon
    first = last - (spec.n_origins - 1) * spec.step
    folds: list[Fold] = []
    for k in range(spec.folds):
        start = first + k * spec.origins_per_fold * spec.step
        origins = tuple(start + i * spec.step for i in range(spec.origins_per_fold))
        train_end = origins[0] + 1
        train_start = 0 if spec.window is None else max(0, train_end - spec.window)
        folds.append(Fold(k, train_start, train_end, origins))
    return folds
