"""Step 1 of a cycle: resolve journal rows an earlier run left live (looked up at the broker by
`clientOrderId` before anything is sent again) and compare the book's holdings with the
broker's. What cannot be resolved is reported and its symbol is not traded this cycle; neither
side is silently changed."""

from __future__ import annotations

import numpy as np

from ..brokers.base import OPEN, BrokerPosition, OrderState
from ..store import BROKER_STOP, MANUAL_CHANGE, OrderRow
from . import protect
from .orders import apply_state, finalize_rejected, send_order
from .types import Deps, Finding, RunResult


def reconcile(
    deps: Deps,
    session: np.datetime64,
    res: RunResult,
    holdings: list[BrokerPosition] | None = None,
) -> set[str]:
    """Resolve live journal rows and compare holdings; returns symbols not to trade this cycle.
    `holdings`: the broker's positions when the caller has just read them (with no journal row
    live, nothing happens before the comparison), else they are read here."""
    st, b, day = deps.store, deps.broker, str(session)
    blocked: set[str] = set()
    for order in st.live_orders(b.name, b.account):
        state = b.order_status(order.client_order_id)
        if state is not None:
            if not res.dry_run:
                _record(deps, order, state, day, res)
            if order.purpose == BROKER_STOP and order.status == "placed" and state.status == OPEN:
                continue  # a resting stop still resting: nothing to report
            res.findings.append(
                Finding(
                    "info",
                    f"order {order.client_order_id} ({order.symbol} "
                    f"{order.purpose}) was {order.status}; broker says "
                    f"{state.status}, {state.filled_qty} filled: recorded",
                )
            )
        elif (
            order.replaces is not None or order.purpose in (BROKER_STOP, MANUAL_CHANGE)
        ) and order.status in (
            "intent",
            "previewed",
            "unknown",
        ):
            _drop_change(deps, order, res)
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
    blocked |= _compare_holdings(deps, res, holdings)
    return blocked


def _record(deps: Deps, order: OrderRow, state: OrderState, day: str, res: RunResult) -> None:
    """Record the broker's state of a live journal row; a resting stop that filled between
    runs is listed with the cycle's exits (reason BROKER_STOP), never a mismatch."""
    if order.replaces is not None and order.status in ("intent", "previewed", "unknown"):
        protect.record_replacement(deps, order, state, day)
    else:
        before = order.filled_qty
        apply_state(deps, order, state, day)
        if order.purpose == BROKER_STOP and deps.store.order_by_id(order.id).filled_qty > before:
            res.exits.append(protect.fill_action(deps, order))


def _drop_change(deps: Deps, order: OrderRow, res: RunResult) -> None:
    """A change (replacement, or `order change` of an order the journal lacks), or a resting
    stop, the broker never received: dropped, never re-sent (the order a change would replace
    may still rest there); the cycle's
    `protect.sync` places or changes the position's stop again if it still needs one."""
    if res.dry_run:
        return
    what = "resting stop" if order.purpose == BROKER_STOP and order.replaces is None else "change"
    finalize_rejected(deps, order, f"{what} never reached the broker; dropped", "cancelled")
    res.findings.append(
        Finding(
            "info",
            f"dropped {what} {order.client_order_id} ({order.symbol}) that never "
            "reached the broker",
        )
    )


def _resume_or_drop(deps: Deps, order: OrderRow, day: str, res: RunResult) -> None:
    """An order the broker never received: send it if it is for this session, else drop it
    (its signal is stale) with a warning: never silently."""
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
    finalize_rejected(
        deps,
        order,
        f"never reached the broker; stale after session {order.session_date}",
        status="cancelled",
    )
    res.findings.append(
        Finding(
            "warning",
            f"dropped order {order.client_order_id} ({order.side} {order.quantity} "
            f"{order.symbol} {order.purpose}) of session {order.session_date}: it never "
            f"reached the broker and is stale now ({order.message or 'no message'})",
        )
    )


def _compare_holdings(
    deps: Deps, res: RunResult, holdings: list[BrokerPosition] | None = None
) -> set[str]:
    b = deps.broker
    positions = deps.store.positions(b.name, b.account)
    if holdings is None:
        holdings = b.positions()
    book: dict[str, int] = {}
    for p in positions:
        book[p.symbol] = book.get(p.symbol, 0) + p.remaining_qty
    held = {p.symbol: p.quantity for p in holdings}
    if book == held:  # the usual case: they agree, nothing to report
        return set()
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
