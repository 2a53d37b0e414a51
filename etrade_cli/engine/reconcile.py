"""Step 1 of a cycle: resolve journal rows an earlier run left live (looked up at the broker by
`clientOrderId` before anything is sent again) and compare the book's holdings with the
broker's. What cannot be resolved is reported and its symbol is not traded this cycle; neither
side is silently changed."""

from __future__ import annotations

import numpy as np

from ..store import OrderRow
from .orders import _finalize_rejected, apply_state, send_order
from .types import Deps, Finding, RunResult


def reconcile(deps: Deps, session: np.datetime64, res: RunResult) -> set[str]:
    """Resolve live journal rows and compare holdings; returns symbols not to trade this cycle."""
    st, b, day = deps.store, deps.broker, str(session)
    blocked: set[str] = set()
    for order in st.live_orders(b.name, b.account):
        state = b.order_status(order.client_order_id)
        if state is not None:
            if not res.dry_run:
                apply_state(deps, order, state, day)
            res.findings.append(
                Finding(
                    "info",
                    f"order {order.client_order_id} ({order.symbol} "
                    f"{order.purpose}) was {order.status}; broker says "
                    f"{state.status}, {state.filled_qty} filled: recorded",
                )
            )
        elif order.status in ("intent", "previewed", "unknown"):
            _resume_or_drop(deps, order, day, res)
        else:
            blocked.add(order.symbol)
            res.findings.append(
                Finding(
                    "error",
                    f"journal has order {order.client_order_id} "
                    f"({order.symbol}) as {order.status}, but the broker does "
                    "not know it",
                )
            )
    blocked |= _compare_holdings(deps, res)
    return blocked


def _resume_or_drop(deps: Deps, order: OrderRow, day: str, res: RunResult) -> None:
    """An order the broker never received: send it if it is for this session, else drop it."""
    if res.dry_run:
        res.findings.append(
            Finding(
                "info",
                f"order {order.client_order_id} never reached the "
                "broker; a real run would resolve it",
            )
        )
        return
    if order.session_date == day:
        res.findings.append(
            Finding(
                "info",
                f"resuming order {order.client_order_id} "
                f"({order.symbol} {order.purpose}) that never reached the "
                "broker",
            )
        )
        send_order(deps, order, day)
        return
    _finalize_rejected(
        deps,
        order,
        f"never reached the broker; stale after session {order.session_date}",
        status="cancelled",
    )
    res.findings.append(
        Finding(
            "info",
            f"dropped order {order.client_order_id} ({order.symbol}) "
            f"of session {order.session_date} that never reached the broker",
        )
    )


def _compare_holdings(deps: Deps, res: RunResult) -> set[str]:
    b = deps.broker
    book: dict[str, int] = {}
    for p in deps.store.positions(b.name, b.account):
        book[p.symbol] = book.get(p.symbol, 0) + p.remaining_qty
    held = {p.symbol: p.quantity for p in b.positions()}
    blocked = set()
    for sym in sorted(set(book) | set(held)):
        ours, theirs = book.get(sym, 0), held.get(sym, 0)
        if ours == theirs:
            continue
        if theirs < ours:
            blocked.add(sym)
            res.findings.append(
                Finding(
                    "error",
                    f"{sym}: the book holds {ours} shares, the broker {theirs}",
                )
            )
        else:
            res.findings.append(
                Finding(
                    "info",
                    f"{sym}: the broker holds {theirs} shares, the "
                    f"book {ours} (shares not managed by the strategy)",
                )
            )
    return blocked
