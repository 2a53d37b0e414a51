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
import random
import time
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..config import AlpacaConfig
from ..errors import ApiError, AuthError, ConfigError, TemporaryApiError
from ..redact import register_secret
from ..values import Bars

ET = ZoneInfo("America/New_York")
ALPACA_BATCH = 100
NOT_INSTALLED = (
    'Alpaca support is not installed: pip install -e ".[alpaca]" (or pip install alpaca-py)'
)


def require_keys(cfg: AlpacaConfig) -> tuple[str, str]:
    """The API key pair, registered as secrets.

    Raises:
        AuthError: a key is missing (the message says how to set both).
    """
    if not cfg.api_key or not cfg.secret_key:
        raise AuthError(
            "no Alpaca API keys: set ALPACA_API_KEY and ALPACA_SECRET_KEY "
            "(or [alpaca] api_key/secret_key)"
        )
    register_secret(cfg.api_key)
    register_secret(cfg.secret_key)
    return cfg.api_key, cfg.secret_key


def _sdk() -> Any:
    try:
        import alpaca.data  # noqa: F401
    except ImportError:
        raise ConfigError(NOT_INSTALLED) from None
    import alpaca

    return alpaca


def translate_error(exc: Exception, what: str) -> Exception:
    """An alpaca-py or requests failure as one of our errors (temporary ones are retried)."""
    import requests

    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return TemporaryApiError(f"{what}: {type(exc).__name__}")
    status = getattr(exc, "status_code", None)
    try:
        message = getattr(exc, "message", None) or str(exc)
    except Exception:  # alpaca-py's APIError.message can itself fail on odd bodies
        message = type(exc).__name__
    if status in (401, 403):
        return AuthError(
            f"Alpaca refused the API keys ({status}): check ALPACA_API_KEY and ALPACA_SECRET_KEY"
        )
    if status == 429 or (status is not None and status >= 500):
        err = TemporaryApiError(f"{what}: HTTP {status} ({message})", status=status)
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        err.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None  # type: ignore[attr-defined]
        return err
    return ApiError(f"{what}: {message}", status=status)


def with_retries(
    call: Callable[[], Any], what: str, sleep: Callable[[float], None], attempts: int = 4
) -> Any:
    """Run `call`, retrying temporary failures with exponential backoff + jitter."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = min(16.0, 1.0 * 2 ** (state.attempt_number - 1)) + random.uniform(0, 0.5)
        after = getattr(exc, "retry_after", None)
        return max(base, after) if after else base

    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        reraise=True,
        wait=wait,
        retry=retry_if_exception_type(TemporaryApiError),
        sleep=sleep,
    ):
        with attempt:
            try:
                return call()
            except (AuthError, ApiError, ConfigError):
                raise
            except Exception as exc:
                raise translate_error(exc, what) from None
    return None  # pragma: no cover


def _no_sdk_retry(client: Any) -> Any:
    """Turn off alpaca-py's fixed-wait retry (we retry with backoff and Retry-After)."""
    if hasattr(client, "_retry_codes"):
        client._retry_codes = [-1]
    return client


class AlpacaBarSource:
    """Fetches adjusted daily bars for many symbols per request.

    Args:
        cfg: `[alpaca]` config. sleep: waits seconds between retries (tests pass a fake).
    """

    name = "alpaca"

    def __init__(self, cfg: AlpacaConfig, sleep: Callable[[float], None] = time.sleep):
        key, secret = require_keys(cfg)
        alpaca = _sdk()
        from alpaca.data.historical import StockHistoricalDataClient

        self.cfg, self.sleep, self._alpaca = cfg, sleep, alpaca
        self.client = _no_sdk_retry(
            StockHistoricalDataClient(key, secret, raw_data=True, url_override=cfg.data_url or None)
        )
        self.requests = 0  # bar requests sent (pages count once each)

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
                out[sym] = _bars(sym, rows)
        return out


def _bars(symbol: str, rows: list[dict[str, Any]]) -> Bars:
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

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> dict[str, Bars]:
        """See `AlpacaBarSource.fetch`."""
        if self._source is None:
            self._source = AlpacaBarSource(self.cfg, self.sleep)
        return self._source.fetch(symbols, start, end)
