"""Orders a person sends with `etrade order place` or cancels with `etrade order cancel`:
journaled like the engine's.

The intent is committed to the journal before anything is sent; the order is previewed, shown,
confirmed, then placed with the same `clientOrderId` and identical parameters (E*TRADE requires
both). A failed place is looked up before anything else: found, it is recorded; proven absent
after E*TRADE answered with a temporary error, it is previewed and sent again (same
`clientOrderId`); what stays unresolved is said as it is, with a non-zero exit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .brokers.base import CANCELLED, EXECUTED, EXPIRED, REJECTED, Broker, OrderState, Preview
from .config import Config
from .engine import (
    Deps,
    apply_state,
    change_journaled,
    order_request,
    place_previewed,
    preview_journaled,
)
from .errors import ApiError, InputError, OrderRejectedError
from .etrade import orders as ob
from .etrade.auth import ET
from .services import make_strategy
from .store import MANUAL_CHANGE, OrderRow, Store


@dataclass
class PlaceOutcome:
    """The journal row after the attempt, the preview, and whether the user confirmed.

    `problem` is set when the order was confirmed but its fate is not a broker's answer: not
    placed (E*TRADE kept failing and does not have it) or no reply and not found (yet)."""

    order: OrderRow
    preview: Preview | None
    confirmed: bool
    problem: str | None = None

    def failure(self) -> ApiError | None:
        """The error to exit with (5) when `problem` is set."""
        return ApiError(self.problem) if self.problem else None


@dataclass
class CancelOutcome:
    """An `order cancel`: E*TRADE's `orderId`, its status there afterwards (OPEN while a
    CANCEL_REQUESTED is processed, CANCELLED, ...), and the journal row it updated, if any."""

    order_id: str
    status: str
    journal: OrderRow | None


def check_live_guard(cfg: Config, live: bool, broker: str = "etrade") -> None:
    """Real-money orders need the broker's `allow_live_orders = true` and `--live`; the rule
    lives in `registry.check_live_guard` and applies to every broker that can trade live.

    Raises:
        OrderRejectedError: a live account without both. UsageError: unknown broker.
    """
    from .registry import brokers
    from .registry import check_live_guard as guard

    guard(cfg, brokers.get(broker), live)


def session_date(now: dt.datetime | None = None) -> str:
    """Today's date in US/Eastern (the exchange's calendar day)."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(ET).date().isoformat()


def _order_session(broker: Broker, symbol: str) -> str:
    """The session a manual order placed now belongs to: today in US/Eastern, or the broker's
    own market session when it has one (the paper broker: the session of the bar it prices
    `symbol` at, so the journal and the fill carry the date of the price)."""
    market = getattr(broker, "market_session", None)
    return (market(symbol) if callable(market) else None) or session_date()


def place_manual(
    cfg: Config,
    store: Store,
    broker: Broker,
    order: ob.EquityOrder,
    confirm: Callable[[Preview], bool],
) -> PlaceOutcome:
    """Journal, preview, confirm and place one equity order.

    Raises:
        InputError: invalid parameters (nothing journaled). OrderRejectedError: refused.
    """
    ob.validate(order)
    day = _order_session(broker, order.symbol)
    row = _journal(store, broker, order, day, purpose="MANUAL")
    deps = Deps(make_strategy(cfg), cfg.risk, store, broker, None)  # type: ignore[arg-type]
    try:
        preview = preview_journaled(deps, row)
    except ApiError as exc:  # nothing was placed: the intent must not be sent by a later run
        _close(store, row.id, f"not placed: the preview failed: {exc}")
        raise
    if preview is None:
        done = store.order_by_id(row.id)
        raise OrderRejectedError(done.message or "the broker refused the preview")
    if not confirm(preview):
        _close(store, row.id, "not confirmed")
        return PlaceOutcome(store.order_by_id(row.id), preview, False)
    done = place_previewed(deps, store.order_by_id(row.id), preview, day)
    if done.status == "rejected":
        raise OrderRejectedError(done.message or "the broker refused the order")
    return PlaceOutcome(done, preview, True, _problem(store, done))


