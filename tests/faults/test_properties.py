"""Property-based tests (hypothesis) for what the existing ones leave out:

- candle validation: each rejected row carries the reason an independent oracle gives it, value
  verdicts do not depend on the other rows, and validation is idempotent
  (tests/core/test_validation.py checks which rows survive, not why the others did not);
- the window builder: arbitrary origins (any order, repeated) over several channels, and an
  error exactly when an origin is outside the series (tests/core/test_windows.py checks every
  training origin of one channel);
- target transforms: the other inverse, encode(decode(z)) == z, on the whole model space;
  identity transforms on any real values, negative ones included; step changes that add back up;
  log transforms refusing any non-positive value (tests/core/test_targets.py checks
  decode(encode(y)) == y on positive values);
- the store's generic upsert (`upsert_rows`, every table but candles: runs, forecasts, flags...)
  on SQLite and PostgreSQL, across chunk boundaries: last write wins, or first with
  update=False (tests/core/test_candle_store.py covers the candle store's own upsert).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from candlecast.core.errors import DataError, StorageError
from candlecast.core.market.candles import OHLCV_COLUMNS
from candlecast.core.market.validation import REASONS, validate_candles
from candlecast.core.models.targets import TRANSFORMS, get_transform
from candlecast.core.models.windows import future_values, input_windows, training_origins
from candlecast.core.storage import upsert as upsert_module
from candlecast.core.storage.runs import (
    FORECAST_KEY,
    INTERVAL_KEY,
    forecast_intervals,
    forecasts,
)
from candlecast.core.storage.store import Store
from candlecast.core.storage.upsert import upsert_rows

pytestmark = pytest.mark.faults

# -- candle validation ------------------------------------------------------------------------

_value = st.one_of(
    st.floats(min_value=-5, max_value=120, allow_nan=False, allow_infinity=False),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0]),
)


@st.composite
def candle_frames(draw, max_rows: int = 30):
    n = draw(st.integers(0, max_rows))
    hours = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    values = draw(arrays(np.float64, (n, 5), elements=_value) if n else st.just(np.empty((0, 5))))
    index = pd.DatetimeIndex(
        [pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(hours=h) for h in hours],
        tz="UTC",
        name="timestamp",
    )
    frame = pd.DataFrame(values, columns=list(OHLCV_COLUMNS), index=index)
    frame["synthetic"] = False
    return frame


def _value_reason(row: np.ndarray) -> str | None:
    """The first value rule a row breaks, in the documented order (None: its values are fine)."""
    o, h, lo, c, v = row
    if np.isnan(row).any():
        return "nan"
    if not all(np.isfinite(p) and p > 0 for p in (o, h, lo, c)):
        return "non_positive_price"
    if not np.isfinite(v) or v < 0:
        return "negative_volume"
    if h < max(o, c):
        return "high_below_open_close"
    if lo > min(o, c):
        return "low_above_open_close"
    return None


def _oracle(frame: pd.DataFrame) -> list[str | None]:
    """Each row's reason: value rules first, then the timestamp rules over value-valid rows."""
    reasons, seen, newest = [], set(), None
    for ts, row in zip(frame.index, frame[list(OHLCV_COLUMNS)].to_numpy(), strict=True):
        reason = _value_reason(row)
        if reason is None:
            if ts in seen:
                reason = "duplicate_timestamp"
            elif newest is not None and ts < newest:
                reason = "timestamp_out_of_order"
                seen.add(ts)
            else:
                seen.add(ts)
                newest = ts
        reasons.append(reason)
    return reasons


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candle_frames())
def test_each_rejected_row_is_counted_under_the_reason_the_oracle_gives(frame):
    clean, rejections = validate_candles(frame)
    reasons = _oracle(frame)
    expected = {r: reasons.count(r) for r in REASONS if reasons.count(r)}
    assert rejections.counts == expected
    assert list(rejections.counts) == [r for r in REASONS if r in expected]  # documented order
    kept = [i for i, r in enumerate(reasons) if r is None]
    pd.testing.assert_frame_equal(clean, frame.iloc[kept])
    for reason, examples in rejections.examples.items():  # examples are rows of that reason
        rows = [i for i, r in enumerate(reasons) if r == reason][:5]
        assert [e["timestamp"] for e in examples] == list(frame.index[rows])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candle_frames(), st.randoms(use_true_random=False))
