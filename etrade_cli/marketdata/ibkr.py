"""Daily bars from Interactive Brokers (`reqHistoricalData(contract, '', duration, '1 day',
'ADJUSTED_LAST', useRTH=True)`, ib_async), one request per symbol, used through the local bar
cache (`CachedBarProvider`: only missing days). IB serves adjusted bars only up to now (the end
must be empty), so the duration reaches back from today to `start` and the result is cut to
[start, end]. Needs a running TWS / IB Gateway (`[ibkr]`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import IbkrConfig
from ..values import Bars


def duration(start: dt.date, today: dt.date) -> str:
    """IB's `durationStr` covering `start`..`today`: days up to a year, else whole years."""
    days = (today - start).days + 1
    return f"{days} D" if days <= 365 else f"{math.ceil(days / 365)} Y"


def to_bars(symbol: str, rows: list[Any], start: dt.date, end: dt.date) -> Bars | None:
    """ib_async `BarData` rows (daily: `date` is the session date) as `Bars` in [start, end]."""
    keep = []
    for r in rows:
        day = r.date.date() if isinstance(r.date, dt.datetime) else r.date
        if start <= day <= end:
            keep.append(
                (day, float(r.open), float(r.high), float(r.low), float(r.close), float(r.volume))
            )
    if not keep:
        return None
    cols = list(zip(*sorted(keep, key=lambda r: r[0])))
    return Bars(symbol, np.array(cols[0], dtype="datetime64[D]"), *(np.array(c) for c in cols[1:]))


class IbkrBarSource:
    """Fetches adjusted daily bars per symbol over an IB connection opened on the first fetch.

    Args:
        cfg: `[ibkr]`. ib: a connected `IB` (tests pass a fake); else connected on first use.
        today: the date the duration counts back from (default: today, UTC).
    """

    name = "ibkr"

    def __init__(self, cfg: IbkrConfig, ib: Any = None, today: dt.date | None = None):
        self.cfg, self.ib, self.today = cfg, ib, today
        self.requests = 0

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> dict[str, Bars]:
        """Bars of `symbols` for sessions in [start, end], by symbol (absent: no data).

        Raises:
            ApiError: the gateway cannot be reached. ConfigError: ib_async missing.
        """
        from ..brokers.ibkr import connect, sdk

        ib = self.ib = connect(self.cfg, self.ib)
        today = self.today or dt.datetime.now(dt.timezone.utc).date()
        out: dict[str, Bars] = {}
        for sym in symbols:
            contract = sdk().Stock(sym, "SMART", "USD")
            self.requests += 1
            rows = ib.reqHistoricalData(
                contract, "", duration(start, today), "1 day", "ADJUSTED_LAST", useRTH=True
            )
            bars = to_bars(sym, list(rows or []), start, end)
            if bars is not None:
                out[sym] = bars
        return out
