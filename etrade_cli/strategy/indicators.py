"""Indicators of spec §1, vectorized along axis 0 (time) for 1-D or (rows, symbols) arrays.

NaN marks "undefined": every function returns NaN until enough real (non-NaN) values exist, and a
front NaN padding (see `panel.Panel`) simply delays the start. Comparisons with NaN are false.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _as2d(x: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float64)
    return (x[:, None], True) if x.ndim == 1 else (x, False)


def _back(x: np.ndarray, was1d: bool) -> np.ndarray:
    return x[:, 0] if was1d else x


def _window(x: np.ndarray, n: int, how: str) -> np.ndarray:
    """`how` ("mean", "max" or "min") of each window of `n` rows, NaN before the first.

    With two or more columns the window is folded oldest to newest, one whole-row slice at a
    time (n vectorized steps over contiguous rows): the order numpy's own reduction of a
    `sliding_window_view` takes for such arrays, so the sums are the same bits, at a fraction
    of the cost (SMA200 of 2 x 6,558 bars: ~15 ms to ~0.5 ms). One column keeps numpy's
    reduction, which sums that case pairwise. Maximum and minimum are exact in any order."""
    a, one = _as2d(x)
    out = np.full(a.shape, np.nan)
    rows = a.shape[0] - n + 1
    if rows <= 0:
        return _back(out, one)
    if a.shape[1] < 2 and how == "mean":
        out[n - 1 :] = sliding_window_view(a, n, axis=0).mean(axis=-1)
        return _back(out, one)
    acc = a[:rows].copy()
    fold = {"mean": np.add, "max": np.maximum, "min": np.minimum}[how]
    for k in range(1, n):
        fold(acc, a[k : k + rows], out=acc)
    out[n - 1 :] = acc / n if how == "mean" else acc
    return _back(out, one)


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average of the last `n` values (spec §1 `SMA(n)`).

    >>> sma(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    return _window(x, n, "mean")


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Maximum of the last `n` values including the current one; NaN until `n` exist."""
    return _window(x, n, "max")


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Minimum of the last `n` values including the current one; NaN until `n` exist."""
    return _window(x, n, "min")


def shift(x: np.ndarray, k: int = 1) -> np.ndarray:
    """Values `k` rows earlier (x[t-k]); NaN for the first `k` rows."""
    a, one = _as2d(x)
    out = np.full(a.shape, np.nan)
    if k < a.shape[0]:
        out[k:] = a[:-k] if k else a
    return _back(out, one)


#: below this many columns (symbols) `seeded_ewm` runs its recursion one column at a time on
#: Python floats (about 0.1 us a step); from it on, one row at a time on numpy vectors (about
#: 3 us a row whatever the width). Both do the same float operations in the same order.
PER_COLUMN_BELOW = 24


def seeded_ewm(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Exponential smoothing `y[t] = alpha*x[t] + (1-alpha)*y[t-1]`, seeded with the SMA of the
    first `n` values (TradingView `ta.ema` and TA-Lib agree on this seeding; spec §1).

    A NaN `y[t-1]` (before the seed, or after a NaN input) restarts from that row's SMA(n).

    >>> seeded_ewm(np.array([1.0, 2.0, 3.0, 4.0]), 2, 0.5).tolist()
    [nan, 1.5, 2.25, 3.125]
    """
    a, one = _as2d(x)
    seed = _window(a, n, "mean")
    keep = 1.0 - alpha
    if a.shape[1] < PER_COLUMN_BELOW:
        out = np.empty(a.shape)
        for col in range(a.shape[1]):
            out[:, col] = _ewm_column(a[:, col].tolist(), seed[:, col].tolist(), alpha, keep)
        return _back(out, one)
    out = np.full(a.shape, np.nan)
    prev = np.full(a.shape[1], np.nan)
    for r in range(a.shape[0]):
        cur = np.where(np.isnan(prev), seed[r], alpha * a[r] + keep * prev)
        out[r] = cur
        prev = cur
    return _back(out, one)


