"""How the published forecasts did: the realised coverage of the bands each earlier run
published, once their actuals came in.

The backtest's coverage is an estimate; this is the record. For each target, every published
(champion) forecast step whose candle has closed is compared with the candle: the share inside
each band, how often it missed below and above, and the mean width, over the last
`window` of target times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from candlecast.core.evaluation.intervals import realised_coverage
from candlecast.core.models.targets import target_series

WINDOW = pd.Timedelta(days=28)
"""How far back the realised coverage looks (target times)."""


def published_coverage(
    published: pd.DataFrame,
    candles: pd.DataFrame,
    target: str,
    window: pd.Timedelta = WINDOW,
) -> pd.DataFrame | None:
    """One row per level (`n`, `coverage`, `below`, `above`, `gap`, `mean_width`) of the
    `published` forecasts (`forecasts_for`: target_time, value, lower_<pct>, upper_<pct>) whose
    target times are among `candles` and within `window` of the newest; None when none is."""
    if published is None or published.empty or candles.empty:
        return None
    newest = pd.Timestamp(candles.index[-1])
    times = pd.DatetimeIndex(pd.to_datetime(published["target_time"], utc=True))
    values = target_series(candles, target)
    traded = ~candles["synthetic"].astype(bool)
    keep = np.asarray(times.isin(values.index[traded.to_numpy()]) & (times > newest - window))
    if not keep.any():
        return None
    due = published[keep]
    actual = values.reindex(times[keep]).to_numpy(dtype="float64")[None, :]
    levels = sorted(int(c.split("_")[1]) for c in due.columns if c.startswith("lower_"))
    bands = {
        pct / 100: (
            due[f"lower_{pct}"].to_numpy(dtype="float64")[None, :],
            due[f"upper_{pct}"].to_numpy(dtype="float64")[None, :],
        )
        for pct in levels
    }
    if not bands:
        return None
    table = realised_coverage(bands, actual)
    return table if int(table["n"].max()) > 0 else None
