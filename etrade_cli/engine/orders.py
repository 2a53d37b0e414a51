"""Sending and recording orders: journal first, then the broker, then fills (one transaction
each), so that a crash between any two steps can be resumed without a duplicate or a lost fill.

Shared by the cycle (`engine.cycle`), reconciliation and manual orders (`etrade order place`).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from ..brokers.base import EXECUTED, OPEN, PARTIAL, Fill, OrderRequest, OrderState, Preview
from ..errors import ApiError, OrderRejectedError, ReconcileError, TemporaryApiError
from ..store import OrderRow, Store, utcnow
from .types import Deps

if TYPE_CHECKING:  # `etrade_cli.events` loads only when someone listens (`Deps.emit`)
    from ..events import OrderEvent


def order_request(o: OrderRow) -> OrderRequest:
    """The broker request of journal row `o`: its clientOrderId and order parameters."""
    return OrderRequest(
        o.client_order_id,
        o.symbol,
        o.side,
        o.quantity,
        o.price_type,
        o.limit_price,
        o.stop_price,
        o.order_term,
        o.market_session,
    )


def send_order(deps: Deps, order: OrderRow, session: str) -> OrderRow:
    """Preview, place and record a journaled order; returns the journal row afterwards."""
    _emit_order(deps, "OrderIntended", order)
    preview = preview_journaled(deps, order)
    if preview is None:
        return deps.store.order_by_id(order.id)
    return place_previewed(deps, order, preview, session)


def preview_journaled(deps: Deps, order: OrderRow) -> Preview | None:
    """Preview a journaled order and record `previewed` (or `rejected`, returning None)."""
    st = deps.store
    try:
        preview = deps.broker.preview(order_request(order))
    except OrderRejectedError as exc:
        finalize_rejected(deps, order, str(exc))
        return None
    st.change_order(order.id, status="previewed", preview_id=preview.preview_id)
    deps.faults("after_preview")
    return preview


def place_previewed(deps: Deps, order: OrderRow, preview: Preview, session: str) -> OrderRow:
    """Place a previewed order with the same `clientOrderId` and parameters, then record it.

    A temporary error (no reply, 5xx, 429, rate-limit page) marks the row `unknown` and the
    order is looked up by `clientOrderId` before anything else; it is never blindly re-sent.
    When the broker *answered* with the error and the lookup proves the order is not there,
    it is previewed again (a new `previewId`) and re-sent with the same `clientOrderId`, up to
    `MAX_RESENDS` times, waiting as the broker asked (`Retry-After`) or backing off (1, 2 s).
    What stays unresolved is left `unknown` (no reply) or `previewed` (proven not placed) with
    a message saying which; `unconfirmed_orders` lists it for the run's report and exit code.
    """
    st, fault = deps.store, deps.faults
    attempt = 0
    while True:
        attempt += 1
        try:
            state: OrderState | None = deps.broker.place(order_request(order), preview)
        except OrderRejectedError as exc:
            finalize_rejected(deps, order, str(exc))
            return st.order_by_id(order.id)
        except TemporaryApiError as exc:
            state, retry = _after_temporary_error(deps, order, exc, attempt)
            if state is None and not retry:
                return st.order_by_id(order.id)
            if state is None:
                deps.sleep(_resend_wait(exc, attempt))
                try:
                    again = preview_journaled(deps, st.order_by_id(order.id))
                except ApiError as failed:
                    with st.tx() as db:
                        st.set_order(
                            db,
                            order.id,
                            status="previewed",
                            message=f"not placed: {exc}; the broker does not have the order "
                            f"(looked up), and the new preview failed: {failed}",
                        )
                    return st.order_by_id(order.id)
                if again is None:
                    return st.order_by_id(order.id)
                order, preview = st.order_by_id(order.id), again
                continue
        break
    assert state is not None  # each branch above returned or continued without a state
    fault("after_place")
    st.change_order(order.id, status="placed", broker_order_id=state.broker_order_id)
    _emit_order(deps, "OrderPlaced", order, broker_order_id=state.broker_order_id)
    fault("after_placed")
    apply_state(deps, st.order_by_id(order.id), state, session)
    fault("after_fill")
    return st.order_by_id(order.id)


#: re-sends of a place the broker answered with a temporary error and provably did not take
MAX_RESENDS = 2
#: a broker asking to wait longer than this (seconds) is not waited for within the run
MAX_RESEND_WAIT_S = 30.0


def _resend_wait(exc: TemporaryApiError, attempt: int) -> float:
    retry_after = getattr(exc, "retry_after", None) or 0.0
    return max(float(retry_after), float(2 ** (attempt - 1)))


def _after_temporary_error(
    deps: Deps, order: OrderRow, exc: TemporaryApiError, attempt: int
) -> tuple[OrderState | None, bool]:
    """Record the failed place, look the order up; returns (state found, re-send allowed)."""
    st = deps.store
    answered = exc.status is not None
    with st.tx() as db:
        st.set_order(
            db,
            order.id,
            status="unknown",
            message=f"{'error reply' if answered else 'no reply'} to the place: {exc}",
        )
    try:
        state = deps.broker.order_status(order.client_order_id)
    except ApiError as lookup:
        with st.tx() as db:
            st.set_order(
                db,
                order.id,
                message=f"the place failed ({exc}) and the lookup too ({lookup}); "
                "the next run looks it up again before anything is sent",
            )
        return None, False
    if state is not None:
        return state, False
    if not answered:
        with st.tx() as db:
            st.set_order(
                db,
                order.id,
                message=f"no reply to the place ({exc}) and the broker's order list does not "
                "show it; it may still appear: the next run looks it up again before "
                "anything is sent",
            )
        return None, False
    wait = _resend_wait(exc, attempt)
    if attempt > MAX_RESENDS or wait > MAX_RESEND_WAIT_S:
        with st.tx() as db:
            st.set_order(
                db,
                order.id,
                status="previewed",
                message=f"not placed: {exc}; the broker does not have the order (looked up "
                f"after attempt {attempt})",
            )
        return None, False
    return None, True


def unconfirmed_orders(deps: Deps) -> list[dict[str, Any]]:
    """Journal rows of the broker account that no broker has confirmed: intents, previews not
    placed, and places whose reply was lost and which the lookup did not find. After a cycle
    these are orders the run meant to send and did not: they must be reported, not dropped.

    Returns dicts: client_order_id, symbol, side, quantity (shares), purpose, status, message.
    """
    b = deps.broker
    return [
        {
            "client_order_id": o.client_order_id,
            "symbol": o.symbol,
            "side": o.side,
            "quantity": o.quantity,
            "purpose": o.purpose,
            "status": o.status,
            "message": o.message or "",
        }
        for o in deps.store.live_orders(b.name, b.account)
        if o.status in ("intent", "previewed", "unknown")
    ]


def finalize_rejected(deps: Deps, order: OrderRow, message: str, status: str = "rejected") -> None:
    """Mark a journal row final without a fill (`rejected` or `cancelled`); a pending entry's
    position is cancelled with it."""
    st = deps.store
    with st.tx() as db:
        st.set_order(db, order.id, status=status, message=message)
        if order.purpose.startswith("ENTRY") and order.position_id:
            pos = st.position(order.position_id)
            if pos.status == "pending":
                st.update_position(db, pos.id, status="cancelled", closed_at=utcnow())
        elif order.purpose.startswith("EXIT_PT") and order.position_id and not order.filled_qty:
            _reopen_target(st, db, order)
    kind = "OrderCancelled" if status == "cancelled" else "OrderRejected"
    _emit_order(deps, kind, order, message=message)


def _reopen_target(st: Store, db: sqlite3.Connection, order: OrderRow) -> None:
    """A profit-target exit (`EXIT_PT<k>`) that sold nothing, refused or dropped before it
    reached the broker: its tranche was not sold, so target k is open again and fires at the
    next cycle whose price reaches it (spec §6.4: each target sells its tranche once). Left as
    it is when a later target was decided too (several fired on one bar: re-opening the earlier
    one would let the later fire twice) or has an order that was not refused or dropped."""
    k = order.purpose.removeprefix("EXIT_PT")
    if not k.isdigit() or order.position_id is None:
        return
    pos = st.position(order.position_id)
    if pos.status != "open" or pos.targets_hit != int(k):
        return
    later = [
        p for p in st.exit_purposes(pos.id)
        if p.startswith("EXIT_PT") and p[7:].isdigit() and int(p[7:]) > int(k)
    ]  # fmt: skip
    if not later:
        st.update_position(db, pos.id, targets_hit=int(k) - 1)


def _tag(deps: Deps, order: OrderRow) -> str:
    """B1/B2 for an entry, "<B1|B2> <reason>" for an exit, else the journal purpose."""
    if order.purpose.startswith("ENTRY_"):
        return order.purpose.removeprefix("ENTRY_")
    if order.purpose.startswith("EXIT_") and order.position_id:
        kind = deps.store.position(order.position_id).kind
        return f"{kind} {order.purpose.removeprefix('EXIT_')}"
    return order.purpose


def _emit_order(deps: Deps, kind: str, order: OrderRow, **extra: Any) -> None:
    """Emit the order event `kind` (a class of `etrade_cli.events`) for journal row `order`
    (after the row is committed); none is built when nobody listens (a backtest: its exits'
    tags would each read the position)."""
    if deps.subscribers:
        deps.deliver(_order_event(deps, kind, order, **extra))


def _order_event(deps: Deps, kind: str, order: OrderRow, **extra: Any) -> OrderEvent:
    """The order event `kind` for journal row `order`."""
    from .. import events

    return getattr(events, kind)(
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
    `filled_qty`, priced so that the average stays exact, keyed by order id, cumulative
    quantity and execution time (a broker may reuse an order id: E*TRADE's sandbox does, and
    ids are per account), and dated by the state's latest execution."""
    if state.fills:
        return list(state.fills)
    delta = state.filled_qty - order.filled_qty
    if delta <= 0 or state.avg_fill_price is None:
        return []
    old = (order.avg_fill_price or 0.0) * order.filled_qty
    price = (state.avg_fill_price * state.filled_qty - old) / delta
    key = f"{state.broker_order_id}:{state.filled_qty}"
    if state.executed_at:
        key += f"@{state.executed_at}"
    return [Fill(key, delta, price, 0.0, state.executed_at, state.session_date)]