def _journal(
    store: Store, broker: Broker, order: ob.EquityOrder, day: str, **extra: Any
) -> OrderRow:
    """Commit the intent of `order` (its parameters, at session `day`) to the journal before
    anything is sent; `extra` are further `Store.new_order` columns (purpose, replaces, ...)."""
    with store.tx() as db:
        return store.new_order(
            db,
            broker=broker.name,
            account=broker.account,
            symbol=order.symbol,
            side=order.action,
            quantity=order.quantity,
            price_type=order.price_type,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            order_term=order.order_term,
            market_session=order.market_session,
            session_date=day,
            **extra,
        )


def _close(store: Store, order_id: int, message: str) -> None:
    with store.tx() as db:
        store.set_order(db, order_id, status="cancelled", message=message)


def _problem(store: Store, done: OrderRow) -> str | None:
    """What is true of a confirmed order that no broker confirmed, in one line."""
    coid = done.client_order_id
    if done.status == "previewed":  # E*TRADE answered errors and does not have the order
        _close(store, done.id, done.message or "not placed")
        return (
            f"order {coid} was NOT placed: {done.message}. Nothing is pending at E*TRADE "
            "or in the journal: run the command again to place it"
        )
    if done.status == "unknown":
        return (
            f"no reply from E*TRADE to the place of order {coid}, and E*TRADE's order list "
            f"does not show it (looked up at {done.updated_at}): it may still appear. Check "
            f"`etrade order status --client-order-id {coid}` before placing it again; "
            "`etrade run-once` today looks it up and sends it only if E*TRADE does not have it"
        )
    return None


_FINAL = (EXECUTED, CANCELLED, REJECTED, EXPIRED)


def cancel_manual(cfg: Config, store: Store, broker: Any, order_id: str) -> CancelOutcome:
    """Cancel an E*TRADE order by `orderId` and record what E*TRADE says afterwards in the
    journal row that owns it (status, fills; a cancelled entry's pending position).

    Args:
        broker: a `Broker`; one with `order_by_id` (E*TRADE) is asked by order id, another
            through the journal row that owns the id (`order_status` by `clientOrderId`).

    Raises:
        InputError: no such order in the account (E*TRADE).
        OrderRejectedError: the order is already final (executed, cancelled, rejected,
            expired) or the broker refused the cancel; the journal is updated first.
        ApiError: the broker failed (the cancel may not have been received).
    """
    before = _lookup(store, broker, order_id)
    if before is None and hasattr(broker, "order_by_id"):
        raise InputError(f"no order {order_id} in account {broker.account}")
    if before is not None and before.status in _FINAL:
        _record(cfg, store, broker, order_id, before)
        raise OrderRejectedError(
            f"order {order_id} ({before.side} {before.quantity} {before.symbol}) is "
            f"{before.message or before.status} at {_who(broker)}: nothing to cancel"
        )
    try:
        broker.cancel(order_id)
    except ApiError as exc:
        if exc.status != 400 or exc.code is None:
            raise
        after = _lookup(store, broker, order_id)
        if after is not None:
            _record(cfg, store, broker, order_id, after)
        raise OrderRejectedError(
            f"{_who(broker)} refused to cancel order {order_id}: {exc}"
        ) from None
    after = _lookup(store, broker, order_id) or before
    if after is None:  # a broker that cannot be asked by order id, and not in the journal
        return CancelOutcome(order_id, "CANCEL_REQUESTED", None)
    row = _record(cfg, store, broker, order_id, after)
    return CancelOutcome(order_id, after.message or after.status, row)


def _who(broker: Any) -> str:
    return {"etrade": "E*TRADE"}.get(broker.name, broker.name)