def test_value_verdicts_do_not_depend_on_the_other_rows(frame, rnd):
    order = list(range(len(frame)))
    rnd.shuffle(order)
    shuffled = frame.iloc[order]
    value_rules = REASONS[:5]
    _, before = validate_candles(frame)
    _, after = validate_candles(shuffled)
    assert {k: v for k, v in before.counts.items() if k in value_rules} == {
        k: v for k, v in after.counts.items() if k in value_rules
    }
    for reason in value_rules:  # wherever a row stands, its values get it the same reason
        for example in after.examples.get(reason, []):
            row = np.array([example[c] for c in OHLCV_COLUMNS])
            assert _value_reason(row) == reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candle_frames())
def test_validation_is_idempotent(frame):
    clean, _ = validate_candles(frame)
    again, rejections = validate_candles(clean)
    pd.testing.assert_frame_equal(again, clean)
    assert rejections.total == 0 and rejections.checked == len(clean)


# -- the window builder -----------------------------------------------------------------------


@st.composite
def windowed(draw):
    n = draw(st.integers(2, 60))
    window = draw(st.integers(1, n - 1))
    channels = draw(st.integers(1, 4))
    origins = draw(st.lists(st.integers(window, n - 1), min_size=0, max_size=12))
    return n, window, channels, np.asarray(origins, dtype="int64")


@settings(max_examples=150, deadline=None)
@given(windowed())
def test_windows_at_any_origins_are_the_slices_ending_there(case):
    n, window, channels, origins = case
    data = np.arange(n * channels, dtype="float64").reshape(n, channels)  # [n, channels]
    x = input_windows(data, origins, window)  # [len(origins), window, channels]
    assert x.shape == (len(origins), window, channels)
    for i, o in enumerate(origins):
        np.testing.assert_array_equal(x[i], data[o - window + 1 : o + 1])
    assert x.flags["C_CONTIGUOUS"]
    x[...] = -1  # a copy: writing to it never changes the series
    assert data.min() == 0


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(2, 40),
    window=st.integers(1, 10),
    origin=st.integers(-5, 50),
    horizon=st.integers(1, 5),
)
def test_an_origin_outside_the_series_is_an_error_never_a_wrong_window(n, window, origin, horizon):
    assume(window < n)
    data = np.arange(n, dtype="float64")[:, None]
    inside = window <= origin <= n - 1
    if inside:
        assert input_windows(data, np.array([origin]), window).shape == (1, window, 1)
        if origin + horizon <= n - 1:  # targets strictly after the origin, inside the series
            y = future_values(data[:, 0], np.array([origin]), horizon)
            assert list(y[0]) == list(range(origin + 1, origin + horizon + 1))
    else:
        with pytest.raises(DataError, match="origins must lie in"):
            input_windows(data, np.array([origin]), window)
    if n >= window + horizon + 1:
        origins = training_origins(n, window, horizon)
        assert len(origins) == n - window - horizon
        assert (origins - window + 1 >= 1).all()  # position 0 is never inside a window


# -- target transforms ------------------------------------------------------------------------

