"""The daily summary (`etrade notify summary`): one session's fills, realized and unrealized P&L,
open positions and equity, short enough for a phone screen."""

from __future__ import annotations

from collections.abc import Callable

from ..events import DailySummary
from ..store import Store


def daily_summary(
    store: Store,
    broker: str,
    account: str,
    day: str,
    last_price: Callable[[str], float | None],
) -> DailySummary:
    """The `DailySummary` of session `day` (YYYY-MM-DD) for one broker account.

    `last_price(symbol)` marks open positions (USD; None leaves a position unmarked). Equity
    is the last recorded run's equity up to `day` (USD), None before any run.
    """
    fills = tuple(
        (r["side"], int(r["quantity"]), r["symbol"], r["price"], _tag(r["purpose"], r["kind"]))
        for r in store.fills_on(broker, account, day)
    )
    positions = []
    unrealized = 0.0
    for p in store.positions(broker, account):
        price = last_price(p.symbol)
        u = None
        if price is not None and p.entry_price:
            u = (price - p.entry_price) * p.remaining_qty
            unrealized += u
        positions.append((p.symbol, p.kind, p.remaining_qty, u))
    curve = [c for c in store.equity_curve(broker, account) if c[0] <= day]
    return DailySummary(
        day=day,
        broker=broker,
        realized=store.realized_on(broker, account, day),
        unrealized=unrealized,
        equity=curve[-1][1] if curve else None,
        fills=fills,
        positions=tuple(positions),
    )


def _tag(purpose: str, kind: str | None) -> str:
    if purpose.startswith("ENTRY_"):
        return purpose.removeprefix("ENTRY_")
    if purpose.startswith("EXIT_"):
        return f"{kind or ''} {purpose.removeprefix('EXIT_')}".strip()
    return purpose
