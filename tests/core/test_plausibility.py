"""Implausible bars (issue 15, point 5): a bar out of all proportion to its neighbours is
rejected under its own reason, counted and exemplified; real crashes, wicks and level shifts are
not; a corrupt bar never condemns the good one beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from candlecast.core.market.csv_file import read_candle_csv
from candlecast.core.market.plausibility import JUMP, OK, RANGE, implausible_bars
from candlecast.core.market.validation import check_candles
from tests.fixtures.series import make_candles

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def with_first_row(frame: pd.DataFrame, **values: float) -> pd.DataFrame:
    first = pd.DataFrame(
        {**values, "synthetic": False}, index=[frame.index[0] - pd.Timedelta(hours=1)]
    )
    first.index.name = "timestamp"
    return pd.concat([first, frame])


def test_the_corrupt_first_row_of_a_public_export_is_an_implausible_range():
    # Binance BTC/USDT hourly as CryptoDataDownload publishes it: the first row, 2017-08-17
    # 04:00, opens at 16199.91 and closes at 4308.83 (3.8 times); its neighbours trade near 4300
    candles = make_candles(200, random_walk=True) * [43.0, 43.0, 43.0, 43.0, 1.0, 1]
    candles["synthetic"] = False
    frame = with_first_row(
        candles, open=16199.91, high=16199.91, low=4261.32, close=4308.83, volume=44.51
    )
    clean, rejected = check_candles(frame)
    assert rejected.counts == {"implausible_range": 1}
    assert rejected.checked == 201 and rejected.total == 1
    (example,) = rejected.examples["implausible_range"]
    assert example == {
        "timestamp": frame.index[0],
        "open": 16199.91,
        "high": 16199.91,
        "low": 4261.32,
        "close": 4308.83,
        "volume": 44.51,
    }
    pd.testing.assert_frame_equal(clean, frame.iloc[1:])
    assert rejected.summary() == "rejected 1 of 201 candles: 1 implausible_range"


def test_a_bar_scaled_by_a_wrong_decimal_is_an_isolated_jump_and_its_neighbours_stay():
    frame = make_candles(100)
    frame.iloc[50, :4] = frame.iloc[50, :4] * 10  # every price: its own range looks normal
    verdict = implausible_bars(frame)
    assert list(np.flatnonzero(verdict)) == [50] and verdict[50] == JUMP


def test_a_corrupt_newest_bar_does_not_condemn_the_good_one_after_it_at_the_edge():
    frame = make_candles(60)
    frame.iloc[-2, :4] = frame.iloc[-2, :4] * 10  # the one before the newest
    verdict = implausible_bars(frame)
    assert list(verdict[-2:]) == [JUMP, OK]
    assert not verdict[:-2].any()


def test_real_moves_are_not_implausible():
    frame = make_candles(200, random_walk=True)
    # a crash: 30 % down within one bar, and the market stays down (a level shift)
    frame.iloc[100:, :4] = frame.iloc[100:, :4] * 0.7
    frame.iloc[100, frame.columns.get_loc("open")] = frame["close"].iloc[99]
    frame.iloc[100, frame.columns.get_loc("high")] = frame["close"].iloc[99]
    # a wick of 20 times the usual range
    wick = frame.index[150]
    usual = np.median(np.log(frame["high"] / frame["low"]))
    frame.loc[wick, "low"] = frame.loc[wick, "low"] * np.exp(-20 * usual)
    assert not implausible_bars(frame).any()


def test_stored_neighbours_judge_a_page_of_one_new_bar():
    stored = make_candles(100)
    stored_part, new = stored.iloc[:99], stored.iloc[99:].copy()
    assert implausible_bars(new, stored_part).tolist() == [OK]
    new.iloc[0, :4] = new.iloc[0, :4] * 3  # one-sided: its open breaks from the stored close
    assert implausible_bars(new, stored_part).tolist() == [JUMP]
    assert implausible_bars(new).tolist() == [OK]  # alone, nothing to compare it with
    wide = stored.iloc[99:].copy()
    wide["high"] *= 1.5  # a range 50 times the stored candles' and above 25 %
    assert implausible_bars(wide, stored_part).tolist() == [RANGE]


@pytest.mark.parametrize(
    "name",
    [
        "BTCUSDT_binance-spot_1h.csv",
        "BTCUSDT_binance-usdm-futures_1h.csv",
        "BTCUSDT_binance-spot_1d.csv",
        "BTC-USD_yahoo_1d.csv",
    ],
)
def test_real_exports_have_no_implausible_bar(name):
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder of real exports)")
    frame = read_candle_csv(path)
    clean, rejected = check_candles(frame)
    assert rejected.total == 0, rejected.examples
    assert len(clean) == len(frame)