_model_space = arrays(
    np.float64,
    st.tuples(st.integers(1, 12), st.integers(1, 5)),
    elements=st.floats(-8, 8, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=150, deadline=None)
@given(z=_model_space, name=st.sampled_from(sorted(TRANSFORMS)), data=st.data())
def test_encode_inverts_decode_on_the_model_space(z, name, data):
    transform = get_transform(name)
    n = z.shape[0]
    low = 1e-3 if transform.pointwise != "identity" else -1e4
    origins = data.draw(
        arrays(np.float64, n, elements=st.floats(low, 1e4, allow_nan=False, allow_infinity=False))
    )
    if transform.pointwise == "identity" and not transform.relative:
        z = z * 1e3  # levels: any real value
    decoded = transform.decode(z, origins)
    assert np.isfinite(decoded).all()
    np.testing.assert_allclose(transform.encode(decoded, origins), z, rtol=1e-7, atol=1e-7)


@settings(max_examples=100, deadline=None)
@given(
    values=arrays(
        np.float64,
        st.integers(2, 30),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    name=st.sampled_from(["difference", "level"]),
)
def test_identity_transforms_invert_any_real_values(values, name):
    transform = get_transform(name)
    origins = values[:-1]
    future = values[1:, None]
    back = transform.decode(transform.encode(future, origins), origins)
    np.testing.assert_allclose(back, future, rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    values=arrays(
        np.float64,
        st.integers(1, 30),
        elements=st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False),
    ),
    name=st.sampled_from(sorted(TRANSFORMS)),
)
def test_step_changes_add_back_up_to_the_transformed_series(values, name):
    transform = get_transform(name)
    steps = transform.step_changes(values)
    g = transform.forward(values)
    if transform.relative:
        assert steps[0] == 0
        np.testing.assert_allclose(np.cumsum(steps), g - g[0], rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_array_equal(steps, g)


@settings(max_examples=100, deadline=None)
@given(
    values=arrays(
        np.float64,
        st.integers(1, 20),
        elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    ),
    bad=st.floats(-1e3, 0.0, allow_nan=False),
    at=st.integers(0, 19),
)
def test_log_transforms_refuse_any_non_positive_value(values, bad, at):
    values = values.copy()
    values[at % len(values)] = bad
    with pytest.raises(DataError, match="needs positive values"):
        get_transform("log_return").forward(values)
    if bad <= -1:
        with pytest.raises(DataError, match="needs values > -1"):
            get_transform("log1p").forward(values)


# -- the store's generic upsert ---------------------------------------------------------------


@pytest.fixture
def forecast_store(db_url, monkeypatch):
    monkeypatch.setattr(upsert_module, "CHUNK", 3)  # batches cross chunk boundaries
    store = Store(db_url).create()
    try:
        yield store
    finally:
        store.close()


_batches = st.lists(
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), min_size=0, max_size=9),
    min_size=1,
    max_size=5,
)


def _row(model: int, step: int, batch: int) -> dict:
    issued = pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime()
    return {
        "series": "binance:BTC/USDT:1h",
        "model": f"m{model}",
        "issued_at": issued,
        "step": step,
        "target_time": (pd.Timestamp(issued) + pd.Timedelta(hours=step)).to_pydatetime(),
        "value": float(batch),  # which batch wrote the row
        "family": "network",
        "champion": False,
        "model_version": None,
        "run_id": f"run-{batch}",
        "target": "close",
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=_batches, update=st.booleans())
def test_upserts_leave_one_row_per_natural_key_last_or_first_write_wins(
    forecast_store, batches, update
):
    keys = FORECAST_KEY
    engine = forecast_store.engine
    with engine.begin() as conn:
        conn.execute(forecasts.delete())
    expected: dict[tuple, float] = {}
    for number, batch in enumerate(batches):
        rows = list({(m, s): _row(m, s, number) for m, s in batch}.values())  # once per batch
        with engine.begin() as conn:  # each batch its own transaction, as a run records
            sent = upsert_rows(conn, forecasts, rows, keys, update=update)
        assert sent == len(rows)
        for row in rows:
            key = (row["model"], row["step"])
            if update or key not in expected:
                expected[key] = row["value"]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(forecasts.c.model, forecasts.c.step, forecasts.c.value))
        got = {(m, s): v for m, s, v in stored}
        count = conn.execute(sa.select(sa.func.count()).select_from(forecasts)).scalar_one()
    assert count == len(expected) == len(got)
    assert got == expected


def test_an_upsert_of_rows_with_different_columns_names_both_and_writes_nothing(forecast_store):
    rows = [_row(0, 1, 0), _row(0, 2, 0)]
    del rows[1]["model_version"]
    with (
        pytest.raises(StorageError, match="must all have the same columns"),
        forecast_store.engine.begin() as conn,
    ):
        upsert_rows(conn, forecasts, rows, FORECAST_KEY)
    with forecast_store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(forecasts)).scalar_one() == 0


def test_published_forecasts_since_a_time_keep_their_intervals(forecast_store):
    """A reader of the recent published forecasts (realised coverage, the anomaly step) gets
    only target times after `since`, each with its bands."""
    issued = [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in range(6)]
    points, bands = [], []
    for at in issued:
        for step in (1, 2):
            row = _row(0, step, 0) | {
                "issued_at": at.to_pydatetime(),
                "target_time": (at + pd.Timedelta(hours=step)).to_pydatetime(),
                "champion": True,
                "value": float(at.hour * 10 + step),
            }
            points.append(row)
            bands.append(
                {key: row[key] for key in ("series", "target", "model", "issued_at", "step")}
                | {"level": 0.8, "lower": row["value"] - 1, "upper": row["value"] + 1}
            )
    with forecast_store.engine.begin() as conn:
        upsert_rows(conn, forecasts, points, FORECAST_KEY)
        upsert_rows(conn, forecast_intervals, bands, INTERVAL_KEY)
    since = issued[3]
    recent = forecast_store.runs.forecasts_for("binance:BTC/USDT:1h", since=since)
    everything = forecast_store.runs.forecasts_for("binance:BTC/USDT:1h")
    assert len(everything) == 12
    assert (recent["target_time"] > since).all()
    expected = everything[everything["target_time"] > since].reset_index(drop=True)
    pd.testing.assert_frame_equal(recent, expected)
    assert (recent["upper_80"] - recent["lower_80"] == 2.0).all()


