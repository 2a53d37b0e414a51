"""The trading loop's one cycle, `run_once`: lock, reconcile, exits (spec §6), then entries
(spec §4-§5) inside the buy window after the `[risk]` checks. Risk limits apply to entries only:
exits reduce risk and are never blocked."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..brokers.base import BrokerPosition
from ..errors import BusyError, DataError, InputError, ReadOnlyError
from ..interrupts import deferred_sigint
from ..market import MarketView
from ..store import BROKER_STOP, Position, unrealized  # noqa: F401  (re-exported)
from ..strategy.base import Book, Decision, PositionState, Proposer
from . import protect
from .orders import send_order, unconfirmed_orders
from .reconcile import reconcile
from .types import Action, Deps, Finding, RunResult, SimulatedCrash


def trading_lock(path: Path | None) -> AbstractContextManager[None]:
    """Hold the trading lock (filelock) or raise `BusyError` at once if another run has it,
    `ReadOnlyError` when the lock file cannot be created. No lock when `path` is None (a
    backtest's cycles: the backtest holds its lock around all of them)."""
    return _NO_LOCK if path is None else _file_lock(path)


_NO_LOCK: AbstractContextManager[None] = nullcontext()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(f"another run is trading (lock {path} is held); try again later") from None
    except OSError as exc:  # a read-only folder or file system, permissions
        raise ReadOnlyError(
            f"cannot create the trading lock {path} ({exc.strerror or exc}): the book's folder "
            "must be writable, or use another --db"
        ) from None
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
        run_id: int | None = None
        try:
            with deferred_sigint():  # the runs row is started and finished whole (Ctrl-C)
                run_id = deps.store.start_run(run_mode, b.name, b.account, as_of_text)
            deps.emit("RunStarted", run_mode, b.name, b.account, as_of_text)
            result = _cycle(deps, as_of, dry_run, force, run_id)
        except BaseException as exc:
            if run_id is not None:
                with deferred_sigint():
                    deps.store.finish_run(
                        run_id, _outcome(exc), error=f"{type(exc).__name__}: {exc}"[:500]
                    )
            raise
        counts = result.counts()
        with deferred_sigint():
            deps.store.finish_run(
                run_id,
                "ok" if result.market_open else "closed",
                error="; ".join(result.service_errors)[:500] or None,
                session_date=result.session,
                counts=counts,
                equity=result.equity,
                cash=result.cash,
            )
        deps.emit(
            "RunFinished",
            run_mode,
            result.session,
            result.market_open,
            dict(counts),
            result.equity,
            result.message,
        )
        return result


#: strategy class -> whether it is a `Proposer` (a runtime Protocol check inspects every
#: member: too slow for each of a backtest's sessions)
_PROPOSER_TYPES: dict[type, bool] = {}


def _proposes(strategy: object) -> bool:
    """`isinstance(strategy, Proposer)`, decided once per strategy class."""
    kind = type(strategy)
    found = _PROPOSER_TYPES.get(kind)
    if found is None:
        found = _PROPOSER_TYPES[kind] = isinstance(strategy, Proposer)
    return found


def _outcome(exc: BaseException) -> str:
    """The `runs.outcome` of a cycle ended by `exc`: crashed (tests), interrupted, or error."""
    if isinstance(exc, SimulatedCrash):
        return "crashed"
    return "interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "error"


def _cycle(
    deps: Deps, as_of: np.datetime64 | None, dry_run: bool, force: bool, run_id: int
) -> RunResult:
    m, b = deps.market, deps.broker
    session, exact = m.locate(as_of) if as_of is not None else (m.session_on_or_before(None), True)
    if session is None:
        raise DataError(f"no bars on or before {as_of}" if as_of is not None else "no bars")
    day = str(session)
    if m.closed_reason and as_of is None and not force:
        return RunResult(run_id, day, False, dry_run, f"{m.closed_reason}; nothing managed")
    # `as_of` is a session exactly when it is the session on or before it (`locate`: without
    # a second search of the calendar)
    if as_of is not None and not exact and not force:
        gap = m.exchange_session is not None and m.exchange_session(as_of.astype(dt.date))
        why = (
            f"no bars on {as_of} although NYSE was open (a gap in the data)"
            if gap
            else f"market closed on {as_of} (not a session in the data)"
        )
        return RunResult(
            run_id,
            day,
            False,
            dry_run,
            f"{why}; nothing managed. --force runs the last session, {day}",
        )
    last = deps.store.last_session(b.name, b.account)
    if last and day < last:
        raise InputError(
            f"session {day} is before the last traded session {last} of this "
            "account: the book cannot go back in time (use a fresh --db to replay)"
        )
    if hasattr(b, "set_market"):
        b.set_market(lambda s: m.close(s, session), day, lambda s, a, t: m.bars_between(s, a, t))
    res = RunResult(run_id, day, True, dry_run)
    st, blocked = deps.store, set()
    idle, holdings = _idle(deps)
    if idle is None:
        blocked = reconcile(deps, session, res, holdings)
        for f in res.findings:
            deps.emit("ReconcileFinding", f.severity, f.message)
        mismatches = [f.message for f in res.findings if f.severity == "error"]
        if mismatches:  # the book and the broker disagree: a person decides before we trade
            res.halted = "; ".join(mismatches)
        else:
            _exits(deps, session, res, blocked)
    if res.halted is None:
        if _proposes(deps.strategy):  # orders proposed by the strategy, same checks
            from .proposals import proposal_cycle

            proposal_cycle(deps, session, res, blocked)
        elif m.in_buy_window(session):
            _entries(deps, session, res, blocked)
        if idle is not None and st.version() != idle:
            idle = None  # the entries wrote: the rest of the cycle reads the book again
        if idle is None:
            protect.sync(deps, session, res, blocked)
    if not dry_run and idle is None:
        res.unconfirmed = unconfirmed_orders(deps)
    res.cash = b.account_values().cash
    held = st.positions(b.name, b.account) if idle is None else ()  # idle: nothing held
    res.equity = res.cash + sum(
        p.remaining_qty * (m.last_close(p.symbol, session) or p.entry_price or 0.0) for p in held
    )
    return res


def _idle(deps: Deps) -> tuple[tuple[int, int] | None, list[BrokerPosition] | None]:
    """(`Store.version()`, None) when the account is idle (most backtest sessions): no journal
    row live, no open position, nothing held at the broker. Reconcile, the exits and the
    resting stops then have nothing to do, and while the entries write nothing (the version
    unchanged) the end of the cycle has no order to report and nothing to mark, so the cycle
    skips them: the same result without reading it all again. Otherwise (None, the broker's
    holdings if they were read: reconcile compares with them instead of asking again)."""
    st, b = deps.store, deps.broker
    version = st.version()
    if st.live_orders(b.name, b.account) or st.positions(b.name, b.account):
        return None, None
    holdings = b.positions()
    return (None, holdings) if holdings else (version, None)


def _exits(deps: Deps, session: np.datetime64, res: RunResult, blocked: set[str]) -> None:
    """Spec §6 for every open position, oldest first; a position is not checked on its entry bar."""
    st, b, m, day = deps.store, deps.broker, deps.market, str(session)
    for pos in st.positions(b.name, b.account):
        if pos.entry_date == day or pos.symbol in blocked or pos.entry_price is None:
            continue
        price = m.close(pos.symbol, session)
        if price is None:
            msg = f"{pos.symbol}: no bar at {day}; exits of position {pos.id} not checked"
            res.findings.append(Finding("warning", msg))
            deps.emit("StaleData", msg, (pos.symbol,))
            continue
        state = PositionState(
            pos.kind,
            pos.entry_price,
            pos.original_qty,
            pos.remaining_qty - st.pending_exit_qty(pos.id),
            pos.stop_loss or deps.strategy.initial_stop(pos.kind, pos.entry_price),
            pos.targets_hit,
        )
        held = m.bars_held(pos.entry_date or day, session)
        plan = deps.strategy.plan_exit(state, price, held)
        for r, q in plan.sells:
            deps.emit("ExitDecided", pos.symbol, pos.kind, r, q, price)
        if res.dry_run:
            res.exits += [
                Action("SELL", pos.symbol, pos.kind, r, q, price, "dry-run", position_id=pos.id)
                for r, q in plan.sells
            ]
            continue
        if plan.sells and not protect.before_exits(
            deps, pos, plan.shares(), plan.stop_loss, day, res.run_id, res
        ):
            continue  # the resting stop sold shares meanwhile: re-planned at the next run
        if (plan.stop_loss, plan.targets_hit) != (pos.stop_loss, pos.targets_hit):
            st.change_position(pos.id, stop_loss=plan.stop_loss, targets_hit=plan.targets_hit)
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
        st.realized_for_order(done.id),
        done.message or "",
    )


