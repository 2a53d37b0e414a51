"""Daily bars from Schwab's price history (`get_price_history_every_day`, schwab-py), one request
per symbol, used through the local bar cache (`CachedBarProvider`: only missing days).

Candles are `{datetime: epoch ms, open, high, low, close, volume}`; Schwab stamps a daily candle
at midnight of its session (US Central), so the session date is the candle's instant seen in
US/Eastern. Prices USD as Schwab serves them (split-adjusted). Reads are retried on 429, 5xx and
connection errors with exponential backoff.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..config import SchwabConfig
from ..values import Bars

ET = ZoneInfo("America/New_York")


def candles_to_bars(
    symbol: str, candles: list[dict[str, Any]], start: dt.date, end: dt.date
) -> Bars | None:
    """Schwab candles as `Bars` for sessions in [start, end]; None when none fall inside."""
    rows: list[tuple[dt.date, float, float, float, float, float]] = []
    for c in candles:
        day = dt.datetime.fromtimestamp(c["datetime"] / 1000, dt.timezone.utc).astimezone(ET).date()
        if start <= day <= end:
            o, h, lo, cl, v = (float(c[k]) for k in ("open", "high", "low", "close", "volume"))
            rows.append((day, o, h, lo, cl, v))
    if not rows:
        return None
    rows.sort(key=lambda r: r[0])
    cols = list(zip(*rows))
    return Bars(symbol, np.array(cols[0], dtype="datetime64[D]"), *(np.array(c) for c in cols[1:]))


class SchwabBarSource:
    """Fetches daily bars per symbol from Schwab (client built on first fetch from the stored
    token, so a warm cache needs no login).

    Args:
        cfg: `[schwab]`. client: a schwab-py `Client` (tests); else built from the token store.
        sleep: waits between retries.
    """

    name = "schwab"

    def __init__(
        self, cfg: SchwabConfig, client: Any = None, sleep: Callable[[float], None] = time.sleep
    ):
        self.cfg, self.client, self.sleep = cfg, client, sleep
        self.requests = 0

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> dict[str, Bars]:
        """Bars of `symbols` for sessions in [start, end], by symbol (absent: no data).

        Raises:
            AuthError: not logged in / token dead. ApiError: a refused request.
            TemporaryApiError: after retries.
        """
        from ..alpaca_common import with_retries
        from ..brokers.schwab import call, check
        from ..brokers.schwab_auth import make_client

        if self.client is None:
            self.client = make_client(self.cfg)
        client = self.client
        lo = dt.datetime.combine(start, dt.time(0), dt.timezone.utc)
        hi = dt.datetime.combine(end, dt.time(23, 59), dt.timezone.utc)
        out: dict[str, Bars] = {}
        for sym in symbols:

            def one(sym: str = sym) -> Any:
                self.requests += 1
                what = f"Schwab price history {sym}"
                resp = call(
                    lambda: client.get_price_history_every_day(
                        sym, start_datetime=lo, end_datetime=hi
                    ),
                    what,
                )
                return check(resp, what)

            doc = with_retries(one, f"Schwab price history {sym}", self.sleep) or {}
            bars = candles_to_bars(sym, doc.get("candles") or [], start, end)
            if bars is not None:
                out[sym] = bars
        return out
