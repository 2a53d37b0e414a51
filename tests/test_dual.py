"""Spec §4 (B1/B2/OPP/SKIP) and §5 (sizing)."""

from __future__ import annotations

import numpy as np
import pytest

from etrade_cli.strategy.base import Book, Signal
from etrade_cli.strategy.rajat_alpha.dual import classify, position_size
from etrade_cli.strategy.rajat_alpha.params import StrategyParams

P = StrategyParams()


def sig(symbol: str, score: float = 4.0, pattern: str = "engulfing") -> Signal:
    return Signal(symbol, np.datetime64("2010-08-20"), 10.0, None, pattern, score, {})


def actions(decisions):
    return [(d.signal.symbol, d.action) for d in decisions]


def test_order_is_score_then_pattern_then_symbol():
    got = classify(
        [
            sig("B", 4, "tweezer"),
            sig("A", 4, "tweezer"),
            sig("C", 4, "piercing"),
            sig("D", 5, "tweezer"),
        ],
        Book(),
        StrategyParams(max_positions_b1=9),
    )
    assert [d.signal.symbol for d in got] == ["D", "C", "A", "B"]


def test_b1_until_the_limit_then_skip_naming_the_limit():
    got = classify([sig("A", 5), sig("B", 4), sig("C", 3)], Book(), P)
    assert actions(got) == [("A", "B1"), ("B", "B1"), ("C", "SKIP")]
    assert "max_positions_b1" in got[2].why


def test_b2_needs_open_b1_score_and_room():
    book = Book.from_pairs([("A", "B1"), ("B", "B1")])
    got = classify([sig("A", 3), sig("B", 2.5)], book, P)
    assert actions(got) == [("A", "B2"), ("B", "OPP")]
    assert "score_b2_min" in got[1].why


def test_open_b1_and_b2_gives_opp():
    book = Book.from_pairs([("A", "B1"), ("A", "B2")])
    assert actions(classify([sig("A", 6)], book, P)) == [("A", "OPP")]


def test_b2_limit_gives_opp_not_skip():
    book = Book.from_pairs([("A", "B1"), ("B", "B1"), ("B", "B2"), ("C", "B1"), ("C", "B2")])
    got = classify([sig("A", 6)], book, StrategyParams(max_positions_b1=5))
    assert actions(got) == [("A", "OPP")]
    assert "max_positions_b2" in got[0].why


def test_decisions_count_earlier_entries_of_the_same_session_but_leave_book_alone():
    book = Book.from_pairs([("X", "B1")])
    got = classify([sig("A", 5), sig("B", 4)], book, P)
    assert actions(got) == [("A", "B1"), ("B", "SKIP")]
    assert book.count("B1") == 1


def test_sizing_takes_the_smallest_cap():
    # equity 100k: 5% = 5,000; risk 100k*0.02/0.17 = 11,764.7; utilisation 50k - 0; cash 100k
    assert position_size("B1", 50.0, 100_000, 0, P) == (100, pytest.approx(5_000))
    # utilisation: 0.5*100k - 48k open = 2,000
    shares, amount = position_size("B1", 50.0, 52_000, 48_000, P)
    assert (shares, amount) == (40, pytest.approx(2_000))
    # risk-limited: 5% of equity exceeds equity*max_loss_pct/initial_stop_loss_pct
    prm = StrategyParams(percent_of_equity=0.5, max_equity_utilization_pct=1.0)
    shares, amount = position_size("B1", 10.0, 100_000, 0, prm)
    assert amount == pytest.approx(100_000 * 0.02 / 0.17) and shares == 1176


def test_sizing_zero_when_nothing_fits():
    assert position_size("B1", 50.0, 10, 99_000, P)[0] == 0  # utilisation negative
    assert position_size("B1", 6_000.0, 100_000, 0, P)[0] == 0  # price above the amount


def test_sizing_per_type_override():
    prm = StrategyParams(percent_of_equity_b2=0.02)
    assert position_size("B2", 10.0, 100_000, 0, prm)[0] == 200
    assert position_size("B1", 10.0, 100_000, 0, prm)[0] == 500
