"""Implausible bars: candles whose values pass every rule on their own but not beside their
neighbours, such as a corrupt first row of an export whose open is 3.8 times its close.

Two bounds, each relative to the bar's neighbours (up to `WINDOW` candles on each side, the
trusted `neighbours` passed in included) and never below an absolute move of `MIN_MOVE`:

  implausible_range  log(high / low) is more than `FACTOR` times the median log range of the
                     candles around it (a wick or body out of all proportion)
  implausible_jump   the bar's level breaks away from every neighbour it has: its open from the
                     previous close and its close from the next open, each by more than `FACTOR`
                     times that median range (a bar scaled by a wrong decimal, say)

Calibrated on real exports (Binance spot and futures hourly and daily BTC/USDT, 2017-2023; Yahoo
daily BTC-USD, 2014-2025): their largest range is 24 times the neighbours' median (a futures wick
of 2021-07-26), their largest isolated jump 3.3 times, so `FACTOR` = 50 flags none of them; the
corrupt first row of the Binance hourly export has a range of 1.34 against a median of 0.01. A
real crash moves the neighbours too and so raises the median it is compared with.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from candlecast.core.market.candles import OHLCV_COLUMNS

WINDOW = 24  # candles on each side that set the scale
FACTOR = 50.0  # how many median ranges a bar may move
MIN_MOVE = math.log(1.25)  # below a 25 % move nothing is implausible

OK, RANGE, JUMP = 0, 1, 2


def implausible_bars(frame: pd.DataFrame, neighbours: pd.DataFrame | None = None) -> np.ndarray:
    """For each row of `frame` (valid candles, increasing open times): OK, RANGE or JUMP.

    `neighbours` are trusted candles around `frame` (stored ones): they set the scale and are
    the previous and next bars where they are, but are not judged. Rows at the same open time
    as a neighbour are judged in its place.
    """
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype="int64")
    judged = frame[list(OHLCV_COLUMNS[:4])]
    if neighbours is not None and len(neighbours):
        others = neighbours.loc[~neighbours.index.isin(frame.index), list(OHLCV_COLUMNS[:4])]
        both = pd.concat([judged.assign(_judged=True), others.assign(_judged=False)])
        both = both.sort_index(kind="stable")
    else:
        both = judged.assign(_judged=True)
    o, h, lo, c = (both[name].to_numpy(dtype="float64") for name in OHLCV_COLUMNS[:4])
    judged_rows = both["_judged"].to_numpy(dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        span = np.log(h / lo)
        scale = (
            pd.Series(span).rolling(2 * WINDOW + 1, center=True, min_periods=1).median().to_numpy()
        )
    bound = np.maximum(MIN_MOVE, FACTOR * scale)
    verdict = np.where(judged_rows & (span > bound), RANGE, OK)
    alive = verdict == OK  # the bars the level of their neighbours is read from
    # Isolated jumps, the clearest first: a bar that breaks away is set aside before its
    # neighbours are judged, so a corrupt bar never condemns the good one beside it.
    for _ in range(len(both)):
        worst = _worst_jump(o, c, bound, alive & judged_rows, alive)
        if worst is None:
            break
        verdict[worst], alive[worst] = JUMP, False
    return verdict[judged_rows].astype("int64")


def _worst_jump(
    o: np.ndarray, c: np.ndarray, bound: np.ndarray, candidates: np.ndarray, alive: np.ndarray
) -> int | None:
    """The candidate bar whose level breaks away furthest from every live neighbour it has
    (bars with neighbours on both sides first), or None."""
    live = np.flatnonzero(alive)
    if len(live) < 2:
        return None
    lo, lc = np.log(o[live]), np.log(c[live])
    before = np.full(len(live), np.nan)
    before[1:] = np.abs(lo[1:] - lc[:-1])  # open against the previous live close
    after = np.full(len(live), np.nan)
    after[:-1] = np.abs(lo[1:] - lc[:-1])  # close against the next live open
    limit = bound[live]
    breaks = (np.isnan(before) | (before > limit)) & (np.isnan(after) | (after > limit))
    breaks &= candidates[live]
    if not breaks.any():
        return None
    both_sides = ~np.isnan(before) & ~np.isnan(after)
    move = np.fmin(np.nan_to_num(before, nan=np.inf), np.nan_to_num(after, nan=np.inf))
    rank = np.where(breaks, both_sides * 1e6 + move, -np.inf)
    return int(live[int(np.argmax(rank))])