def fill_session(fill: Fill, session: str) -> str:
    """The session a fill is booked at: its execution's (US/Eastern date), else the run's.

    An execution dated after the run's session (a replay of old data against a live broker,
    whose clock is ahead of the data's) is booked at the run's session: the book never holds
    a fill from its own future."""
    if fill.session_date is None or fill.session_date > session:
        return session
    return fill.session_date


def apply_state(deps: Deps, order: OrderRow, state: OrderState, session: str) -> list[int]:
    """Record the broker's view of an order in one transaction: new fills, their effect on the
    position (at the fill's execution session, see `fill_session`), and the journal status.
    Returns new fill ids.

    An execution this order already booked is skipped (lookups repeat); one booked by another
    journal order of the same broker account is an error, never a silent no-op.

    Raises:
        ReconcileError: the execution key is already booked for another order (nothing of
            this state is written).
    """
    st = deps.store
    new_ids: list[int] = []
    filled: list[tuple[Fill, float | None]] = []
    with st.tx() as db:
        for f in fills_of(order, state):
            owner = st.fill_owner(db, order, f.key)
            if owner == order.id:
                continue
            if owner is not None:
                raise ReconcileError(
                    f"execution {f.key} of {order.broker} account {order.account} is already "
                    f"booked for journal order {owner}; not booked for {order.client_order_id} "
                    f"({order.side} {order.quantity} {order.symbol}): check the broker's "
                    "order history"
                )
            day = fill_session(f, session)
            filled_at = f.executed_at or utcnow()
            new_ids.append(
                st.add_fill(db, order, f.key, f.quantity, f.price, f.commission, day, filled_at)
            )
            pnl = _apply_fill(deps, db, order, f, day) if order.position_id else None
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
        elif (
            order.purpose.startswith("EXIT_PT")
            and status in ("cancelled", "rejected")
            and state.filled_qty == 0
        ):
            _reopen_target(st, db, order)
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
    if not deps.subscribers:
        return
    for f, pnl in filled:
        deps.deliver(
            _order_event(deps, "OrderFilled", order, quantity=f.quantity, price=f.price, pnl=pnl)
        )
    if status == order.status or status not in ("rejected", "cancelled"):
        return
    kind = {"REJECTED": "OrderRejected", "EXPIRED": "OrderExpired"}.get(
        state.status, "OrderCancelled"
    )
    if status == "rejected":
        kind = "OrderRejected"
    _emit_order(deps, kind, order, message=state.message or "")


def _apply_fill(
    deps: Deps, db: sqlite3.Connection, order: OrderRow, f: Fill, day: str
) -> float | None:
    """A fill's effect on its position, booked at session `day`; returns the realized P&L
    (USD) of an exit fill, None for an entry fill."""
    st, qty, price, commission = deps.store, f.quantity, f.price, f.commission
    pos = st.position(order.position_id or 0)
    if order.purpose.startswith("ENTRY"):
        total = pos.original_qty + qty
        entry = ((pos.entry_price or 0.0) * pos.original_qty + price * qty) / total
        st.update_position(
            db,
            pos.id,
            status="open",
            entry_date=min(pos.entry_date, day) if pos.entry_date else day,
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
    st.add_partial_exit(db, pos.id, order.id, reason, day, qty, price, pnl)
    values: dict[str, Any] = {"remaining_qty": remaining, "realized_pnl": pos.realized_pnl + pnl}
    if remaining <= 0:
        values.update(
            status="closed",
            exit_date=day,
            exit_price=price,
            exit_reason=reason,
            closed_at=utcnow(),
        )
    st.update_position(db, pos.id, **values)
    return pnl