# --- 3. entries --------------------------------------------------------------------------------


@dataclass
class _EntryContext:
    book: Book
    cash: float
    open_value: float
    orders_today: int
    entered_today: set[str]
    kill_reason: str | None
    positions: int = 0  # open + pending positions of the account


def _kill_reason(deps: Deps, day: str) -> str | None:
    """Why the daily-loss kill switch blocks entries today (`[risk] max_daily_loss_usd`)."""
    b, risk = deps.broker, deps.risk
    realized = deps.store.realized_on(b.name, b.account, day)
    if realized < -risk.max_daily_loss_usd:
        return (
            f"kill switch: realized P&L today {realized:,.2f} USD is below "
            f"-{risk.max_daily_loss_usd:,.2f} (max_daily_loss_usd)"
        )
    return None


def _entry_context(deps: Deps, session: np.datetime64) -> _EntryContext:
    st, b, m, day = deps.store, deps.broker, deps.market, str(session)
    live = st.positions(b.name, b.account, ("open", "pending"))
    kill = _kill_reason(deps, day)
    # resting protective stops and their changes reduce risk: not counted as the day's orders
    today = [o for o in st.orders(b.name, b.account, day) if o.purpose != BROKER_STOP]
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
        positions=len(live),
    )


def _refusal(deps: Deps, res: RunResult, d: Decision, reason: str) -> None:
    record_refusal(deps, res, d.signal.symbol, d.action, reason)