def _lookup(store: Store, broker: Any, order_id: str) -> OrderState | None:
    """The broker's view of order `order_id`, or None when it cannot be found."""
    if hasattr(broker, "order_by_id"):
        found: OrderState | None = broker.order_by_id(order_id)
        return found
    row = store.order_by_broker_id(broker.name, broker.account, order_id)
    return broker.order_status(row.client_order_id) if row else None


def _record(
    cfg: Config, store: Store, broker: Any, order_id: str, state: OrderState
) -> OrderRow | None:
    """Apply E*TRADE's view of an order to the journal row that owns it, if any."""
    from dataclasses import replace

    row = store.order_by_broker_id(broker.name, broker.account, order_id)
    if row is None:
        return None
    deps = Deps(make_strategy(cfg), cfg.risk, store, broker, None)  # type: ignore[arg-type]
    apply_state(deps, row, replace(state, client_order_id=row.client_order_id), session_date())
    return store.order_by_id(row.id)


@dataclass(frozen=True)
class ChangeRequest:
    """What a person changes in an open order; None keeps the order's current value.
    Prices USD (a trailing stop's trail in `stop`: USD, or a whole-number percent)."""

    limit: float | None = None
    stop: float | None = None
    quantity: int | None = None
    term: str | None = None


def changed_order(current: ob.EquityOrder, ch: ChangeRequest) -> ob.EquityOrder:
    """`current` with the changes applied and checked (`orders.validate`).

    Raises:
        InputError: nothing to change, or the result is not a valid order.
    """
    from dataclasses import replace

    if ch == ChangeRequest():
        raise InputError("nothing to change: give --limit, --stop, --quantity or --term")
    new = replace(
        current,
        limit_price=current.limit_price if ch.limit is None else ch.limit,
        stop_price=current.stop_price if ch.stop is None else ch.stop,
        quantity=current.quantity if ch.quantity is None else ch.quantity,
        order_term=current.order_term if ch.term is None else ch.term.upper(),
    )
    ob.validate(new)
    return new


def change_manual(
    cfg: Config,
    store: Store,
    broker: Broker,
    order_id: str,
    current: ob.EquityOrder,
    ch: ChangeRequest,
    confirm: Callable[[Preview], bool],
) -> PlaceOutcome:
    """Journal, preview, confirm and place a change of open order `order_id` (E*TRADE: change
    preview, then change place; the old `orderId` is cancelled and a new one created). The new
    journal row `replaces` the old one when the journal has it (keeping its purpose and
    position, so a resting stop stays the position's stop), else it is a MANUAL row.

    Raises:
        InputError: invalid change (nothing journaled). OrderRejectedError: refused.
        UsageError: the broker cannot change orders.
    """
    from .errors import UsageError

    if not hasattr(broker, "preview_change") or not hasattr(broker, "place_change"):
        raise UsageError(f"the {broker.name} broker cannot change orders; cancel and place anew")
    new = changed_order(current, ch)
    old = store.order_by_broker_id(broker.name, broker.account, order_id)
    day = session_date()
    row = _journal(
        store,
        broker,
        new,
        day,
        purpose=old.purpose if old else MANUAL_CHANGE,
        position_id=old.position_id if old else None,
        replaces=old.id if old else None,
        message=f"change of orderId {order_id}",
    )
    deps = Deps(make_strategy(cfg), cfg.risk, store, broker, None)  # type: ignore[arg-type]
    req = order_request(row)
    try:
        preview = broker.preview_change(order_id, req)  # type: ignore[attr-defined]
    except OrderRejectedError as exc:
        with store.tx() as db:
            store.set_order(db, row.id, status="rejected", message=str(exc))
        raise
    except ApiError as exc:  # nothing was changed: the row must not linger as an intent
        _close(store, row.id, f"not changed: the change preview failed: {exc}")
        raise
    if not confirm(preview):
        with store.tx() as db:
            store.set_order(db, row.id, status="cancelled", message="not confirmed")
        return PlaceOutcome(store.order_by_id(row.id), preview, False)
    with store.tx() as db:
        store.set_order(db, row.id, status="previewed", preview_id=preview.preview_id)
    done = change_journaled(
        deps, store.order_by_id(row.id), day,
        lambda: broker.place_change(order_id, req, preview),  # type: ignore[attr-defined]
    )  # fmt: skip
    if done.status == "rejected":
        raise OrderRejectedError(done.message or "the broker refused the change")
    return PlaceOutcome(done, preview, True, _change_problem(done, order_id))


