"""Entry filters (spec §2) at their boundaries, score parts (spec §3), and a cross-check of the
vectorized evaluation against the literal reference implementation on real bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etrade_cli.marketdata import SAMPLE_SP500
from etrade_cli.marketdata.csv import read_bars_csv
from etrade_cli.strategy.panel import Bars, Panel
from etrade_cli.strategy.rajat_alpha import signals as sg
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from tests import reference as ref

P = StrategyParams()
N = 10  # bars in the synthetic series; filters are checked at the last bar


def up(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def down(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


def make(close=100.0, high=None, low=None, **over) -> tuple[Panel, dict[str, np.ndarray]]:
    """A one-symbol panel of N bars and indicators that pass every filter unless overridden."""
    c = np.full(N, close, dtype=float)
    h = np.full(N, close + 5.0) if high is None else np.asarray(high, dtype=float)
    lo = np.full(N, close - 5.0) if low is None else np.asarray(low, dtype=float)
    h[-1] = min(h[-1], h[-2] - 1) if high is None else h[-1]
    dates = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + N)
    panel = Panel.from_bars([Bars("X", dates, c - 1, h, lo, c, np.full(N, 1e6))])
    x = {
        "sma50": np.full(N, 99.0),
        "sma200": np.full(N, 90.0),
        "ema21": np.full(N, 100.0),
        "w_ema21": np.full(N, 95.0),
        "m_ema10": np.full(N, 95.0),
    }
    x["ema21"][-4:-2] = close + 1  # two of the last four closes below EMA21 (the dip)
    for k, v in over.items():
        x[k] = np.asarray(v, dtype=float) if np.ndim(v) else np.full(N, float(v))
    return panel, {k: v.reshape(N, 1) for k, v in x.items()}


def verdict(panel, x, params=P, pattern=1) -> dict[str, bool]:
    pats = np.full(panel.close.shape, pattern, dtype=np.int8)
    checks = sg._filters(panel, x, params, pats)
    return {name: bool(chk[-1, 0]) for name, chk in zip(sg.FILTERS, checks)}


def test_baseline_passes_every_filter_but_maturity():
    v = verdict(*make())
    assert v.pop("maturity") is False  # 10 bars < 200
    assert all(v.values()), v


@pytest.mark.parametrize("need, ok", [(10, True), (11, False)])
def test_maturity_counts_bars_up_to_and_including_t(need, ok):
    assert verdict(*make(), params=StrategyParams(min_listing_days=need))["maturity"] is ok


@pytest.mark.parametrize(
    "over, ok",
    [
        ({"sma50": 90.0, "sma200": 90.0}, False),  # SMA50 == SMA200
        ({"sma50": up(90.0), "sma200": 90.0, "ema21": 100.0}, True),
        ({"sma50": 100.0, "ema21": 100.0}, False),  # EMA21 == SMA50
        ({"sma200": np.nan}, False),  # undefined compares false
    ],
)
def test_structure_boundaries(over, ok):
    assert verdict(*make(**over))["structure"] is ok


@pytest.mark.parametrize("w, ok", [(100.0, False), (down(100.0), True)])
def test_weekly_close_strictly_above_weekly_ema(w, ok):
    assert verdict(*make(w_ema21=w))["weekly"] is ok


@pytest.mark.parametrize("m, ok", [(100.0, False), (down(100.0), True)])
def test_monthly_close_strictly_above_monthly_ema(m, ok):
    assert verdict(*make(m_ema10=m))["monthly"] is ok


@pytest.mark.parametrize("ma, ok", [(100.0, True), (down(100.0 / 1.025), False)])
def test_pullback_near_ema21_at_2_5_percent(ma, ok):
    # close 102.5 vs EMA21 100: |2.5|/100 == 0.025 exactly; SMA50 far away
    panel, x = make(close=102.5, sma50=50.0, sma200=40.0, ema21=ma)
    x["ema21"][-4:-2] = 103.5
    assert verdict(panel, x)["pullback"] is ok


def test_pullback_near_sma50_alone_is_enough():
    panel, x = make(close=102.5, ema21=120.0, sma50=100.0)
    x["ema21"][-4:-2] = 120.0
    assert verdict(panel, x)["pullback"] is True


@pytest.mark.parametrize("last_high, ok", [(104.0, True), (105.0, False)])
def test_pullback_needs_a_lower_high_than_the_previous_four(last_high, ok):
    h = np.full(N, 105.0)
    h[-1] = last_high
    assert verdict(*make(high=h))["pullback"] is ok


@pytest.mark.parametrize("below, ok", [(2, True), (1, False)])
def test_pullback_needs_two_of_four_closes_below_ema21(below, ok):
    panel, x = make()
    x["ema21"] = np.full((N, 1), 99.0)  # closes (100) above EMA21 ...
    x["ema21"][-below:] = 100.5  # ... except on the last `below` bars
    v = verdict(panel, x)
    assert v["pullback"] is ok
    assert verdict(panel, x, StrategyParams(pullback_require_dip=False))["pullback"] is True


def test_pattern_filter_follows_pattern_codes():
    assert verdict(*make(), pattern=0)["pattern"] is False


@pytest.mark.parametrize("hi, lo, ok", [(102.5, 97.5, False), (up(102.5), 97.5, True)])
def test_stalling_rejects_an_8_bar_range_of_5_percent_or_less(hi, lo, ok):
    # (102.5-97.5)/((102.5+97.5)/2) == 0.05 exactly
    h = np.full(N, 100.0)
    h[-8] = hi
    h[-1] = 99.0
    low = np.full(N, 99.0)
    low[-3] = lo
    low[-9] = 50.0  # outside the 8-bar window
    panel, x = make(high=h, low=low)
    assert verdict(panel, x)["stalling"] is ok
    assert verdict(panel, x, StrategyParams(stalling_filter="off"))["stalling"] is True


def test_first_failing_filter_is_reported_in_spec_order():
    closes = np.linspace(10, 20, 30)
    dates = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + 30)
    b = Bars("X", dates, closes, closes + 1, closes - 1, closes, np.ones(30))
    ev = sg.evaluate(Panel.from_bars([b]), P)
    assert ev.at("X").reason == "maturity"
    ev2 = sg.evaluate(Panel.from_bars([b]), StrategyParams(min_listing_days=1))
    assert ev2.at("X").reason == "structure"  # SMA200 undefined


def test_demand_zone_inclusive_at_3_5_percent():
    low = np.full(30, 100.0)
    low[-1] = 1.035 * 100.0
    c = low + 1
    dates = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + 30)
    p = Panel.from_bars([Bars("X", dates, c, c + 1, low, c, np.ones(30))])
    assert sg.evaluate(p, P).parts["demand_zone"][-1, 0]
    low[-1] = up(1.035 * 100.0)
    p = Panel.from_bars([Bars("X", dates, c, c + 1, low, c, np.ones(30))])
    assert not sg.evaluate(p, P).parts["demand_zone"][-1, 0]


def test_volume_part_strictly_above_its_21_bar_average():
    vol = np.full(30, 100.0)
    dates = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + 30)
    c = np.full(30, 10.0)
    p = Panel.from_bars([Bars("X", dates, c, c, c, c, vol)])
    assert not sg.evaluate(p, P).parts["volume"][-1, 0]  # equal to the average
    vol[-1] = 200.0
    p = Panel.from_bars([Bars("X", dates, c, c, c, c, vol)])
    assert sg.evaluate(p, P).parts["volume"][-1, 0]


def test_ma_touch_counts_only_bars_after_the_last_golden_cross():
    x = {
        "sma50": np.array([[np.nan, 1, 1, 3, 3, 3, 3, 3.0]]).T,
        "sma200": np.array([[np.nan, 2, 2, 2, 2, 2, 2, 2.0]]).T,
    }
    # golden cross at bar 3; a touch at bar 2 (before) and at bar 3 (the cross itself) don't count
    ma = np.full(8, 100.0)
    c = np.array([100, 100, 100, 100, 150, 150, 100, 150.0])
    got = sg._touched_since_golden_cross(x, ma[:, None], 0.025, c[:, None])[:, 0]
    assert got.tolist() == [True, True, True, False, False, False, True, True]


def test_score_rs_rsi_strictly_above_50():
    c = np.array([10.0, 11.0] * 7 + [10.0])  # 7 gains, 7 losses of 1: RSI exactly 50
    dates = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + c.size)
    p = Panel.from_bars([Bars("X", dates, c, c, c, c, np.ones(c.size))])
    ev = sg.evaluate(p, P)
    assert ev.indicators["rsi14"][-1, 0] == pytest.approx(50.0)
    assert not ev.parts["rs"][-1, 0]


def test_rs_benchmark_mode_compares_21_bar_returns_on_the_same_dates():
    n = 30
    dates = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + n)
    sym = np.linspace(100, 130, n)
    bench = np.linspace(100, 110, n)
    p = Panel.from_bars([Bars("X", dates, sym, sym, sym, sym, np.ones(n))])
    b = Bars("QQQ", dates, bench, bench, bench, bench, np.ones(n))
    prm = StrategyParams(rs_mode="benchmark")
    assert sg.evaluate(p, prm, b).parts["rs"][-1, 0]
    b2 = Bars("QQQ", dates, sym * 2, sym, sym, sym * 2, np.ones(n))  # same return: not beaten
    assert not sg.evaluate(p, prm, b2).parts["rs"][-1, 0]


@pytest.fixture(scope="module")
def sample():
    bars, _ = read_bars_csv(SAMPLE_SP500)
    return bars


@pytest.mark.parametrize("symbol", ["ED", "AEP", "NKE", "AAPL", "CAT", "GPC", "LLTC", "C"])
def test_vectorized_evaluation_matches_reference_on_real_bars(sample, symbol):
    b = sample[symbol]
    ev = sg.evaluate(Panel.from_bars([b]), P)
    df = pd.DataFrame(
        {"open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume},
        index=pd.DatetimeIndex(b.dates),
    )
    for t in range(len(b) - 40, len(b), 3):
        reason, score = ref.evaluate_at(df, t)
        got = ev.signal(0, ev.panel.first_row[0] + t)
        assert (got.reason, got.score) == (reason, pytest.approx(score)), (symbol, str(b.dates[t]))


def test_panel_of_many_symbols_equals_one_symbol_at_a_time(sample):
    names = ["AMGN", "ED", "NKE", "BF.B"]  # AMGN lacks the last session's bar
    together = sg.evaluate(Panel.from_bars([sample[s] for s in names]), P)
    for s in names:
        alone = sg.evaluate(Panel.from_bars([sample[s]]), P)
        a, b = together.at(s), alone.at(s)
        assert (a.date, a.reason, a.score, a.pattern) == (b.date, b.reason, b.score, b.pattern)