def record_refusal(
    deps: Deps,
    res: RunResult,
    symbol: str,
    action: str,
    reason: str,
    also: Callable[[sqlite3.Connection], None] | None = None,
) -> None:
    """An entry refused by a risk check or a policy: reported on `res`, recorded in the
    refusals table (with `also`'s writes in the same transaction) unless dry-run, notified."""
    b = deps.broker
    res.refusals.append({"symbol": symbol, "action": action, "reason": reason})
    if res.dry_run:
        return
    with deps.store.tx() as db:
        deps.store.add_refusal(
            db,
            run_id=res.run_id,
            broker=b.name,
            account=b.account,
            session_date=res.session or "",
            symbol=symbol,
            action=action[:80],
            reason=reason,
        )
        if also is not None:
            also(db)
    deps.emit("RiskRefused", symbol, action, reason)


def _risk_refusal(deps: Deps, ctx: _EntryContext, d: Decision) -> tuple[int, str | None]:
    """Shares to buy for a B1/B2 decision, or 0 with the reason it is refused."""
    sym, price = d.signal.symbol, d.signal.close
    why = gate_refusal(deps, ctx, sym)
    if why:
        return 0, why
    shares, amount = deps.strategy.size(d.action, price, ctx.cash, ctx.open_value)
    if shares <= 0:
        return 0, f"size: 0 shares (amount {amount:,.2f} USD at {price:,.2f})"
    why = ticket_refusal(deps, ctx, shares, price)
    return (0, why) if why else (shares, None)