def _rotating_champions(store: Store, steps: tuple[int, ...]) -> list[pd.Timestamp]:
    """Four hourly issues of three models (m0, m1, m2) for `steps`, the champion rotating
    (issue h: m{h % 3}), every model's bands at 80 % and 95 % (lower = value - 1 or 2 - model)
    except the last issue's step 2, which has none. Returns the issue times."""
    issued = [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in range(4)]
    points, bands = [], []
    for hour, at in enumerate(issued):
        for model in range(3):
            for step in steps:
                row = _row(model, step, 0) | {
                    "issued_at": at.to_pydatetime(),
                    "target_time": (at + pd.Timedelta(hours=step)).to_pydatetime(),
                    "champion": model == hour % 3,
                    "value": float(100 * model + 10 * hour + step),
                }
                points.append(row)
                if hour == 3 and step == 2:
                    continue  # no bands stored for these
                for level, width in ((0.8, 1.0), (0.95, 2.0)):
                    bands.append(
                        {key: row[key] for key in FORECAST_KEY}
                        | {"level": level, "lower": row["value"] - width - model, "upper": 0.0}
                    )
    with store.engine.begin() as conn:
        upsert_rows(conn, forecasts, points, FORECAST_KEY)
        upsert_rows(conn, forecast_intervals, bands, INTERVAL_KEY)
    return issued


def test_published_forecasts_carry_their_own_champions_bands(forecast_store):
    """Every model's forecasts and bands are stored; a reader gets the champion of each issue
    (which model that is changes between issues) with that model's bands at every level, never
    another model's, and a champion row without bands keeps its point with empty bands."""
    _rotating_champions(forecast_store, steps=(1, 2))
    got = forecast_store.runs.forecasts_for("binance:BTC/USDT:1h")
    assert len(got) == 8 and got["champion"].all()
    assert list(got.columns[-4:]) == ["lower_80", "upper_80", "lower_95", "upper_95"]
    for _, row in got.iterrows():
        model = int(row["model"][1:])
        assert model == row["issued_at"].hour % 3
        if row["issued_at"].hour == 3 and row["step"] == 2:
            assert np.isnan(row["lower_80"]) and np.isnan(row["lower_95"])
            continue
        assert row["lower_80"] == row["value"] - 1.0 - model
        assert row["lower_95"] == row["value"] - 2.0 - model


def test_the_freshest_published_forecast_of_each_target_time_as_the_detectors_take_it(
    forecast_store,
):
    """`latest`: one row per target time, the newest issue made before it, with that issue's
    champion and its bands (empty where none were stored): what the full read gives after the
    detectors' own `latest_forecasts`, and no other row."""
    from candlecast.plugins.detectors.breach import latest_forecasts

    issued = _rotating_champions(forecast_store, steps=(1, 2, 3))
    series = "binance:BTC/USDT:1h"
    for since in (None, issued[1]):
        everything = forecast_store.runs.forecasts_for(series, since=since)
        freshest = forecast_store.runs.forecasts_for(series, since=since, latest=True)
        times = everything["target_time"]
        assert len(freshest) == times.nunique() < len(everything)
        newest = everything.groupby("target_time")["issued_at"].transform("max")
        expected = everything[everything["issued_at"] == newest].reset_index(drop=True)
        pd.testing.assert_frame_equal(freshest, expected)
        pd.testing.assert_frame_equal(latest_forecasts(freshest), latest_forecasts(everything))
    # the newest issue (hour 3) is the freshest of target times 4, 5 and 6; its step 2 has no bands
    row = freshest.set_index("target_time").loc[issued[3] + pd.Timedelta(hours=2)]
    assert row["issued_at"] == issued[3] and row["model"] == "m0" and np.isnan(row["lower_80"])
    assert forecast_store.runs.forecasts_for("nowhere:X/Y:1h", latest=True).empty
