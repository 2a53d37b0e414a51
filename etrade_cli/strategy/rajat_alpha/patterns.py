"""Candle patterns of spec §2.6, vectorized: current bar O,H,L,C against the previous bar O1,C1,L1.

These are the v67 definitions, not TA-Lib's textbook patterns. Comparisons are literal (no epsilon).
"""

from __future__ import annotations

import numpy as np

from ..indicators import shift

NONE, ENGULFING, PIERCING, TWEEZER = 0, 1, 2, 3
PATTERN_NAMES = {NONE: None, ENGULFING: "engulfing", PIERCING: "piercing", TWEEZER: "tweezer"}
#: ranking used to order signals (spec §4): engulfing > piercing > tweezer
PATTERN_RANK = {"engulfing": 0, "piercing": 1, "tweezer": 2}


def bullish_setup(o: np.ndarray, c: np.ndarray) -> np.ndarray:
    """`green and red1`: the bar closes above its open after a bar that closed below its open."""
    return (c > o) & (shift(c) < shift(o))


def engulfing(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray) -> np.ndarray:  # noqa: E741
    """Bullish engulfing (spec §2.6): green, red1 and `C >= O1`.

    >>> engulfing(*[np.array(v) for v in ([10., 9.], [10., 11.], [9., 8.], [9., 10.])]).tolist()
    [False, True]
    """
    return bullish_setup(o, c) & (c >= shift(o))


def piercing(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray) -> np.ndarray:  # noqa: E741
    """Piercing (spec §2.6): green, red1, `C > (O1+C1)/2`, `C < O1`, `H > L`, `(C-O)/(H-L) >= 0.40`."""
    o1, c1 = shift(o), shift(c)
    rng = h - l
    with np.errstate(invalid="ignore", divide="ignore"):
        body = np.where(rng > 0, (c - o) / rng, np.nan)
    return bullish_setup(o, c) & (c > (o1 + c1) / 2) & (c < o1) & (h > l) & (body >= 0.40)


def tweezer(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray) -> np.ndarray:  # noqa: E741
    """Tweezer bottom (spec §2.6): green, red1 and `|L - L1| <= 0.002 * L`."""
    return bullish_setup(o, c) & (np.abs(l - shift(l)) <= 0.002 * l)


def pattern_codes(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray) -> np.ndarray:  # noqa: E741
    """Code of the first matching pattern in spec order (engulfing, piercing, tweezer); 0 if none."""
    return np.select(
        [engulfing(o, h, l, c), piercing(o, h, l, c), tweezer(o, h, l, c)],
        [ENGULFING, PIERCING, TWEEZER],
        default=NONE,
    ).astype(np.int8)
