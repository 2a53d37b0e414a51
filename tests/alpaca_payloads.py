"""Alpaca API responses shaped like Alpaca's documented JSON (market data v2, trading v2)."""

from __future__ import annotations

import datetime as dt

DATA = "https://data.alpaca.markets/v2"
PAPER = "https://paper-api.alpaca.markets/v2"


def bar(day: dt.date, close: float) -> dict:
    return {
        "t": f"{day.isoformat()}T05:00:00Z",
        "o": close - 0.5,
        "h": close + 1.0,
        "l": close - 1.0,
        "c": close,
        "v": 1_000_000,
        "n": 5000,
        "vw": close,
    }


def weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    out, d = [], start
    while d <= end:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def bars_page(by_symbol: dict[str, list[dict]], next_token: str | None = None) -> dict:
    return {"bars": by_symbol, "next_page_token": next_token}


ACCOUNT = {
    "id": "904837e3-3b76-47ec-b432-046db621571b",
    "account_number": "PA3XYZ",
    "status": "ACTIVE",
    "currency": "USD",
    "cash": "100000",
    "portfolio_value": "100000",
    "equity": "100000",
    "buying_power": "200000",
    "pattern_day_trader": False,
    "trading_blocked": False,
    "transfers_blocked": False,
    "account_blocked": False,
    "created_at": "2024-01-02T15:00:00Z",
    "shorting_enabled": True,
    "long_market_value": "0",
    "short_market_value": "0",
    "initial_margin": "0",
    "maintenance_margin": "0",
    "last_equity": "100000",
    "multiplier": "2",
    "sma": "0",
    "daytrade_count": 0,
}


def position(symbol: str, qty: int, avg: float) -> dict:
    return {
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "us_equity",
        "avg_entry_price": str(avg),
        "qty": str(qty),
        "qty_available": str(qty),
        "side": "long",
        "market_value": str(qty * avg),
        "cost_basis": str(qty * avg),
        "unrealized_pl": "0",
        "unrealized_plpc": "0",
        "unrealized_intraday_pl": "0",
        "unrealized_intraday_plpc": "0",
        "current_price": str(avg),
        "lastday_price": str(avg),
        "change_today": "0",
    }


def order(
    client_order_id: str,
    symbol: str,
    qty: int,
    side: str = "buy",
    status: str = "filled",
    filled: int | None = None,
    avg: float | None = 46.7,
    order_id: str = "61e69015-8549-4bfd-b9c3-01e75843f47d",
) -> dict:
    filled = qty if filled is None and status == "filled" else (filled or 0)
    return {
        "id": order_id,
        "client_order_id": client_order_id,
        "created_at": "2024-01-02T15:30:00Z",
        "updated_at": "2024-01-02T15:30:01Z",
        "submitted_at": "2024-01-02T15:30:00Z",
        "filled_at": "2024-01-02T15:30:01Z" if filled else None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": str(qty),
        "filled_qty": str(filled),
        "filled_avg_price": str(avg) if filled else None,
        "order_class": "",
        "order_type": "market",
        "type": "market",
        "side": side,
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "status": status,
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
    }


def snapshot(symbol: str, last: float) -> dict:
    return {
        symbol: {
            "latestTrade": {
                "t": "2024-01-02T15:30:00Z",
                "x": "V",
                "p": last,
                "s": 100,
                "c": ["@"],
                "i": 1,
                "z": "C",
            },
            "latestQuote": {
                "t": "2024-01-02T15:30:00Z",
                "ax": "V",
                "ap": last + 0.01,
                "as": 1,
                "bx": "V",
                "bp": last - 0.01,
                "bs": 1,
                "c": ["R"],
                "z": "C",
            },
            "dailyBar": {
                "t": "2024-01-02T05:00:00Z",
                "o": last - 1,
                "h": last + 2,
                "l": last - 2,
                "c": last,
                "v": 123456,
                "n": 100,
                "vw": last,
            },
            "prevDailyBar": {
                "t": "2024-01-01T05:00:00Z",
                "o": last,
                "h": last,
                "l": last,
                "c": last,
                "v": 1,
                "n": 1,
                "vw": last,
            },
        }
    }