def _change_problem(done: OrderRow, order_id: str) -> str | None:
    """What is true of a confirmed change that no broker confirmed, in one line."""
    if done.status not in ("intent", "previewed", "unknown"):
        return None
    coid = done.client_order_id
    return (
        f"no reply from E*TRADE to the change of order {order_id} (journaled as {coid}), and "
        f"E*TRADE's order list does not show the new order (looked up at {done.updated_at}): "
        f"the change may still have happened. Check `etrade order list` and `etrade order "
        f"status --client-order-id {coid}` before changing it again; a change is never "
        "re-sent automatically"
    )


#: journal statuses of a row whose fate at the broker is not known (or not linked to an order)
UNSETTLED = ("intent", "previewed", "unknown")


def resolve_manual(
    cfg: Config, client_order_id: str, *, not_placed: bool, broker_order_id: str | None
) -> tuple[OrderRow, OrderRow]:
    """Settle by hand, under the trading lock, a journal row whose fate the tool cannot learn
    (a Schwab lost reply that no order or several orders match stops every run with exit 8),
    after the user has checked the broker's own order list. Nothing is sent to the broker.

    - `not_placed`: the broker never got it: the row is closed (`cancelled`), and a pending
      entry's position with it; no later run sends it.
    - `broker_order_id`: it is that order at the broker: the id is recorded and the row marked
      `placed`; the next run reads its state (fills, status) from the broker by that id.

    Returns (row before, row after).

    Raises:
        InputError: neither or both choices; no such row; a row already settled (not intent,
            previewed or unknown, nor placed without an order id); an order id the journal
            already gives to another row of that account.
        BusyError: a run holds the trading lock.
    """
    from pathlib import Path

    from .engine import trading_lock
    from .engine.orders import finalize_rejected
    from .services import open_store

    if not_placed == (broker_order_id is not None):
        raise InputError("give --not-placed or --order-id ID (one of them)")
    if broker_order_id is not None and not broker_order_id.strip():
        raise InputError("--order-id must not be empty")
    with trading_lock(Path(str(cfg.db_path) + ".lock")):
        store = open_store(cfg)
        try:
            row = store.order_by_coid(client_order_id)
            if row is None:
                raise InputError(f"no journal row with clientOrderId {client_order_id}")
            if not (
                row.status in UNSETTLED or (row.status == "placed" and not row.broker_order_id)
            ):
                raise InputError(
                    f"order {client_order_id} is {row.status}"
                    + (f" as {row.broker_order_id}" if row.broker_order_id else "")
                    + ": only an order whose fate is unknown is settled by hand"
                )
            if not_placed:
                deps = Deps(make_strategy(cfg), cfg.risk, store, None, None)  # type: ignore[arg-type]
                finalize_rejected(
                    deps, row, "settled by hand: never reached the broker", "cancelled"
                )
            else:
                oid = str(broker_order_id).strip()
                if oid in store.broker_order_ids(row.broker, row.account):
                    raise InputError(
                        f"{row.broker} order {oid} already belongs to another journal row"
                    )
                with store.tx() as db:
                    store.set_order(
                        db,
                        row.id,
                        status="placed",
                        broker_order_id=oid,
                        message=f"settled by hand: {row.broker} order {oid}",
                    )
            return row, store.order_by_coid(client_order_id)  # type: ignore[return-value]
        finally:
            store.close()