def _ewm_column(xs: list[float], seeds: list[float], alpha: float, keep: float) -> list[float]:
    """`seeded_ewm` of one column, as Python floats."""
    out = []
    prev = math.nan
    for x, s in zip(xs, seeds):
        prev = s if prev != prev else alpha * x + keep * prev  # prev != prev: prev is NaN
        out.append(prev)
    return out


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """EMA(n) with alpha = 2/(n+1), seeded with SMA(n) of the first n values (spec §1).

    >>> ema(np.array([1.0, 2.0, 3.0, 4.0]), 3).tolist()
    [nan, nan, 2.0, 3.0]
    """
    return seeded_ewm(x, n, 2.0 / (n + 1))


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder's RSI(n) as TA-Lib `RSI`: averages of gains and losses seeded with their plain mean
    over the first n changes, then smoothed with alpha = 1/n; `100*G/(G+L)`, 0 when both are 0.
    First defined at the (n+1)-th bar (spec §1).

    >>> rsi(np.array([1.0, 2.0, 3.0, 2.0]), 2).round(2).tolist()
    [nan, nan, 100.0, 50.0]
    """
    a, one = _as2d(close)
    change = a - shift(a, 1)
    gain = seeded_ewm(
        np.where(change > 0, change, np.where(np.isnan(change), np.nan, 0.0)), n, 1 / n
    )
    loss = seeded_ewm(
        np.where(change < 0, -change, np.where(np.isnan(change), np.nan, 0.0)), n, 1 / n
    )
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, 100.0 * gain / total, np.where(np.isnan(total), np.nan, 0.0))
    return _back(out, one)


def week_ids(dates: np.ndarray) -> np.ndarray:
    """Week number of each `datetime64[D]` date for weeks ending Friday (pandas `W-FRI`).

    Saturday through Friday share an id. NaT maps to -1.

    >>> week_ids(np.array(["2010-08-13", "2010-08-14", "2010-08-20"], dtype="datetime64[D]")).tolist()
    [2119, 2120, 2120]
    """
    days = dates.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(dates), -1, (days + 5) // 7)  # 1970-01-01 was a Thursday


def month_ids(dates: np.ndarray) -> np.ndarray:
    """Calendar month number (months since 1970-01) of each date; NaT maps to -1."""
    months = dates.astype("datetime64[M]").astype(np.int64)
    return np.where(np.isnat(dates), -1, months)


def htf_ema(close: np.ndarray, period: np.ndarray, n: int) -> np.ndarray:
    """EMA(n) of higher-timeframe closes (weekly or monthly), as known at each daily bar t.

    The period containing t is included with `close[t]` as its (so far) close; completed periods
    use their last daily close. Built only from bars up to t, so no look-ahead (spec §1).
    `period` holds the period id of each bar (`week_ids`, `month_ids`); NaN closes are padding.
    Seeded with the SMA of the first n period closes, like `ema`.
    """
    c, one = _as2d(close)
    p = period.reshape(c.shape)
    if c.shape[0] > 8 * c.shape[1] and _front_padded(c):
        # long and narrow (a backtest of a few symbols): one pass per column over its periods
        # instead of one numpy step per row; the same float operations in the same order
        return _back(_htf_ema_by_column(c, p, n), one)
    alpha = 2.0 / (n + 1)
    cols = c.shape[1]
    out = np.full(c.shape, np.nan)
    done = np.zeros(cols)  # completed periods so far
    seed_sum = np.zeros(cols)  # sum of the first n completed closes
    ema_done = np.full(cols, np.nan)  # EMA over completed periods
    for r in range(c.shape[0]):
        valid = ~np.isnan(c[r])
        if r:
            new = valid & ~np.isnan(c[r - 1]) & (p[r] != p[r - 1])
            k = done + 1
            prev = c[r - 1]
            seed_sum = np.where(new & (k <= n), seed_sum + np.nan_to_num(prev), seed_sum)
            step = alpha * prev + (1 - alpha) * ema_done
            ema_done = np.where(
                new & (k == n), seed_sum / n, np.where(new & (k > n), step, ema_done)
            )
            done = np.where(new, k, done)
        total = done + 1
        value = np.where(
            total < n,
            np.nan,
            np.where(total == n, (seed_sum + c[r]) / n, alpha * c[r] + (1 - alpha) * ema_done),
        )
        out[r] = np.where(valid, value, np.nan)
    return _back(out, one)


def _front_padded(c: np.ndarray) -> bool:
    """True when each column is NaN padding followed only by real values."""
    valid = ~np.isnan(c)
    return bool((np.diff(valid.astype(np.int8), axis=0) >= 0).all())


def _htf_ema_by_column(c: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    """`htf_ema` for front-padded columns, column by column (see there for the definition)."""
    alpha = 2.0 / (n + 1)
    out = np.full(c.shape, np.nan)
    for j in range(c.shape[1]):
        col = c[:, j]
        first = int(np.argmax(~np.isnan(col))) if not np.isnan(col).all() else len(col)
        x, ids = col[first:], p[first:, j]
        if not len(x):
            continue
        ends = np.flatnonzero(ids[1:] != ids[:-1])  # last bar of each completed period
        closes = x[ends]  # completed period closes, oldest first
        seed = np.concatenate([[0.0], np.cumsum(closes[:n])])  # seed[k]: sum of the first k
        ema = np.full(len(closes) + 1, np.nan)  # ema[k]: EMA over the first k completed periods
        if len(closes) >= n:
            ema[n] = seed[n] / n
            value = ema[n]
            for k in range(n, len(closes)):
                value = alpha * closes[k] + (1 - alpha) * value
                ema[k + 1] = value
        done = np.concatenate([[0], np.cumsum(ids[1:] != ids[:-1])])  # completed before bar t
        total = done + 1
        seeded = (seed[np.minimum(done, n)] + x) / n
        running = alpha * x + (1 - alpha) * ema[done]
        with np.errstate(invalid="ignore"):
            out[first:, j] = np.where(total < n, np.nan, np.where(total == n, seeded, running))
    return out
