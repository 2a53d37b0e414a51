"""Gaps in cached bars: NYSE sessions (exchange_calendars XNYS) with no bar."""

from __future__ import annotations

from collections.abc import Sequence

from .cache import BarCache, Coverage


def session_gaps(cache: BarCache, rows: Sequence[Coverage]) -> dict[str, int]:
    """For each symbol with bars: NYSE sessions between its first and last bar that have no
    bar in the cache (a symbol that traded every session has 0)."""
    with_bars = [r for r in rows if r.first_bar and r.last_bar]
    if not with_bars:
        return {}
    import exchange_calendars as xcals
    import pandas as pd

    lo = min(r.first_bar for r in with_bars if r.first_bar)
    hi = max(r.last_bar for r in with_bars if r.last_bar)
    cal = xcals.get_calendar("XNYS", start=min(lo, "2000-01-01"))
    sessions = [
        d.date().isoformat() for d in cal.sessions_in_range(pd.Timestamp(lo), pd.Timestamp(hi))
    ]
    import bisect

    out = {}
    for r in with_bars:
        first, last = r.first_bar or "", r.last_bar or ""
        expected = bisect.bisect_right(sessions, last) - bisect.bisect_left(sessions, first)
        have = sum(1 for d in cache.dates(r.symbol) if first <= d <= last)
        out[r.symbol] = max(0, expected - have)
    return out
