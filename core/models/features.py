"""Causal model inputs: every value at position t depends only on candles up to t.

Channels, in order: the target channel (see `Transform.step_changes`), then the optional
features named in the config:
  calendar  sin/cos of the hour of day and the day of week (known in advance for any time)
  volume    one-step change of log1p(volume)
  trend     g(y) minus its exponential moving average (span: the first seasonal period)
  range     log(high / low) of the candle

and one that is not a history channel but known for the forecast steps themselves (the model's
"future" input, see `NetworkForecaster`):
  seasonal  the target one seasonal period before each forecast step (24 and 168 for hourly
            candles, where the period is at least the horizon): a seasonal-naive forecast the
            network can lean on
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError
from candlecast.core.market.timeframes import seasonal_periods, timeframe_seconds
from candlecast.core.models.targets import Transform

_DAY = 86_400
_WEEK = 7 * _DAY
_YEAR = 365.2425 * _DAY
ALLOWED = ("calendar", "volume", "trend", "range", "seasonal")


def calendar_names(timeframe: str) -> list[str]:
    step = timeframe_seconds(timeframe)
    names = []
    if step < _DAY:
        names += ["hour_sin", "hour_cos"]
    if step < _WEEK:
        names += ["weekday_sin", "weekday_cos"]
    else:
        names += ["year_sin", "year_cos"]
    return names


def calendar_features(index: pd.DatetimeIndex, timeframe: str) -> np.ndarray:
    """`[len(index), k]` sin/cos phases of the day/week/year at each open time."""
    seconds = np.asarray(pd.DatetimeIndex(index).as_unit("s").asi8, dtype="float64")
    step = timeframe_seconds(timeframe)
    columns = []
    if step < _DAY:
        phase = (seconds % _DAY) / _DAY
        columns += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    if step < _WEEK:
        phase = ((seconds / _DAY + 3) % 7) / 7  # 1970-01-01 was a Thursday: Monday -> 0
        columns += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    else:
        phase = (seconds % _YEAR) / _YEAR
        columns += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    return np.stack(columns, axis=1)


def future_index(last: pd.Timestamp, timeframe: str, horizon: int) -> pd.DatetimeIndex:
    """Open times of the `horizon` candles after `last`."""
    step = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    return pd.DatetimeIndex([last + step * (k + 1) for k in range(horizon)], name="timestamp")


def input_channels(
    frame: pd.DataFrame,
    y: pd.Series,
    transform: Transform,
    features: Sequence[str],
    timeframe: str,
) -> tuple[np.ndarray, list[str]]:
    """`[n, channels]` causal inputs and their names."""
    unknown = [f for f in features if f not in ALLOWED]
    if unknown:
        raise ConfigError(f"features {unknown} are unknown; allowed: {', '.join(ALLOWED)}")
    columns = [transform.step_changes(y.to_numpy())]
    names = ["target"]
    if "calendar" in features:
        cal = calendar_features(pd.DatetimeIndex(frame.index), timeframe)
        columns += list(cal.T)
        names += calendar_names(timeframe)
    if "volume" in features:
        lv = np.log1p(np.clip(frame["volume"].to_numpy(dtype="float64"), 0, None))
        change = np.zeros_like(lv)
        change[1:] = np.diff(lv)
        columns.append(change)
        names.append("volume")
    if "trend" in features:
        g = pd.Series(transform.forward(y.to_numpy()))
        span = (seasonal_periods(timeframe) or (20,))[0]
        columns.append((g - g.ewm(span=span, adjust=False).mean()).to_numpy())
        names.append("trend")
    if "range" in features:
        high = frame["high"].to_numpy(dtype="float64")
        low = frame["low"].to_numpy(dtype="float64")
        columns.append(np.log(np.maximum(high, 1e-12) / np.maximum(low, 1e-12)))
        names.append("range")
    return np.stack(columns, axis=1), names
