"""Resting protective stops (`[risk] protective_stop = "broker"`, issue 16).

The strategy's own stop is on a closing basis (spec §6) and needs a run to act. With
`protective_stop = "broker"` every open position also has one GOOD_UNTIL_CANCEL STOP SELL resting
at the broker, a wider net for the runs that do not happen (machine off, cron missed, token
expired): its level is the position's current strategy stop x (1 - `protective_stop_gap_pct`),
rounded to cents; its quantity is the remaining shares minus the shares live strategy exits are
already selling. It is a journal row with purpose `EXIT_BROKER_STOP` (`store.BROKER_STOP`), so
its fills are booked like any exit, with reason BROKER_STOP, and the database allows one live
resting stop per position.

- `before_exits`: before a strategy exit is sent the resting stop is reduced (changed) to the
  shares that will remain, or cancelled when none will, so the two can never sell the same
  shares twice; if the stop turns out to have filled meanwhile, the exit is not sent.
- `sync` (after the cycle's exits and entries): every open position's stop is placed, or changed
  to the new tier level and share count; stops of positions no longer open are cancelled.
- Changes use the broker's optional `change(broker_order_id, req) -> OrderState` (E*TRADE:
  change preview + place; Alpaca: replace). The new journal row `replaces` the old one; brokers
  without it do cancel + new, journaled as such.

Every step is journal-first. Fault-hook names are the order steps prefixed with `stop:`
(`PROTECT_FAULT_POINTS`), so crash tests can stop a cycle inside the protective-stop steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..brokers.base import CANCELLED, EXECUTED, EXPIRED, OPEN, PARTIAL, REJECTED, OrderState
from ..errors import ApiError, OrderRejectedError, TemporaryApiError
from ..store import BROKER_STOP, OrderRow, Position
from .orders import apply_state, finalize_rejected, order_request, send_order
from .types import Action, Deps, Finding, RunResult

#: fault-hook names of the protective-stop steps (each an order step prefixed with "stop:")
PROTECT_FAULT_POINTS = tuple(
    f"stop:{p}"
    for p in ("after_intent", "after_preview", "after_place", "after_placed", "after_fill")
) + ("stop:after_cancel",)
_UNSENT = ("intent", "previewed", "unknown")
_FINAL = (EXECUTED, CANCELLED, REJECTED, EXPIRED)


def enabled(deps: Deps) -> bool:
    """True when `[risk] protective_stop = "broker"`."""
    return getattr(deps.risk, "protective_stop", "off") == "broker"


def stop_level(deps: Deps, pos: Position) -> float:
    """The resting stop's price (USD, cents): the position's strategy stop (its initial stop
    when none is recorded) x (1 - `protective_stop_gap_pct`)."""
    stop = pos.stop_loss or deps.strategy.initial_stop(pos.kind, pos.entry_price or 0.0)
    return round(stop * (1.0 - deps.risk.protective_stop_gap_pct), 2)


def _stepped(deps: Deps) -> Deps:
    """`deps` whose fault hook sees the protective-stop step names (`stop:after_intent`...)."""
    outer = deps.faults
    return replace(deps, faults=lambda point: outer(f"stop:{point}"))


# --- before a strategy exit ----------------------------------------------------------------------


def before_exits(
    deps: Deps,
    pos: Position,
    selling: int,
    new_stop: float,
    day: str,
    run_id: int | None,
    res: RunResult | None = None,
) -> bool:
    """Make room for a strategy exit of `selling` shares of `pos`: the resting stop is changed
    to the shares that will remain (at the level of the strategy's `new_stop`, USD), or
    cancelled when none will. Called before the exit plan is recorded, so a crash here
    re-plans the same exit. Returns False when the exit must not be sent this cycle (the stop
    filled meanwhile: its fill is added to `res.exits`; or it could not be reduced)."""
    st = deps.store
    row = st.resting_stop(pos.id)
    if row is None:
        return True
    before = st.position(pos.id)
    keep = before.remaining_qty - st.pending_exit_qty(pos.id) - selling
    if keep <= 0:
        _cancel(deps, row, "the strategy exits the whole position", day, res)
    elif row.quantity - row.filled_qty > keep:
        level = round(new_stop * (1.0 - deps.risk.protective_stop_gap_pct), 2)
        _change(deps, row, keep, level, day, run_id, res)
    after = st.position(pos.id)
    if (after.status, after.remaining_qty) != (before.status, before.remaining_qty):
        if res is not None:
            res.exits.append(fill_action(deps, row))
        return False  # the resting stop sold shares: re-plan at the next run
    live = st.resting_stop(pos.id)
    return live is None or live.quantity - live.filled_qty <= max(keep, 0)


# --- after the cycle -----------------------------------------------------------------------------


def sync(deps: Deps, session: np.datetime64, res: RunResult, blocked: set[str]) -> None:
    """Place, change or cancel resting stops so that every open position (not `blocked`) has
    one at its current level and share count and no other position has any. With
    `protective_stop = "off"` stops left from an earlier setting are cancelled."""
    if res.dry_run:
        return
    st, b, day = deps.store, deps.broker, str(session)
    on = enabled(deps)
    for row in st.resting_stops(b.name, b.account):
        if row.symbol in blocked or row.status in _UNSENT:
            continue
        pos = st.position(row.position_id or 0)
        if not on or pos.status != "open" or pos.remaining_qty <= 0:
            why = "protective_stop is off" if on is False else f"position {pos.status}"
            try:
                _cancel(deps, row, why, day, res)
            except ApiError as exc:  # retried by the next run; say so
                res.findings.append(
                    Finding("warning", f"{row.symbol}: resting stop not cancelled yet: {exc}")
                )
    if not on:
        return
    for pos in st.positions(b.name, b.account):
        if pos.symbol in blocked or pos.entry_price is None:
            continue
        try:
            _ensure(deps, pos, day, res)
        except (ApiError, OrderRejectedError) as exc:  # the net is best effort: say so, go on
            res.findings.append(
                Finding("warning", f"{pos.symbol}: resting stop not updated: {exc}")
            )


def _ensure(deps: Deps, pos: Position, day: str, res: RunResult) -> None:
    st = deps.store
    qty = pos.remaining_qty - st.pending_exit_qty(pos.id)
    level = stop_level(deps, pos)
    row = st.resting_stop(pos.id)
    if row is not None and st.pending_replacement(row.id) is not None:
        return  # a change on its way: the next reconcile resolves it first
    if qty <= 0:
        if row is not None:
            _cancel(deps, row, "no shares left to protect", day, res)
        return
    if row is None:
        _new_stop(deps, pos, qty, level, day, res)
    elif row.status in _UNSENT:
        return
    elif row.quantity - row.filled_qty != qty or abs((row.stop_price or 0.0) - level) >= 0.005:
        _change(deps, row, qty, level, day, res.run_id, res)


def _journal_stop(
    deps: Deps,
    pos_id: int,
    symbol: str,
    qty: int,
    level: float,
    day: str,
    run_id: int | None,
    replaces: OrderRow | None = None,
    message: str | None = None,
) -> OrderRow:
    st, b = deps.store, deps.broker
    with st.tx() as db:
        return st.new_order(
            db,
            broker=b.name,
            account=b.account,
            symbol=symbol,
            side="SELL",
            quantity=qty,
            price_type="STOP",
            stop_price=level,
            order_term="GOOD_UNTIL_CANCEL",
            purpose=BROKER_STOP,
            position_id=pos_id,
            session_date=day,
            run_id=run_id,
            replaces=replaces.id if replaces else None,
            message=message,
        )


def _new_stop(deps: Deps, pos: Position, qty: int, level: float, day: str, res: RunResult) -> None:
    """Journal, then place, a resting stop for `pos`."""
    order = _journal_stop(deps, pos.id, pos.symbol, qty, level, day, res.run_id)
    sd = _stepped(deps)
    sd.faults("after_intent")
    _note(deps, res, "STOP_PLACED", send_order(sd, order, day))


def _note(deps: Deps, res: RunResult | None, what: str, row: OrderRow) -> None:
    """List a protective step in `res.stops` (run-once output): `what` is STOP_PLACED,
    STOP_CHANGED or STOP_CANCELLED; `price` is the stop level (USD)."""
    if res is None:
        return
    kind = deps.store.position(row.position_id).kind if row.position_id else ""
    done = deps.store.order_by_id(row.id)
    res.stops.append(
        Action(
            "SELL",
            row.symbol,
            kind,
            what,
            done.quantity,
            done.stop_price,
            done.status,
            done.client_order_id,
            done.position_id,
            message=f"orderId {done.broker_order_id}" if done.broker_order_id else "",
        )
    )


# --- change and cancel ---------------------------------------------------------------------------


def _change(
    deps: Deps,
    old: OrderRow,
    qty: int,
    level: float,
    day: str,
    run_id: int | None,
    res: RunResult | None = None,
) -> None:
    """Change resting stop `old` to `qty` shares at `level`: journal the replacement, then the
    broker's change, or cancel + new where the broker has no change."""
    change = getattr(deps.broker, "change", None)
    how = "change" if change is not None else "cancel + new"
    new = _journal_stop(
        deps,
        old.position_id or 0,
        old.symbol,
        qty,
        level,
        day,
        run_id,
        replaces=old,
        message=f"{how} of {old.client_order_id} (orderId {old.broker_order_id})",
    )
    sd = _stepped(deps)
    sd.faults("after_intent")
    if change is None:
        why = f"replaced by {new.client_order_id} (cancel + new)"
        if _cancel(deps, old, why, day) != CANCELLED:
            finalize_rejected(deps, new, "not sent: the order to replace is not open", "cancelled")
            return
        _note(deps, res, "STOP_CHANGED", send_order(sd, deps.store.order_by_id(new.id), day))
        return
    _note(deps, res, "STOP_CHANGED", _change_at_broker(sd, old, new, day))


def _change_at_broker(deps: Deps, old: OrderRow, new: OrderRow, day: str) -> OrderRow:
    """`broker.change(old orderId, new request)`; a lost reply is looked up, never re-sent."""
    change = deps.broker.change  # type: ignore[attr-defined]
    return change_journaled(
        deps, new, day, lambda: change(old.broker_order_id or "", order_request(new))
    )


def change_journaled(
    deps: Deps, new: OrderRow, day: str, send: Callable[[], OrderState]
) -> OrderRow:
    """Send a journaled change (`new`, whose `replaces` names the journal row it changes, if
    the tool knows it) with `send`, and record the outcome: a lost reply marks `new` unknown and
    looks it up by `clientOrderId`, never re-sending; a refusal finalizes `new` and re-reads the
    order it would have replaced. Returns `new`'s journal row afterwards."""
    st = deps.store
    state: OrderState | None
    try:
        state = send()
    except TemporaryApiError as exc:
        with st.tx() as db:
            st.set_order(db, new.id, status="unknown", message=f"lost reply to a change: {exc}")
        state = deps.broker.order_status(new.client_order_id)
        if state is None:
            return st.order_by_id(new.id)
    except OrderRejectedError as exc:
        finalize_rejected(deps, new, str(exc))
        if new.replaces is not None:  # the refusal may be because it filled meanwhile
            refresh(deps, st.order_by_id(new.replaces), day)
        return st.order_by_id(new.id)
    deps.faults("after_place")
    record_replacement(deps, st.order_by_id(new.id), state, day)
    return st.order_by_id(new.id)


def record_replacement(deps: Deps, new: OrderRow, state: OrderState, day: str) -> None:
    """Record a replacement the broker has (`state`): the order it replaces is done (E*TRADE
    cancelled its id), then the new row's state, in that order (one live stop at a time)."""
    st = deps.store
    if state.status in (OPEN, PARTIAL, EXECUTED) and new.replaces is not None:
        old = st.order_by_id(new.replaces)
        with st.tx() as db:
            if old.status not in ("filled", "cancelled", "rejected"):
                st.set_order(
                    db,
                    old.id,
                    status="cancelled",
                    message=f"replaced by orderId {state.broker_order_id} ({new.client_order_id})",
                )
            st.set_order(db, new.id, status="placed", broker_order_id=state.broker_order_id)
        deps.faults("after_placed")
    apply_state(deps, st.order_by_id(new.id), state, day)
    deps.faults("after_fill")


def refresh(deps: Deps, row: OrderRow, day: str) -> OrderState | None:
    """Look `row` up at the broker and record what it says; returns the broker's state."""
    state = deps.broker.order_status(row.client_order_id)
    if state is not None:
        apply_state(deps, deps.store.order_by_id(row.id), state, day)
    return state


def _cancel(deps: Deps, row: OrderRow, why: str, day: str, res: RunResult | None = None) -> str:
    """Cancel resting stop `row` at the broker and record the outcome. Returns the broker's
    final status (CANCELLED when the shares are free to sell; EXECUTED when it filled first),
    or OPEN when the cancel is not confirmed yet."""
    st, b = deps.store, deps.broker
    state = b.order_status(row.client_order_id)
    if state is None:  # never reached the broker
        finalize_rejected(deps, row, f"not sent; {why}", status="cancelled")
        return CANCELLED
    if state.status not in _FINAL:
        with st.tx() as db:
            st.set_order(db, row.id, message=f"cancel requested: {why}")
        try:
            b.cancel(state.broker_order_id)
        except (OrderRejectedError, ApiError):
            pass  # refused or unanswered (it may have filled meanwhile): its state below says
        deps.faults("stop:after_cancel")
        state = b.order_status(row.client_order_id) or state
    apply_state(deps, st.order_by_id(row.id), state, day)
    if state.status == CANCELLED:
        with st.tx() as db:
            st.set_order(db, row.id, message=f"cancelled: {why}")
        _note(deps, res, "STOP_CANCELLED", row)
    return CANCELLED if state.status in (CANCELLED, EXPIRED, REJECTED) else state.status


# --- reconcile -----------------------------------------------------------------------------------


def fill_action(deps: Deps, row: OrderRow) -> Action:
    """The exit line of a resting stop that filled at the broker between runs."""
    st = deps.store
    done = st.order_by_id(row.id)
    kind = st.position(row.position_id).kind if row.position_id else ""
    return Action(
        "SELL",
        row.symbol,
        kind,
        "BROKER_STOP",
        done.filled_qty,
        done.avg_fill_price,
        done.status,
        row.client_order_id,
        row.position_id,
        st.realized_for_order(row.id),
        "resting stop filled at the broker",
    )
