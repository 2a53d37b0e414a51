"""Daily bars from Alpaca's market-data API through `alpaca-py` (the maintained SDK).

Why not `alpaca-trade-api`: it is deprecated and pins `urllib3<2`, which conflicts with current
`requests`. Install with `pip install -e ".[alpaca]"`.

Requests ask for adjusted prices (`adjustment=all`), the configured feed (`iex` by default, `sip`
with a subscription) and many symbols at once (`ALPACA_BATCH` per request); alpaca-py follows
`next_page_token` paging itself. alpaca-py's own fixed-wait retry is switched off so that 429s,
5xx and connection errors are retried here with exponential backoff and jitter, honouring
`Retry-After` (tenacity, with an injectable sleep for tests). Bar timestamps (UTC midnight-ish
instants of the session) become session dates in US/Eastern.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..alpaca_common import no_sdk_retry, require_keys, sdk, with_retries
from ..config import AlpacaConfig
from ..symbols import is_symbol
from ..values import Bars

ET = ZoneInfo("America/New_York")
ALPACA_BATCH = 100


class AlpacaBarSource:
    """Fetches adjusted daily bars for many symbols per request.

    Args:
        cfg: `[alpaca]` config. sleep: waits seconds between retries (tests pass a fake).
    """

    name = "alpaca"

    def __init__(self, cfg: AlpacaConfig, sleep: Callable[[float], None] = time.sleep):
        key, secret = require_keys(cfg)
        alpaca = sdk()
        from alpaca.data.historical import StockHistoricalDataClient

        self.cfg, self.sleep, self._alpaca = cfg, sleep, alpaca
        self.client = no_sdk_retry(
            StockHistoricalDataClient(key, secret, raw_data=True, url_override=cfg.data_url or None)
        )
        self.requests = 0  # bar requests sent (pages count once each)
        self.warnings: list[str] = []  # one line per dropped payload value, taken by the caller

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> dict[str, Bars]:
        """Adjusted daily bars of `symbols` for sessions in [start, end], by symbol.

        Raises:
            AuthError: bad keys. ApiError: a refused request. TemporaryApiError: after retries.
        """
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        out: dict[str, Bars] = {}
        for i in range(0, len(symbols), ALPACA_BATCH):
            batch = list(symbols[i : i + ALPACA_BATCH])
            req = StockBarsRequest(
                symbol_or_symbols=batch,
                timeframe=TimeFrame.Day,
                start=dt.datetime.combine(start, dt.time(0), dt.timezone.utc),
                end=dt.datetime.combine(end, dt.time(23, 59), dt.timezone.utc),
                adjustment=Adjustment.ALL,
                feed=DataFeed(self.cfg.feed),
            )

            def call(req: Any = req) -> Any:
                self.requests += 1
                return self.client.get_stock_bars(req)

            raw = with_retries(call, "Alpaca bars", self.sleep)
            for sym, rows in (raw or {}).items():
                if not is_symbol(str(sym)):
                    self.warnings.append(f"Alpaca sent bars for an invalid symbol {sym!r}; ignored")
                    continue
                out[sym] = _bars(sym, rows)
                if dropped := len(rows) - len(out[sym]):
                    self.warnings.append(
                        f"Alpaca: dropped {dropped} of {len(rows)} bars of {sym} (missing, "
                        "non-finite or non-positive values)"
                    )
        return out


def _usable(row: dict[str, Any]) -> bool:
    """A bar with finite positive prices, high >= low and a finite volume >= 0."""
    try:
        o, h, lo, c, v = (float(row[k]) for k in ("o", "h", "l", "c", "v"))
        dt.datetime.fromisoformat(str(row["t"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, OverflowError):
        return False
    prices = (o, h, lo, c)
    return all(map(math.isfinite, (*prices, v))) and min(prices) > 0 and h >= lo and v >= 0


def _bars(symbol: str, rows: list[dict[str, Any]]) -> Bars:
    """Bars from Alpaca's raw rows; unusable rows (`_usable`) are left out."""
    rows = [r for r in rows if _usable(r)]
    days = [
        dt.datetime.fromisoformat(r["t"].replace("Z", "+00:00")).astimezone(ET).date() for r in rows
    ]
    return Bars(
        symbol,
        np.array(days, dtype="datetime64[D]"),
        *(np.array([float(r[k]) for r in rows]) for k in ("o", "h", "l", "c", "v")),
    )


class LazyAlpacaSource:
    """An `AlpacaBarSource` built on the first fetch, so a scan on a warm cache neither imports
    alpaca-py nor opens a connection. Keys are checked at once."""

    name = "alpaca"

    def __init__(self, cfg: AlpacaConfig, sleep: Callable[[float], None] = time.sleep):
        require_keys(cfg)
        self.cfg, self.sleep = cfg, sleep
        self._source: AlpacaBarSource | None = None

    @property
    def requests(self) -> int:
        """Bar requests sent so far."""
        return self._source.requests if self._source else 0

    @property
    def warnings(self) -> list[str]:
        """The source's warnings (see `AlpacaBarSource.warnings`)."""
        return self._source.warnings if self._source else []

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> dict[str, Bars]:
        """See `AlpacaBarSource.fetch`."""
        if self._source is None:
            self._source = AlpacaBarSource(self.cfg, self.sleep)
        return self._source.fetch(symbols, start, end)
