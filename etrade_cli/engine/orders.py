"""Sending and recording orders: journal first, then the broker, then fills (one transaction
each), so that a crash between any two steps can be resumed without a duplicate or a lost fill.

Shared by the cycle (`engine.cycle`), reconciliation and manual orders (`etrade order place`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..brokers.base import EXECUTED, OPEN, PARTIAL, Fill, OrderRequest, OrderState, Preview
from ..errors import OrderRejectedError, TemporaryApiError
from ..events import (
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderIntended,
    OrderPlaced,
    OrderRejected,
)
from ..store import OrderRow, utcnow
from .types import Deps


def _request(o: OrderRow) -> OrderRequest:
    return OrderRequest(
        o.client_order_id,
        o.symbol,
        o.side,
        o.quantity,
        o.price_type,
        o.limit_price,
        o.stop_price,
        o.order_term,
    )


def send_order(deps: Deps, order: OrderRow, session: str) -> OrderRow:
    """Preview, place and record a journaled order; returns the journal row afterwards."""
    deps.emit(_order_event(deps, OrderIntended, order))
    preview = preview_journaled(deps, order)
    if preview is None:
        return deps.store.order_by_id(order.id)
    return place_previewed(deps, order, preview, session)


def preview_journaled(deps: Deps, order: OrderRow) -> Preview | None:
    """Preview a journaled order and record `previewed` (or `rejected`, returning None)."""
    st = deps.store
    try:
        preview = deps.broker.preview(_request(order))
    except OrderRejectedError as exc:
        _finalize_rejected(deps, order, str(exc))
        return None
    with st.tx() as db:
        st.set_order(db, order.id, status="previewed", preview_id=preview.preview_id)
    deps.faults("after_preview")
    return preview


def place_previewed(deps: Deps, order: OrderRow, preview: Preview, session: str) -> OrderRow:
    """Place a previewed order with the same `clientOrderId` and parameters, then record it.

    A lost reply (temporary error) marks the row `unknown` and looks the order up by
    `clientOrderId` before anything else; it is never blindly re-sent.
    """
    st, b, fault = deps.store, deps.broker, deps.faults
    try:
        state: OrderState | None = b.place(_request(order), preview)
    except TemporaryApiError as exc:
        with st.tx() as db:
            st.set_order(db, order.id, status="unknown", message=f"lost reply: {exc}")
        state = b.order_status(order.client_order_id)
        if state is None:
            return st.order_by_id(order.id)
    except OrderRejectedError as exc:
        _finalize_rejected(deps, order, str(exc))
        return st.order_by_id(order.id)
    assert state is not None  # the lost-reply branch returned when the lookup found nothing
    fault("after_place")
    with st.tx() as db:
        st.set_order(db, order.id, status="placed", broker_order_id=state.broker_order_id)
    deps.emit(_order_event(deps, OrderPlaced, order, broker_order_id=state.broker_order_id))
    fault("after_placed")
    apply_state(deps, st.order_by_id(order.id), state, session)
    fault("after_fill")
    return st.order_by_id(order.id)


def _finalize_rejected(deps: Deps, order: OrderRow, message: str, status: str = "rejected") -> None:
    """Mark a journal row final without a fill (`rejected` or `cancelled`); a pending entry's
    position is cancelled with it."""
    st = deps.store
    with st.tx() as db:
        st.set_order(db, order.id, status=status, message=message)
        if order.purpose.startswith("ENTRY") and order.position_id:
            pos = st.position(order.position_id)
            if pos.status == "pending":
                st.update_position(db, pos.id, status="cancelled", closed_at=utcnow())
    kind = OrderCancelled if status == "cancelled" else OrderRejected
    deps.emit(_order_event(deps, kind, order, message=message))


def _tag(deps: Deps, order: OrderRow) -> str:
    """B1/B2 for an entry, "<B1|B2> <reason>" for an exit, else the journal purpose."""
    if order.purpose.startswith("ENTRY_"):
        return order.purpose.removeprefix("ENTRY_")
    if order.purpose.startswith("EXIT_") and order.position_id:
        kind = deps.store.position(order.position_id).kind
        return f"{kind} {order.purpose.removeprefix('EXIT_')}"
    return order.purpose


def _order_event(deps: Deps, cls: type[OrderEvent], order: OrderRow, **extra: Any) -> OrderEvent:
    """An order event for journal row `order` (emitted after the row is committed)."""
    return cls(
        symbol=order.symbol,
        side=order.side,
        quantity=extra.pop("quantity", order.quantity),
        tag=_tag(deps, order),
        client_order_id=order.client_order_id,
        **extra,
    )


def _journal_status(state: OrderState) -> str:
    if state.status == EXECUTED and state.filled_qty >= state.quantity:
        return "filled"
    if state.filled_qty > 0:
        return "partially_filled" if state.status in (OPEN, PARTIAL, EXECUTED) else "filled"
    return {
        "OPEN": "placed",
        "PARTIAL": "partially_filled",
        "CANCELLED": "cancelled",
        "REJECTED": "rejected",
        "EXPIRED": "cancelled",
    }.get(state.status, "placed")


def fills_of(order: OrderRow, state: OrderState) -> list[Fill]:
    """The executions in `state`: its own list, or (for brokers that report only a cumulative
    quantity and average price, like E*TRADE) one fill for the increase since the journal's
    `filled_qty`, priced so that the average stays exact."""
    if state.fills:
        return list(state.fills)
    delta = state.filled_qty - order.filled_qty
    if delta <= 0 or state.avg_fill_price is None:
        return []
    old = (order.avg_fill_price or 0.0) * order.filled_qty
    price = (state.avg_fill_price * state.filled_qty - old) / delta
    return [Fill(f"{state.broker_order_id}:{state.filled_qty}", delta, price)]


def apply_state(deps: Deps, order: OrderRow, state: OrderState, session: str) -> list[int]:
    """Record the broker's view of an order in one transaction: new fills (deduplicated by
    their key), their effect on the position, and the journal status. Returns new fill ids."""
    st = deps.store
    new_ids: list[int] = []
    filled: list[tuple[Fill, float | None]] = []
    with st.tx() as db:
        for f in fills_of(order, state):
            if db.execute("SELECT 1 FROM fills WHERE fill_key = ?", (f.key,)).fetchone():
                continue
            day = f.session_date or session
            cur = db.execute(
                "INSERT INTO fills (order_id, fill_key, quantity, price, commission, session_date,"
                " filled_at) VALUES (?,?,?,?,?,?,?)",
                (order.id, f.key, f.quantity, f.price, f.commission, day, utcnow()),
            )
            new_ids.append(int(cur.lastrowid or 0))
            pnl = None
            if order.position_id:
                pnl = _apply_fill(deps, db, order, f.quantity, f.price, f.commission, day)
            filled.append((f, pnl))
        status = _journal_status(state)
        st.set_order(
            db,
            order.id,
            status=status,
            broker_order_id=state.broker_order_id,
            filled_qty=state.filled_qty,
            avg_fill_price=state.avg_fill_price,
            message=state.message or order.message,
        )
        if (
            order.purpose.startswith("ENTRY")
            and status in ("cancelled", "rejected")
            and state.filled_qty == 0
            and order.position_id
        ):
            st.update_position(db, order.position_id, status="cancelled", closed_at=utcnow())
    _emit_state(deps, order, state, status, filled)
    return new_ids


def _emit_state(
    deps: Deps,
    order: OrderRow,
    state: OrderState,
    status: str,
    filled: list[tuple[Fill, float | None]],
) -> None:
    """Events for what `apply_state` just recorded: each new fill, and a final status reached
    without a fill (rejected, cancelled, expired)."""
    for f, pnl in filled:
        deps.emit(
            _order_event(deps, OrderFilled, order, quantity=f.quantity, price=f.price, pnl=pnl)
        )
    if status == order.status or status not in ("rejected", "cancelled"):
        return
    cls = {"REJECTED": OrderRejected, "EXPIRED": OrderExpired}.get(state.status, OrderCancelled)
    if status == "rejected":
        cls = OrderRejected
    deps.emit(_order_event(deps, cls, order, message=state.message or ""))


def _apply_fill(
    deps: Deps,
    db: sqlite3.Connection,
    order: OrderRow,
    qty: int,
    price: float,
    commission: float,
    session: str,
) -> float | None:
    """Apply one fill to the order's position; returns the realized P&L (USD) of an exit fill,
    None for an entry fill."""
    st = deps.store
    pos = st.position(order.position_id or 0)
    if order.purpose.startswith("ENTRY"):
        total = pos.original_qty + qty
        entry = ((pos.entry_price or 0.0) * pos.original_qty + price * qty) / total
        st.update_position(
            db,
            pos.id,
            status="open",
            entry_date=pos.entry_date or session,
            entry_price=entry,
            original_qty=total,
            remaining_qty=pos.remaining_qty + qty,
            stop_loss=st.proposal_stop_loss(pos.id) or deps.strategy.initial_stop(pos.kind, entry),
            realized_pnl=pos.realized_pnl - commission,
        )
        return None
    reason = order.purpose.removeprefix("EXIT_")
    pnl = (price - (pos.entry_price or 0.0)) * qty - commission
    remaining = pos.remaining_qty - qty
    db.execute(
        "INSERT INTO partial_exits (position_id, order_id, reason, session_date, quantity,"
        " price, realized_pnl) VALUES (?,?,?,?,?,?,?)",
        (pos.id, order.id, reason, session, qty, price, pnl),
    )
    values: dict[str, Any] = {"remaining_qty": remaining, "realized_pnl": pos.realized_pnl + pnl}
    if remaining <= 0:
        values.update(
            status="closed",
            exit_date=session,
            exit_price=price,
            exit_reason=reason,
            closed_at=utcnow(),
        )
    st.update_position(db, pos.id, **values)
    return pnl
