"""Every statistic of `etrade_cli.stats` against an independent computation: hand-computed
series, and numpy/pandas formulations written differently from the module's loops."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from etrade_cli import stats as st
from etrade_cli.stats import Trade, TradeFill

DATES = ["2020-01-01", "2020-01-02", "2020-01-06"]
EQUITY = [110.0, 99.0, 121.0]


def hand() -> dict:
    return st.statistics(
        DATES,
        EQUITY,
        100.0,
        [],
        invested=[55.0, 0.0, 121.0],
        benchmark=[50.0, 51.0, 50.0, 52.0],
        commissions=3.5,
    )


def test_equity_statistics_of_a_hand_computed_series():
    s = hand()
    r = [0.10, -0.10, 121 / 99 - 1]  # from 100 to 110, 99, 121
    mean = sum(r) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    assert s["start"] == "2020-01-01" and s["end"] == "2020-01-06"
    assert s["duration_days"] == 5 and s["sessions"] == 3
    assert s["exposure_pct"] == pytest.approx((0.5 + 0 + 1) / 3 * 100)
    assert (s["equity_start"], s["equity_final"], s["equity_peak"]) == (100.0, 121.0, 121.0)
    assert s["return_pct"] == pytest.approx(21.0)
    assert s["buy_hold_return_pct"] == pytest.approx(4.0)
    cagr = 1.21 ** (365.25 / 5) - 1
    assert s["cagr_pct"] == pytest.approx(cagr * 100)
    assert s["volatility_ann_pct"] == pytest.approx(sd * math.sqrt(252) * 100)
    assert s["sharpe"] == pytest.approx(mean / sd * math.sqrt(252))
    downside = math.sqrt((0.10**2) / 3)  # only -0.10 is below zero, averaged over 3 returns
    assert s["sortino"] == pytest.approx(mean * 252 / (downside * math.sqrt(252)))
    assert s["max_drawdown_pct"] == pytest.approx(-10.0)
    assert s["max_drawdown_usd"] == pytest.approx(-11.0)
    assert s["max_drawdown_start"] == "2020-01-01"
    assert s["max_drawdown_trough"] == "2020-01-02"
    assert s["max_drawdown_recovery"] == "2020-01-06"
    assert s["max_drawdown_days"] == 5 and s["avg_drawdown_days"] == 5
    assert s["calmar"] == pytest.approx(cagr / 0.10)
    assert s["commissions_usd"] == 3.5


def test_alpha_and_beta_match_an_ordinary_least_squares_fit():
    s = hand()
    r = np.diff([100.0, *EQUITY]) / np.array([100.0, *EQUITY[:-1]])
    b = np.diff([50.0, 51.0, 50.0, 52.0]) / np.array([50.0, 51.0, 50.0])
    slope, intercept = np.polyfit(b, r, 1)
    assert s["beta"] == pytest.approx(slope)
    # empyrical: alpha = (1 + mean(r - beta * rb)) ** 252 - 1; OLS intercept is that mean
    assert s["alpha_pct"] == pytest.approx(((1 + intercept) ** 252 - 1) * 100)


def test_drawdowns_match_pandas_on_a_random_walk():
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2021-01-04", periods=300)
    eq = 100_000 * np.cumprod(1 + rng.normal(0.0003, 0.01, 300))
    s = st.statistics([str(d.date()) for d in days], eq.tolist(), 100_000.0, [])
    series = pd.Series(np.concatenate([[100_000.0], eq]), index=[days[0], *days])
    dd = series / series.cummax() - 1
    assert s["max_drawdown_pct"] == pytest.approx(dd.min() * 100)
    trough = dd.idxmin()
    peak_value = series.cummax()[trough]
    assert s["max_drawdown_usd"] == pytest.approx(series[trough] - peak_value)
    assert s["max_drawdown_trough"] == str(trough.date())
    # underwater spells: from the last peak before each spell to the first day back at a peak
    under = (dd < 0).to_numpy()
    spells, i = [], 0
    idx = series.index
    while i < len(under):
        if under[i]:
            j = i
            while j < len(under) and under[j]:
                j += 1
            end = idx[j] if j < len(under) else idx[-1]
            spells.append((end - idx[i - 1]).days)
            i = j
        else:
            i += 1
    assert s["max_drawdown_days"] == max(spells)
    assert s["avg_drawdown_days"] == pytest.approx(sum(spells) / len(spells))
    rets = series.pct_change().dropna()
    assert s["sharpe"] == pytest.approx(rets.mean() / rets.std() * math.sqrt(252))
    assert s["volatility_ann_pct"] == pytest.approx(rets.std() * math.sqrt(252) * 100)


def trades() -> list[Trade]:
    def t(sym, tag, pnl, entry, exit_, reason):
        return Trade(sym, tag, entry, 10.0, 100, pnl, exit_, reason)

    return [
        t("AAA", "B1", 100.0, "2020-01-01", "2020-01-11", "PT1"),
        t("BBB", "B1", -50.0, "2020-01-02", "2020-01-05", "SL"),
        t("AAA", "B2", 200.0, "2020-01-03", "2020-02-02", "TES"),
        t("CCC", "B2", -25.0, "2020-01-04", "2020-01-06", "SL"),
        Trade("DDD", "B1", "2020-01-05", 10.0, 100, 999.0),  # open: not counted
    ]


def test_trade_statistics_hand_computed():
    s = st.trade_stats(trades())
    assert s["trades"] == 4
    assert s["win_rate_pct"] == 50.0
    assert s["best_trade_pct"] == 20.0 and s["worst_trade_pct"] == -5.0
    assert s["avg_trade_pct"] == pytest.approx((10 - 5 + 20 - 2.5) / 4)
    assert s["max_trade_days"] == 30 and s["avg_trade_days"] == pytest.approx((10 + 3 + 30 + 2) / 4)
    assert s["profit_factor"] == pytest.approx(300 / 75)
    assert s["expectancy_usd"] == pytest.approx(56.25)
    assert s["expectancy_pct"] == pytest.approx(5.625)
    assert s["sqn"] == pytest.approx(2 * 56.25 / math.sqrt(40468.75 / 3))
    assert s["kelly"] == pytest.approx(0.5 - 0.5 / (150 / 37.5))
    assert s["realized_usd"] == 225.0
    full = st.statistics(DATES, EQUITY, 100.0, trades())
    assert full["open_trades"] == 1 and full["trades"] == 4


def test_undefined_and_infinite_values():
    assert st.trade_stats([])["profit_factor"] is None
    only_wins = [Trade("A", "B1", "2020-01-01", 10.0, 10, 5.0, "2020-01-02", "PT1")]
    s = st.trade_stats(only_wins)
    assert s["profit_factor"] == math.inf and s["kelly"] is None and s["sqn"] is None
    assert st.fmt(s["profit_factor"], "ratio") == "inf"
    assert st.fmt(None, "pct") == "—" and st.fmt(float("nan"), "usd") == "—"
    assert st.fmt(12345.678, "usd") == "12,345.68"
    flat = st.statistics(["2020-01-01"], [100.0], 100.0, [])
    assert flat["sharpe"] is None and flat["cagr_pct"] is None and flat["calmar"] is None
    assert flat["max_drawdown_pct"] == 0.0 and flat["max_drawdown_start"] is None
    assert st.json_safe({"pf": math.inf, "x": 54.771699999999996}) == {"pf": "inf", "x": 54.7717}


def test_groups_and_exit_reasons():
    by_tag = st.grouped(trades(), lambda t: t.tag)
    assert list(by_tag) == ["B1", "B2"]
    assert by_tag["B1"]["trades"] == 2 and by_tag["B1"]["profit_factor"] == pytest.approx(2.0)
    assert by_tag["B2"]["realized_usd"] == 175.0
    fills = [
        TradeFill("2020-01-05", "SL", 100, 9.5, -50.0),
        TradeFill("2020-01-06", "SL", 100, 9.75, -25.0),
        TradeFill("2020-01-11", "PT1", 33, 11.0, 33.0),
        TradeFill("2020-01-12", "TES", 67, 9.9, -6.7),
        TradeFill("2020-01-13", "PT1", 50, 11.0, 50.0),
    ]
    r = st.by_exit_reason(fills)
    assert r["SL"] == {
        "exits": 2,
        "shares": 200,
        "win_rate_pct": 0.0,
        "avg_usd": -37.5,
        "profit_factor": 0.0,
        "realized_usd": -75.0,
    }
    assert r["PT1"]["profit_factor"] == math.inf and r["PT1"]["avg_usd"] == 41.5
    assert r["TES"]["win_rate_pct"] == 0.0


def _position(**kw):
    from etrade_cli.store import Position

    base = dict(id=1, symbol="AMZN", kind="B1", broker="paper", account="paper",
                status="closed", entry_date="2020-01-02", entry_price=100.0, original_qty=99,
                remaining_qty=0, stop_loss=83.0, targets_hit=1, exit_date="2020-01-20",
                exit_price=98.0, exit_reason="SL", realized_pnl=0.0, score=4.0,
                pattern="engulfing", opened_at="x", closed_at="y")  # fmt: skip
    base.update(kw)
    return Position(**base)


def test_partial_exits_are_separate_fills_and_a_raised_stop_reads_tsl():
    from etrade_cli.report import book_trades

    fills = [
        {"position_id": 1, "session_date": "2020-01-10", "reason": "PT1", "quantity": 33,
         "price": 110.0, "realized_pnl": 330.0},
        {"position_id": 1, "session_date": "2020-01-20", "reason": "SL", "quantity": 66,
         "price": 98.0, "realized_pnl": -132.0},
    ]  # fmt: skip

    def initial_stop(tag, entry):
        return entry * 0.83

    raised = _position(stop_loss=98.5, realized_pnl=198.0)
    (t,) = book_trades([raised], fills, lambda s: None, initial_stop)
    assert [(f.reason, f.shares, f.pnl) for f in t.fills] == [
        ("PT1", 33, 330.0),
        ("TSL", 66, -132.0),
    ]
    assert t.exit_reason == "TSL" and t.pnl == 198.0
    assert t.return_pct == pytest.approx(198.0 / (100.0 * 99) * 100)
    (t,) = book_trades([_position(realized_pnl=198.0)], fills, lambda s: None, initial_stop)
    assert t.fills[-1].reason == "SL"  # still at the initial stop
    r = st.by_exit_reason(t.fills)
    assert r["SL"]["realized_usd"] == -132.0 and r["PT1"]["win_rate_pct"] == 100.0


def test_against_empyrical_when_installed():
    """The same returns through empyrical (Quantopian's reference, optional dev dependency)."""
    ep = pytest.importorskip("empyrical")
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2022-01-03", periods=260)
    r = rng.normal(0.0004, 0.012, 260)
    rb = 0.6 * r + rng.normal(0.0002, 0.008, 260)
    eq = 50_000 * np.cumprod(1 + r)
    bench = 400 * np.concatenate([[1.0], np.cumprod(1 + rb)])
    s = st.statistics([str(d.date()) for d in days], eq.tolist(), 50_000.0, [],
                      benchmark=bench.tolist())  # fmt: skip
    returns = pd.Series(r, index=days)
    assert s["sharpe"] == pytest.approx(ep.sharpe_ratio(returns), rel=1e-6)
    assert s["sortino"] == pytest.approx(ep.sortino_ratio(returns), rel=1e-6)
    assert s["volatility_ann_pct"] / 100 == pytest.approx(ep.annual_volatility(returns), rel=1e-9)
    assert s["max_drawdown_pct"] / 100 == pytest.approx(ep.max_drawdown(returns), rel=1e-9)
    alpha, beta = ep.alpha_beta(returns, pd.Series(rb, index=days))
    assert s["beta"] == pytest.approx(beta, rel=1e-6)
    assert s["alpha_pct"] / 100 == pytest.approx(alpha, rel=1e-6)
    assert s["return_pct"] / 100 == pytest.approx(ep.cum_returns_final(returns), rel=1e-9)


def test_drawdown_property_against_a_vectorized_computation():
    from hypothesis import given, settings
    from hypothesis import strategies as hs

    @settings(max_examples=60, deadline=None)
    @given(hs.lists(hs.floats(0.5, 2.0), min_size=1, max_size=40))
    def check(factors):
        eq = (1000 * np.cumprod(factors)).tolist()
        dates = [str(d.date()) for d in pd.bdate_range("2020-01-01", periods=len(eq))]
        s = st.statistics(dates, eq, 1000.0, [])
        series = np.concatenate([[1000.0], eq])
        dd = series / np.maximum.accumulate(series) - 1
        assert s["max_drawdown_pct"] == pytest.approx(dd.min() * 100, abs=1e-9)
        assert s["equity_peak"] == pytest.approx(series.max())
        spells = st.drawdowns([dates[0], *dates], series.tolist())
        starts = np.diff(np.concatenate([[0], (dd < 0).astype(int)])) == 1
        assert len(spells) == int(starts.sum())  # one drawdown per underwater spell

    check()
