"""The trading loop's one cycle, `run_once`, shared by `etrade run-once`, `run-loop` and `backtest`.

A cycle, under a file lock so two never trade at once:
1. reconcile: journal rows left live by an earlier crash are looked up at the broker by
   `clientOrderId` before anything is sent again, and the book's holdings are compared with the
   broker's; what cannot be resolved is reported, never silently changed;
2. exits (strategy spec §6) for every open position, oldest first;
3. entries (spec §4-§5) inside the buy window, each after the risk checks of `[risk]`.

Every order intent is journaled (committed) before it is sent and every fill recorded after, so a
crash between any two steps is recovered by the next cycle with no duplicate order and no lost
fill. Risk limits apply to entries only: exits reduce risk and are never blocked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .brokers.base import (
    EXECUTED,
    OPEN,
    PARTIAL,
    Broker,
    Fill,
    OrderRequest,
    OrderState,
    Preview,
)
from .config import RiskConfig
from .errors import BusyError, DataError, InputError, OrderRejectedError, TemporaryApiError
from .market import MarketView
from .store import OrderRow, Position, Store, utcnow
from .strategy.dual import Book, Decision, classify_one, position_size, signal_order
from .strategy.exits import PositionState, initial_stop, plan_exit
from .strategy.params import StrategyParams


class SimulatedCrash(BaseException):
    """Raised by a test's fault hook to stop a cycle dead at a named step."""


#: the named steps of an order's life where a fault hook is called (crash-recovery tests)
FAULT_POINTS = ("after_intent", "after_preview", "after_place", "after_placed", "after_fill")


def _no_fault(_point: str) -> None:
    return None


@dataclass
class Deps:
    """Everything a cycle uses. `lock_path` None means no lock (in-memory tests only)."""

    params: StrategyParams
    risk: RiskConfig
    store: Store
    broker: Broker
    market: MarketView  # unused by the order functions (send_order, apply_state)
    lock_path: Path | None = None
    faults: Callable[[str], None] = _no_fault


@dataclass
class Action:
    """An exit or entry of this cycle. Prices USD; `status` is the journal status after sending
    (`filled`, `placed`, `rejected`, ...) or `dry-run`; `pnl` is the realized P&L of an exit."""

    side: str
    symbol: str
    kind: str
    reason: str
    quantity: int
    price: float | None
    status: str
    client_order_id: str | None = None
    position_id: int | None = None
    pnl: float | None = None
    message: str = ""


@dataclass
class Finding:
    """A reconciliation finding: severity `info`, `warning` or `error`."""

    severity: str
    message: str


