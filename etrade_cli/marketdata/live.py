"""Today's still-forming daily bar (strategy spec §1): bar t of a live intraday run is built
from the broker's latest quote over the cached history, with the latest price as its close."""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..values import Bars, Quote


def with_forming_bar(bars: Bars, quote: Quote, today: dt.date) -> Bars:
    """`bars` plus today's bar from `quote` (open/high/low/volume from `quote.extra` when the
    broker gives them, else the last price); unchanged when a bar for today already exists.
    A bar already dated today gets its close, high and low updated to the latest price."""
    day = np.datetime64(today)
    last = float(quote.last)
    o = float(quote.extra.get("open") or last)
    h = max(float(quote.extra.get("high") or last), last, o)
    lo = min(float(quote.extra.get("low") or last), last, o)
    v = float(quote.extra.get("volume") or 0.0)
    if len(bars) and bars.dates[-1] > day:
        return bars
    if len(bars) and bars.dates[-1] == day:
        high, low, close = bars.high.copy(), bars.low.copy(), bars.close.copy()
        close[-1], high[-1], low[-1] = last, max(high[-1], last), min(low[-1], last)
        return Bars(bars.symbol, bars.dates, bars.open, high, low, close, bars.volume)
    return Bars(
        bars.symbol,
        np.append(bars.dates, day),
        np.append(bars.open, o),
        np.append(bars.high, h),
        np.append(bars.low, lo),
        np.append(bars.close, last),
        np.append(bars.volume, v),
    )