def gate_refusal(deps: Deps, ctx: _EntryContext, sym: str) -> str | None:
    """Why no new entry in `sym` may be sent now (one per symbol and session, the daily-loss
    kill switch, `max_orders_per_day`, `max_positions`), or None."""
    risk = deps.risk
    if sym in ctx.entered_today:
        return "already entered this symbol in this session"
    if ctx.kill_reason:
        return ctx.kill_reason
    if ctx.orders_today >= risk.max_orders_per_day:
        return f"max_orders_per_day ({risk.max_orders_per_day}) reached"
    if ctx.positions >= risk.max_positions:
        return f"max_positions ({risk.max_positions}) open or pending"
    return None


def ticket_refusal(deps: Deps, ctx: _EntryContext, shares: int, price: float) -> str | None:
    """Why buying `shares` at `price` (USD) is refused (`max_ticket_usd`, cash), or None."""
    risk = deps.risk
    if shares * price > risk.max_ticket_usd:
        return (
            f"max_ticket_usd: {shares} x {price:,.2f} = {shares * price:,.2f} USD > "
            f"{risk.max_ticket_usd:,.2f}"
        )
    if shares * price > ctx.cash:
        return f"cash: {shares * price:,.2f} USD needed, {ctx.cash:,.2f} available"
    return None


def _entries(deps: Deps, session: np.datetime64, res: RunResult, blocked: set[str]) -> None:
    """Spec §4-§5: classify the session's signals in order, check risk, size, send."""
    signals = deps.market.signals(session)
    if not signals:  # most sessions: nothing to classify, so only the kill switch is read
        kill = _kill_reason(deps, str(session))
        if kill and not res.dry_run:
            deps.emit("KillSwitch", deps.broker.account, str(session), kill)
        return
    ctx = _entry_context(deps, session)
    if ctx.kill_reason and not res.dry_run:
        deps.emit("KillSwitch", deps.broker.account, str(session), ctx.kill_reason)
    strategy = deps.strategy
    for sig in sorted(signals, key=strategy.order_key):
        if sig.symbol in blocked:
            continue
        d = strategy.classify(sig, ctx.book)
        res.decisions.append(d)
        if not d.enter:
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
        entered(deps, ctx, sig.symbol, shares * (action.price or sig.close), res.dry_run)


def entered(deps: Deps, ctx: _EntryContext, sym: str, spent: float, dry_run: bool) -> None:
    """Count an entry just sent in `ctx`: `spent` USD of cash, one more order and position."""
    ctx.entered_today.add(sym)
    ctx.orders_today += 1
    ctx.positions += 1
    # a broker's balance may lag a fresh order: never size from more cash than we know is left
    ctx.cash -= spent
    if not dry_run:
        ctx.cash = min(ctx.cash, deps.broker.account_values().cash)
    ctx.open_value += spent


def _enter(deps: Deps, d: Decision, shares: int, day: str, res: RunResult) -> Action:
    sig, st, b = d.signal, deps.store, deps.broker
    if res.dry_run:
        return Action(
            "BUY", sig.symbol, d.action, f"ENTRY_{d.action}", shares, sig.close, "dry-run"
        )
    with st.tx() as db:
        position_id = st.new_position(
            db,
            symbol=sig.symbol,
            tag=d.action,
            broker=b.name,
            account=b.account,
            strategy=deps.strategy.name,
            score=sig.score,
            pattern=sig.pattern,
        )
        order = st.new_order(
            db,
            broker=b.name,
            account=b.account,
            symbol=sig.symbol,
            side="BUY",
            quantity=shares,
            purpose=f"ENTRY_{d.action}",
            position_id=position_id,
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


def session_count(market: MarketView, pos: Position, session: np.datetime64) -> int | None:
    """Sessions held (spec §6.2 `bars_held`), None for a position not yet filled."""
    if not pos.entry_date:
        return None
    return market.bars_held(pos.entry_date, session)
