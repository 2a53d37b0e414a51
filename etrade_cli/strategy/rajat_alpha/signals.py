"""Entry filters (spec §2) and score (spec §3) for every bar of every symbol in one pass.

`evaluate(panel, params)` returns an `Evaluation` whose arrays have the panel's (rows, symbols)
shape: the verdict at every bar t is available, so a scan reads one row and a backtest reads all,
and cost grows linearly with bars. Pure: no I/O, no clock.
"""

from __future__ import annotations

import numpy as np

from ...values import Bars
from .. import indicators as ind
from ..base import Evaluation
from ..panel import Panel
from .params import StrategyParams
from .patterns import PATTERN_NAMES, pattern_codes

#: filters in spec §2 order; a bar's reason is the first one that fails
FILTERS = ("maturity", "structure", "weekly", "monthly", "pullback", "pattern", "stalling")
#: score parts of spec §3 and their weights
SCORE_PARTS = {
    "rs": 1.0, "weekly": 1.0, "monthly": 1.0, "volume": 1.0, "demand_zone": 1.0,
    "ema21_touch": 0.5, "sma50_touch": 0.5,
}  # fmt: skip


def compute_indicators(p: Panel) -> dict[str, np.ndarray]:
    """Spec §1 indicators: SMA50, SMA200, EMA21, VOLSMA21, RSI14, W_EMA21, M_EMA10."""
    return {
        "sma50": ind.sma(p.close, 50),
        "sma200": ind.sma(p.close, 200),
        "ema21": ind.ema(p.close, 21),
        "volsma21": ind.sma(p.volume, 21),
        "rsi14": ind.rsi(p.close, 14),
        "w_ema21": ind.htf_ema(p.close, ind.week_ids(p.dates), 21),
        "m_ema10": ind.htf_ema(p.close, ind.month_ids(p.dates), 10),
    }


def _near(c: np.ndarray, ma: np.ndarray, pct: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(c - ma) / ma <= pct


def _filters(
    p: Panel, x: dict[str, np.ndarray], prm: StrategyParams, patterns: np.ndarray
) -> list[np.ndarray]:
    c, h, low = p.close, p.high, p.low
    bar_no = np.arange(c.shape[0])[:, None] - p.first_row[None, :] + 1  # bars up to and incl. t
    near = _near(c, x["ema21"], prm.ma_touch_threshold_pct) | _near(
        c, x["sma50"], prm.ma_touch_threshold_pct
    )
    lower_high = ind.shift(ind.rolling_max(h, prm.pullback_days), 1) > h
    pullback = near & lower_high
    if prm.pullback_require_dip:
        below = np.where(np.isnan(x["ema21"]), np.nan, (c < x["ema21"]).astype(float))
        pullback &= _window_sum(below, prm.pullback_days) >= 2
    if prm.stalling_filter == "off":
        not_stalling = np.ones_like(c, dtype=bool)
    else:
        hi = ind.rolling_max(h, prm.stalling_days)
        lo = ind.rolling_min(low, prm.stalling_days)
        with np.errstate(invalid="ignore", divide="ignore"):
            not_stalling = (hi - lo) / ((hi + lo) / 2) > prm.stalling_range_pct
    return [
        bar_no >= prm.min_listing_days,
        (x["sma50"] > x["sma200"]) & (x["ema21"] > x["sma50"]),
        c > x["w_ema21"],
        c > x["m_ema10"],
        pullback,
        patterns > 0,
        not_stalling,
    ]


def _window_sum(x: np.ndarray, n: int) -> np.ndarray:
    return ind.sma(x, n) * n


def _touched_since_golden_cross(
    x: dict[str, np.ndarray], ma: np.ndarray, pct: float, c: np.ndarray
) -> np.ndarray:
    """Spec §3: some bar i in (g, t] had |C-MA|/MA <= pct, g the last golden cross (or none)."""
    s50, s200 = x["sma50"], x["sma200"]
    cross = (ind.shift(s50) <= ind.shift(s200)) & (s50 > s200)
    rows = np.arange(c.shape[0])[:, None]
    last_touch = np.maximum.accumulate(np.where(_near(c, ma, pct), rows, -1), axis=0)
    last_cross = np.maximum.accumulate(np.where(cross, rows, -1), axis=0)
    return last_touch > last_cross


def _score_parts(
    p: Panel, x: dict[str, np.ndarray], prm: StrategyParams, benchmark: Bars | None
) -> dict[str, np.ndarray]:
    c = p.close
    if prm.rs_mode == "benchmark":
        rs = _beats_benchmark(p, benchmark)
    else:
        rs = x["rsi14"] > 50
    pct = prm.ma_touch_threshold_pct
    return {
        "rs": rs,
        "weekly": c > x["w_ema21"],
        "monthly": c > x["m_ema10"],
        "volume": p.volume > x["volsma21"],
        "demand_zone": p.low <= 1.035 * ind.rolling_min(p.low, 21),
        "ema21_touch": _touched_since_golden_cross(x, x["ema21"], pct, c),
        "sma50_touch": _touched_since_golden_cross(x, x["sma50"], pct, c),
    }


def _beats_benchmark(p: Panel, bench: Bars | None) -> np.ndarray:
    """21-bar return of each symbol vs. the benchmark's return over the same two dates (§3)."""
    if bench is None or len(bench) == 0:
        return np.zeros(p.close.shape, dtype=bool)

    def bench_close(dates: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(bench.dates, dates), 0, len(bench) - 1)
        hit = bench.dates[idx] == dates
        return np.where(hit & ~np.isnat(dates), bench.close[idx], np.nan)

    d0 = np.full(p.dates.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    d0[21:] = p.dates[:-21]
    with np.errstate(invalid="ignore", divide="ignore"):
        own = p.close / ind.shift(p.close, 21) - 1
        theirs = bench_close(p.dates) / bench_close(d0) - 1
    return own > theirs


def evaluate(panel: Panel, params: StrategyParams, benchmark: Bars | None = None) -> Evaluation:
    """Run spec §1-§3 over every bar of every symbol of `panel`.

    Args:
        panel: the symbols' daily bars.
        params: strategy parameters (spec §8).
        benchmark: bars of `params.rs_benchmark`, needed only when `rs_mode == "benchmark"`
            (without them the `rs` part is never earned).
    """
    x = compute_indicators(panel)
    patterns = pattern_codes(panel.open, panel.high, panel.low, panel.close)
    checks = _filters(panel, x, params, patterns)
    reason = np.zeros(panel.close.shape, dtype=np.int8)
    for i in range(len(checks) - 1, -1, -1):  # last assignment wins: the first failing filter
        reason = np.where(checks[i], reason, np.int8(i + 1)).astype(np.int8)
    parts = _score_parts(panel, x, params, benchmark)
    score = sum(parts[k].astype(float) * w for k, w in SCORE_PARTS.items())
    return Evaluation(
        panel,
        x,
        reason,
        patterns,
        parts,
        np.asarray(score),
        filters=FILTERS,
        pattern_names=tuple(PATTERN_NAMES[k] for k in sorted(PATTERN_NAMES)),
        weights=SCORE_PARTS,
    )