@dataclass
class RunResult:
    """What a cycle did. `session` is YYYY-MM-DD; money in USD."""

    run_id: int | None
    session: str | None
    market_open: bool
    dry_run: bool
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    exits: list[Action] = field(default_factory=list)
    entries: list[Action] = field(default_factory=list)
    refusals: list[dict[str, str]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    equity: float | None = None
    cash: float | None = None

    def counts(self) -> dict[str, int]:
        """Numbers for the `runs` row and the heartbeat line."""
        return {
            "exits": len(self.exits),
            "entries": len(self.entries),
            "refusals": len(self.refusals),
            "signals": len(self.decisions),
            "findings": len(self.findings),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        from .views import decision_dict

        d = {k: v for k, v in asdict(self).items() if k != "decisions"}
        d["decisions"] = [decision_dict(x) for x in self.decisions]
        return d


# --- the cycle ---------------------------------------------------------------------------------


@contextmanager
def trading_lock(path: Path | None) -> Iterator[None]:
    """Hold the trading lock (filelock) or raise `BusyError` at once if another run has it."""
    if path is None:
        yield
        return
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(f"another run is trading (lock {path} is held); try again later") from None
    try:
        yield
    finally:
        lock.release()


def run_once(
    deps: Deps,
    as_of: np.datetime64 | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    mode: str = "run-once",
) -> RunResult:
    """One cycle at the session on or before `as_of` (the latest session if None).

    Args:
        deps: store, broker, market view, parameters.
        as_of: requested date (US/Eastern session date). When it is not a session of the data,
            the market is closed and nothing is managed, unless `force`.
        dry_run: decide and report, send nothing, change nothing.
        mode: label stored in the `runs` row ("run-once", "run-loop", "backtest").

    Raises:
        BusyError: another run holds the lock. DataError: no data on or before `as_of`.
        InputError: `as_of` is before the last traded session of this account.
    """
    with trading_lock(deps.lock_path):
        b = deps.broker
        run_mode = "dry-run" if dry_run else mode
        as_of_text = str(as_of) if as_of is not None else None
        run_id = deps.store.start_run(run_mode, b.name, b.account, as_of_text)
        try:
            result = _cycle(deps, as_of, dry_run, force, run_id)
        except BaseException as exc:
            outcome = "crashed" if isinstance(exc, SimulatedCrash) else "error"
            deps.store.finish_run(run_id, outcome, error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        deps.store.finish_run(
            run_id,
            "ok" if result.market_open else "closed",
            session_date=result.session,
            counts=result.counts(),
            equity=result.equity,
            cash=result.cash,
        )
        return result


def _cycle(
    deps: Deps, as_of: np.datetime64 | None, dry_run: bool, force: bool, run_id: int
) -> RunResult:
    m, b = deps.market, deps.broker
    session = m.session_on_or_before(as_of)
    if session is None:
        raise DataError(f"no bars on or before {as_of}" if as_of is not None else "no bars")
    day = str(session)
    if m.closed_reason and as_of is None and not force:
        return RunResult(run_id, day, False, dry_run, f"{m.closed_reason}; nothing managed")
    if as_of is not None and not m.is_session(as_of) and not force:
        return RunResult(
            run_id,
            day,
            False,
            dry_run,
            f"market closed on {as_of} (not a session in the data); nothing managed. "
            f"--force runs the last session, {day}",
        )
    last = deps.store.last_session(b.name, b.account)
    if last and day < last:
        raise InputError(
            f"session {day} is before the last traded session {last} of this "
            "account: the book cannot go back in time (use a fresh --db to replay)"
        )
    if hasattr(b, "set_market"):
        b.set_market(lambda s: m.close(s, session), day)
    res = RunResult(run_id, day, True, dry_run)
    blocked = _reconcile(deps, session, res)
    _exits(deps, session, res, blocked)
    if m.in_buy_window(session):
        _entries(deps, session, res, blocked)
    res.cash = b.account_values().cash
    held = deps.store.positions(b.name, b.account)
    res.equity = res.cash + sum(
        p.remaining_qty * (m.last_close(p.symbol, session) or p.entry_price or 0.0) for p in held
    )
    return res


# --- sending and recording orders --------------------------------------------------------------


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
    with st.tx() as db:
        for f in fills_of(order, state):
            if db.execute("SELECT 1 FROM fills WHERE fill_key = ?", (f.key,)).fetchone():
                continue
            cur = db.execute(
                "INSERT INTO fills (order_id, fill_key, quantity, price, commission, session_date,"
                " filled_at) VALUES (?,?,?,?,?,?,?)",
                (order.id, f.key, f.quantity, f.price, f.commission, session, utcnow()),
            )
            new_ids.append(int(cur.lastrowid or 0))
            if order.position_id:
                _apply_fill(deps, db, order, f.quantity, f.price, f.commission, session)
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
    return new_ids


def _apply_fill(
    deps: Deps,
    db: sqlite3.Connection,
    order: OrderRow,
    qty: int,
    price: float,
    commission: float,
    session: str,
) -> None:
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
            stop_loss=initial_stop(entry, deps.params),
            realized_pnl=pos.realized_pnl - commission,
        )
        return
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


# --- 1. reconcile ------------------------------------------------------------------------------


def _reconcile(deps: Deps, session: np.datetime64, res: RunResult) -> set[str]:
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
                    "not know it; left as is, symbol not traded",
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
                    f"{sym}: the book holds {ours} shares, the broker "
                    f"{theirs}; not changed, symbol not traded",
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


# --- 2. exits ----------------------------------------------------------------------------------


def _pending_exit_qty(st: Store, position_id: int) -> int:
    row = st.query(
        "SELECT coalesce(sum(quantity - filled_qty), 0) FROM orders WHERE "
        "position_id = ? AND purpose LIKE 'EXIT%' AND status IN "
        "('intent','previewed','placed','unknown','partially_filled')",
        position_id,
    )
    return int(row[0][0])


def _exits(deps: Deps, session: np.datetime64, res: RunResult, blocked: set[str]) -> None:
    """Spec §6 for every open position, oldest first; a position is not checked on its entry bar."""
    st, b, m, day = deps.store, deps.broker, deps.market, str(session)
    for pos in st.positions(b.name, b.account):
        if pos.entry_date == day or pos.symbol in blocked or pos.entry_price is None:
            continue
        price = m.close(pos.symbol, session)
        if price is None:
            res.findings.append(
                Finding(
                    "warning",
                    f"{pos.symbol}: no bar at {day}; exits of position {pos.id} not checked",
                )
            )
            continue
        state = PositionState(
            pos.kind,
            pos.entry_price,
            pos.original_qty,
            pos.remaining_qty - _pending_exit_qty(st, pos.id),
            pos.stop_loss or initial_stop(pos.entry_price, deps.params),
            pos.targets_hit,
        )
        plan = plan_exit(state, price, m.bars_held(pos.entry_date or day, session), deps.params)
        if res.dry_run:
            res.exits += [
                Action("SELL", pos.symbol, pos.kind, r, q, price, "dry-run", position_id=pos.id)
                for r, q in plan.sells
            ]
            continue
        if (plan.stop_loss, plan.targets_hit) != (pos.stop_loss, pos.targets_hit):
            with st.tx() as db:
                st.update_position(
                    db, pos.id, stop_loss=plan.stop_loss, targets_hit=plan.targets_hit
                )
        for reason, qty in plan.sells:
            res.exits.append(_send_exit(deps, pos, reason, qty, day, res.run_id))


def _send_exit(
    deps: Deps, pos: Position, reason: str, qty: int, day: str, run_id: int | None
) -> Action:
    st = deps.store
    with st.tx() as db:
        order = st.new_order(
            db,
            broker=deps.broker.name,
            account=deps.broker.account,
            symbol=pos.symbol,
            side="SELL",
            quantity=qty,
            purpose=f"EXIT_{reason}",
            position_id=pos.id,
            session_date=day,
            run_id=run_id,
        )
    deps.faults("after_intent")
    done = send_order(deps, order, day)
    pnl = st.query("SELECT sum(realized_pnl) FROM partial_exits WHERE order_id = ?", done.id)
    return Action(
        "SELL",
        pos.symbol,
        pos.kind,
        reason,
        qty,
        done.avg_fill_price,
        done.status,
        done.client_order_id,
        pos.id,
        pnl[0][0],
        done.message or "",
    )


# --- 3. entries --------------------------------------------------------------------------------


def _realized_today(st: Store, broker: str, account: str, day: str) -> float:
    row = st.query(
        "SELECT coalesce(sum(e.realized_pnl), 0) FROM partial_exits e JOIN positions p"
        " ON p.id = e.position_id WHERE p.broker = ? AND p.account = ? AND "
        "e.session_date = ?",
        broker,
        account,
        day,
    )
    return float(row[0][0])


@dataclass
class _EntryContext:
    book: Book
    cash: float
    open_value: float
    orders_today: int
    entered_today: set[str]
    kill_reason: str | None


def _entry_context(deps: Deps, session: np.datetime64) -> _EntryContext:
    st, b, m, day, risk = deps.store, deps.broker, deps.market, str(session), deps.risk
    live = st.positions(b.name, b.account, ("open", "pending"))
    realized = _realized_today(st, b.name, b.account, day)
    kill = None
    if realized < -risk.max_daily_loss_usd:
        kill = (
            f"kill switch: realized P&L today {realized:,.2f} USD is below "
            f"-{risk.max_daily_loss_usd:,.2f} (max_daily_loss_usd)"
        )
    today = st.orders(b.name, b.account, day)
    return _EntryContext(
        book=Book.from_pairs((p.symbol, p.kind) for p in live),
        cash=b.account_values().cash,
        open_value=sum(p.remaining_qty * (m.last_close(p.symbol, session) or 0.0) for p in live),
        orders_today=sum(o.status not in ("rejected", "cancelled") for o in today),
        entered_today={
            o.symbol
            for o in today
            if o.purpose.startswith("ENTRY") and o.status not in ("rejected", "cancelled")
        },
        kill_reason=kill,
    )


def _refusal(deps: Deps, res: RunResult, d: Decision, reason: str) -> None:
    b = deps.broker
    res.refusals.append({"symbol": d.signal.symbol, "action": d.action, "reason": reason})
    if res.dry_run:
        return
    with deps.store.tx() as db:
        db.execute(
            "INSERT INTO refusals (run_id, broker, account, session_date, symbol, action, "
            "reason, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                res.run_id,
                b.name,
                b.account,
                res.session,
                d.signal.symbol,
                d.action,
                reason,
                utcnow(),
            ),
        )


def _risk_refusal(deps: Deps, ctx: _EntryContext, d: Decision) -> tuple[int, str | None]:
    """Shares to buy for a B1/B2 decision, or 0 with the reason it is refused."""
    sym, price, risk = d.signal.symbol, d.signal.close, deps.risk
    if sym in ctx.entered_today:
        return 0, "already entered this symbol in this session"
    if ctx.kill_reason:
        return 0, ctx.kill_reason
    if ctx.orders_today >= risk.max_orders_per_day:
        return 0, f"max_orders_per_day ({risk.max_orders_per_day}) reached"
    shares, amount = position_size(d.action, price, ctx.cash, ctx.open_value, deps.params)
    if shares <= 0:
        return 0, f"size: 0 shares (amount {amount:,.2f} USD at {price:,.2f})"
    if shares * price > risk.max_ticket_usd:
        return 0, (
            f"max_ticket_usd: {shares} x {price:,.2f} = {shares * price:,.2f} USD > "
            f"{risk.max_ticket_usd:,.2f}"
        )
    if shares * price > ctx.cash:
        return 0, f"cash: {shares * price:,.2f} USD needed, {ctx.cash:,.2f} available"
    return shares, None


def _entries(deps: Deps, session: np.datetime64, res: RunResult, blocked: set[str]) -> None:
    """Spec §4-§5: classify the session's signals in order, check risk, size, send."""
    ctx = _entry_context(deps, session)
    for sig in sorted(deps.market.signals(session), key=signal_order):
        if sig.symbol in blocked:
            continue
        d = classify_one(sig, ctx.book, deps.params)
        res.decisions.append(d)
        if d.action not in ("B1", "B2"):
            continue
        shares, why = _risk_refusal(deps, ctx, d)
        if why:
            _refusal(deps, res, d, why)
            continue
        action = _enter(deps, d, shares, str(session), res)
        res.entries.append(action)
        if action.status in ("rejected", "cancelled"):
            continue
        ctx.book.add(sig.symbol, d.action)
        ctx.entered_today.add(sig.symbol)
        ctx.orders_today += 1
        spent = shares * (action.price or sig.close)
        # a broker's balance may lag a fresh order: never size from more cash than we know is left
        ctx.cash -= spent
        if not res.dry_run:
            ctx.cash = min(ctx.cash, deps.broker.account_values().cash)
        ctx.open_value += spent


def _enter(deps: Deps, d: Decision, shares: int, day: str, res: RunResult) -> Action:
    sig, st, b = d.signal, deps.store, deps.broker
    if res.dry_run:
        return Action(
            "BUY", sig.symbol, d.action, f"ENTRY_{d.action}", shares, sig.close, "dry-run"
        )
    with st.tx() as db:
        cur = db.execute(
            "INSERT INTO positions (symbol, kind, broker, account, status, score, pattern, "
            "opened_at) VALUES (?,?,?,?, 'pending', ?,?,?)",
            (sig.symbol, d.action, b.name, b.account, sig.score, sig.pattern, utcnow()),
        )
        order = st.new_order(
            db,
            broker=b.name,
            account=b.account,
            symbol=sig.symbol,
            side="BUY",
            quantity=shares,
            purpose=f"ENTRY_{d.action}",
            position_id=int(cur.lastrowid or 0),
            session_date=day,
            run_id=res.run_id,
        )
    deps.faults("after_intent")
    done = send_order(deps, order, day)
    return Action(
        "BUY",
        sig.symbol,
        d.action,
        f"ENTRY_{d.action}",
        shares,
        done.avg_fill_price,
        done.status,
        done.client_order_id,
        done.position_id,
        message=done.message or "",
    )


def unrealized(pos: Position, price: float | None) -> tuple[float | None, float | None]:
    """Unrealized P&L of the remaining shares at `price`: (USD, percent as 5.0 for 5 %)."""
    if price is None or pos.entry_price is None or not pos.entry_price:
        return None, None
    usd = (price - pos.entry_price) * pos.remaining_qty
    return usd, (price / pos.entry_price - 1) * 100.0


def session_count(market: MarketView, pos: Position, session: np.datetime64) -> int | None:
    """Sessions held (spec §6.2 `bars_held`), None for a position not yet filled."""
    if not pos.entry_date:
        return None
    return market.bars_held(pos.entry_date, session)
