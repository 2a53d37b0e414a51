from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from etrade_cli.strategy import indicators as ind
from tests import reference as ref

PRICES = [10.0, 11.0, 10.5, 12.0, 11.5, 13.0, 12.5, 12.0, 14.0, 13.5, 15.0, 14.0]


def test_sma_matches_mean_of_last_n_and_is_nan_before():
    out = ind.sma(np.array(PRICES), 3)
    assert np.isnan(out[:2]).all()
    for t in range(2, len(PRICES)):
        assert out[t] == pytest.approx(sum(PRICES[t - 2 : t + 1]) / 3)


def test_ema_is_seeded_with_sma_of_first_n_values():
    n = 5
    out = ind.ema(np.array(PRICES), n)
    assert np.isnan(out[: n - 1]).all()
    assert out[n - 1] == pytest.approx(sum(PRICES[:n]) / n)  # the seed
    a = 2 / (n + 1)
    assert out[n] == pytest.approx(a * PRICES[n] + (1 - a) * out[n - 1])
    for t in range(n - 1, len(PRICES)):
        assert out[t] == pytest.approx(ref.ema(PRICES[: t + 1], n))


def test_ema_is_not_pandas_ewm_adjust_false_seeded_with_first_value():
    # TradingView/TA-Lib seed with the SMA; seeding with the first value gives another number
    out = ind.ema(np.array(PRICES), 5)
    naive = pd.Series(PRICES).ewm(span=5, adjust=False).mean().to_numpy()
    assert out[-1] != pytest.approx(naive[-1], abs=1e-9)


def test_rsi_is_wilder_seeded_with_plain_means():
    closes = [
        44.34,
        44.09,
        44.15,
        43.61,
        44.33,
        44.83,
        45.10,
        45.42,
        45.84,
        46.08,
        45.89,
        46.03,
        45.61,
        46.28,
        46.28,
        46.00,
        46.03,
        46.41,
        46.22,
        45.64,
    ]
    out = ind.rsi(np.array(closes), 14)
    assert np.isnan(out[:14]).all()
    for t in range(14, len(closes)):
        assert out[t] == pytest.approx(ref.rsi(closes[: t + 1], 14))
    assert out[14] == pytest.approx(70.46, abs=0.01)  # Wilder's classic worked example


def test_rsi_flat_series_is_zero_like_talib():
    assert ind.rsi(np.full(20, 5.0), 14)[-1] == 0.0


def test_indicators_work_column_wise_with_front_padding():
    a = np.array(PRICES)
    padded = np.column_stack([np.r_[[np.nan] * 4, a[:-4]], a])
    out = ind.ema(padded, 3)
    np.testing.assert_allclose(out[4:, 0], ind.ema(a[:-4], 3), equal_nan=True)
    np.testing.assert_allclose(out[:, 1], ind.ema(a, 3), equal_nan=True)


def test_week_ids_group_saturday_to_friday_like_pandas_w_fri():
    dates = pd.bdate_range("2010-01-01", "2010-03-31")
    ours = ind.week_ids(dates.to_numpy().astype("datetime64[D]"))
    theirs = dates.to_period("W-FRI").asi8
    # same partition: consecutive dates share an id exactly when pandas says so
    assert ((ours[1:] == ours[:-1]) == (theirs[1:] == theirs[:-1])).all()


def test_htf_ema_uses_only_bars_up_to_t_with_partial_period():
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2009-01-01", periods=260)
    close = 50 + np.cumsum(rng.normal(0, 1, len(dates)))
    df = pd.DataFrame({"close": close}, index=dates)
    d = dates.to_numpy().astype("datetime64[D]")
    weekly = ind.htf_ema(close, ind.week_ids(d), 21)
    monthly = ind.htf_ema(close, ind.month_ids(d), 10)
    for t in range(0, len(dates), 7):
        w = ref.ema(ref.htf_closes(df.iloc[: t + 1], "W-FRI"), 21)
        m = ref.ema(ref.htf_closes(df.iloc[: t + 1], "MS"), 10)
        assert (math.isnan(w) and np.isnan(weekly[t])) or weekly[t] == pytest.approx(w)
        assert (math.isnan(m) and np.isnan(monthly[t])) or monthly[t] == pytest.approx(m)


def test_htf_ema_changing_a_future_bar_does_not_change_the_past():
    close = np.linspace(10, 40, 200)
    d = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + 200)
    ids = ind.week_ids(d)
    before = ind.htf_ema(close, ids, 21)
    bumped = close.copy()
    bumped[150:] *= 3
    after = ind.htf_ema(bumped, ids, 21)
    np.testing.assert_array_equal(before[:150], after[:150])


@pytest.mark.parametrize("n, alpha", [(21, 2 / 22), (14, 1 / 14), (3, 0.5)])
@pytest.mark.parametrize("cols", [1, 2, ind.PER_COLUMN_BELOW - 1])
def test_seeded_ewm_per_column_path_is_bit_identical_to_the_per_row_path(
    monkeypatch, n, alpha, cols
):
    """Few symbols take the per-column Python-float loop; it must equal the numpy row loop bit
    for bit, NaN gaps (leading padding and a hole that restarts from the SMA seed) included."""
    rng = np.random.default_rng(cols * 100 + n)
    a = np.cumsum(rng.normal(size=(400, cols)), axis=0) + 100.0
    a[:30, 0] = np.nan
    a[200, -1] = np.nan
    fast = ind.seeded_ewm(a, n, alpha)
    monkeypatch.setattr(ind, "PER_COLUMN_BELOW", 0)
    slow = ind.seeded_ewm(a, n, alpha)
    assert fast.tobytes() == slow.tobytes()
    assert np.isnan(fast[200, -1]) and not np.isnan(fast[200 + n, -1])  # restarted after the hole


@pytest.mark.parametrize("cols", [1, 2, 5, 40])
@pytest.mark.parametrize("n", [1, 3, 8, 21, 50, 200, 400, 401])
def test_windows_are_bit_identical_to_numpys_sliding_window_reduction(cols, n):
    """`_window` folds the rows itself (much faster); it must give numpy's own reduction of a
    sliding window bit for bit, NaN included, for every width and window length."""
    from numpy.lib.stride_tricks import sliding_window_view

    rng = np.random.default_rng(cols * 1000 + n)
    a = np.cumsum(rng.normal(size=(400, cols)), axis=0) + 100.0
    a[:7, 0] = np.nan
    a[150, -1] = np.nan
    for how in ("mean", "max", "min"):
        expected = np.full(a.shape, np.nan)
        if a.shape[0] >= n:
            expected[n - 1 :] = getattr(sliding_window_view(a, n, axis=0), how)(axis=-1)
        assert ind._window(a, n, how).tobytes() == expected.tobytes(), how
