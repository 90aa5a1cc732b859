"""Walk-forward folds: positions, schemes, the benchmark layout, and short histories."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.core.errors import ConfigError
from candlecast.core.evaluation.folds import FoldSpec, walk_forward


def test_expanding_folds_end_at_the_last_scorable_origin() -> None:
    folds = walk_forward(200, FoldSpec(folds=3, step=24, horizon=24, min_train=48))

    assert [f.origins for f in folds] == [(127,), (151,), (175,)]
    assert [f.train_end for f in folds] == [128, 152, 176]
    assert [f.train_start for f in folds] == [0, 0, 0]
    assert folds[-1].last_origin + 24 == 199  # the last forecast ends on the last candle


def test_benchmark_layout_fits_once_on_300_days_and_tests_65_origins() -> None:
    spec = FoldSpec.holdout(test=1560, step=24, horizon=24)
    (fold,) = walk_forward(8760, spec)

    assert spec.refit is False
    assert (fold.train_start, fold.train_end) == (0, 7200)
    assert len(fold.origins) == 65
    assert fold.origins[0] == 7199 and fold.origins[-1] == 8735
    assert all(b - a == 24 for a, b in zip(fold.origins, fold.origins[1:], strict=False))


def test_holdout_not_a_multiple_of_step_keeps_the_distance_from_the_end() -> None:
    (fold,) = walk_forward(1000, FoldSpec.holdout(test=110, step=24, horizon=24))

    # (110 - 24) // 24 + 1 = 4 origins; the last at 1000 - 1 - 24
    assert fold.origins == (903, 927, 951, 975)
    assert fold.train_end == 904 >= 1000 - 110


def test_sliding_folds_train_on_a_fixed_window() -> None:
    spec = FoldSpec(folds=3, step=10, horizon=5, scheme="sliding", window=50, min_train=20)
    folds = walk_forward(120, spec)

    assert [(f.train_start, f.train_end) for f in folds] == [(45, 95), (55, 105), (65, 115)]
    assert all(f.n_train == 50 for f in folds)


def test_sliding_window_is_cut_at_the_first_candle() -> None:
    spec = FoldSpec(folds=2, step=10, horizon=5, scheme="sliding", window=500, min_train=20)
    folds = walk_forward(60, spec)

    assert [(f.train_start, f.train_end) for f in folds] == [(0, 45), (0, 55)]


def test_origins_per_fold_groups_origins_chronologically() -> None:
    spec = FoldSpec(folds=2, step=5, horizon=3, origins_per_fold=3, min_train=10)
    folds = walk_forward(50, spec)

    assert [f.origins for f in folds] == [(21, 26, 31), (36, 41, 46)]
    assert [f.train_end for f in folds] == [22, 37]


def test_a_short_history_says_how_many_candles_are_needed() -> None:
    spec = FoldSpec(folds=3, step=24, horizon=24, min_train=48)
    assert spec.required_candles() == 48 + 24 + 2 * 24

    with pytest.raises(ConfigError, match=r"needs at least 120 candles, got 119"):
        walk_forward(119, spec)
    assert walk_forward(120, spec)[0].train_end == 48


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"folds": 0}, "folds must be an integer >= 1, got 0"),
        ({"step": 2.5}, "step must be an integer"),
        ({"horizon": True}, "horizon must be an integer"),
        ({"scheme": "rolling"}, "scheme must be one of expanding, sliding, got 'rolling'"),
        ({"scheme": "sliding"}, "window .* is required with scheme 'sliding'"),
        ({"window": 100}, "window only applies to scheme 'sliding'"),
        ({"scheme": "sliding", "window": 10, "min_train": 48}, "window must be an integer >= 48"),
        ({"refit": "yes"}, "refit must be true or false"),
    ],
)
def test_bad_specs_name_the_field_and_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FoldSpec(**kwargs)


def test_holdout_needs_room_for_one_horizon() -> None:
    with pytest.raises(ConfigError, match="test must hold at least one horizon"):
        FoldSpec.holdout(test=10, step=24, horizon=24)


@settings(max_examples=200, deadline=None, database=None)
@given(
    n=st.integers(50, 400),
    folds=st.integers(1, 5),
    per_fold=st.integers(1, 3),
    step=st.integers(1, 30),
    horizon=st.integers(1, 30),
    sliding=st.booleans(),
)
def test_no_fold_trains_on_what_it_is_scored_on(
    n: int, folds: int, per_fold: int, step: int, horizon: int, sliding: bool
) -> None:
    spec = FoldSpec(
        folds=folds,
        step=step,
        horizon=horizon,
        origins_per_fold=per_fold,
        min_train=10,
        scheme="sliding" if sliding else "expanding",
        window=30 if sliding else None,
    )
    if n < spec.required_candles():
        with pytest.raises(ConfigError):
            walk_forward(n, spec)
        return
    result = walk_forward(n, spec)
    origins = [o for fold in result for o in fold.origins]
    assert len(origins) == folds * per_fold
    assert origins == sorted(origins) and len(set(origins)) == len(origins)
    assert origins[-1] + horizon == n - 1
    for fold in result:
        assert fold.train_end == fold.origins[0] + 1  # the fit ends at the fold's first origin
        assert fold.n_train >= 10
        assert all(o + horizon < n for o in fold.origins)
