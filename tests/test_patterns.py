"""Each pattern of spec §2.6 at its boundaries (literal comparisons, no epsilon)."""

from __future__ import annotations

import numpy as np
import pytest

from etrade_cli.strategy.rajat_alpha import patterns as pt


def bars(prev: tuple[float, float, float, float], cur: tuple[float, float, float, float]):
    """Two bars as (O, H, L, C) arrays."""
    return [np.array([p, c]) for p, c in zip(prev, cur)]


def up(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def down(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


RED = (13.0, 13.5, 9.5, 10.0)  # O1=13, C1=10: red, midpoint 11.5


@pytest.mark.parametrize("close, expected", [(13.0, True), (down(13.0), False), (14.0, True)])
def test_engulfing_close_at_or_above_previous_open(close, expected):
    o, h, l, c = bars(RED, (10.0, 14.5, 9.8, close))
    assert bool(pt.engulfing(o, h, l, c)[1]) is expected


def test_engulfing_needs_green_bar_after_red_bar():
    o, h, l, c = bars((10.0, 14.0, 9.0, 13.0), (10.0, 14.5, 9.8, 14.0))  # previous bar green
    assert not pt.engulfing(o, h, l, c)[1]
    o, h, l, c = bars(RED, (14.0, 14.5, 9.8, 14.0))  # current bar not green (C == O)
    assert not pt.engulfing(o, h, l, c)[1]


@pytest.mark.parametrize(
    "cur, expected",
    [
        ((10.0, 15.0, 10.0, 12.0), True),  # body (12-10)/(15-10) = 0.40 exactly, C in (11.5, 13)
        ((10.0, up(15.0), 10.0, 12.0), False),  # body ratio just below 0.40
        ((10.5, 11.5, 10.5, 11.5), False),  # C == midpoint (11.5) is not above it
        ((10.0, 13.0, 10.0, 12.999), True),  # just below O1
    ],
)
def test_piercing_boundaries(cur, expected):
    o, h, l, c = bars(RED, cur)
    assert bool(pt.piercing(o, h, l, c)[1]) is expected


def test_piercing_when_high_equals_low_is_false():
    o, h, l, c = bars(RED, (12.0, 12.0, 12.0, 12.0))
    assert not pt.piercing(o, h, l, c)[1]


@pytest.mark.parametrize("low1, expected", [(125.25, True), (124.75, True), (up(125.25), False)])
def test_tweezer_lows_within_0_2_percent(low1, expected):
    # 0.002 * 125 == 0.25 exactly
    o, h, l, c = bars((127.0, 127.5, low1, 126.0), (125.5, 126.5, 125.0, 126.0))
    assert bool(pt.tweezer(o, h, l, c)[1]) is expected


def test_first_matching_pattern_names_the_bar():
    # C == O1 (engulfing) and lows equal (tweezer): engulfing wins
    o, h, l, c = bars((13.0, 13.5, 10.0, 10.0), (10.5, 13.5, 10.0, 13.0))
    assert pt.pattern_codes(o, h, l, c)[1] == pt.ENGULFING
    o, h, l, c = bars(RED, (10.0, 15.0, 10.0, 12.0))
    assert pt.pattern_codes(o, h, l, c)[1] == pt.PIERCING
    assert pt.pattern_codes(o, h, l, c)[0] == pt.NONE  # no previous bar
