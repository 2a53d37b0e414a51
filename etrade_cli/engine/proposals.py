"""Orders proposed by a strategy (`strategy.base.Proposer`, e.g. the `http` signal service),
through the same path as the strategy's own entries and exits.

Per cycle, after reconciliation and the rule exits:
1. one `propose` call; when it fails (down, timeout, garbage) nothing is proposed this cycle,
   the problem goes to `RunResult.service_errors` and the cycle goes on;
2. SELL proposals first (exits of this strategy's positions: never risk-blocked), then BUYs
   inside the buy window;
3. every proposal: the journal guard (its `clientOrderId` is derived from its id, so one sent
   again is never executed twice), the engine's local checks (the same `[risk]` limits as
   every entry, plus whole shares and price sanity against the last bar), then the proposer's
   `review`; a refusal is recorded (`refusals` and `proposals`) and never stops the run;
4. an approved one is journaled (position, order and proposal in one transaction) before it is
   sent;
5. rewards (`rewards.py`): queued in the book's outbox and delivered, re-sent next run until
   accepted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sqlite3
from dataclasses import asdict
from typing import Any, cast

import numpy as np

from ..store import Position
from ..strategy.base import (
    HeldPosition,
    Proposal,
    ProposalContext,
    ProposalsUnavailable,
    Proposer,
    Sizing,
)
from . import protect
from .cycle import (
    _entry_context,
    _EntryContext,
    entered,
    gate_refusal,
    record_refusal,
    ticket_refusal,
)
from .orders import send_order
from .rewards import settle_rewards
from .types import Action, Deps, RunResult

#: the exit reason of a SELL proposal: SIGNAL, then SIGNAL2, SIGNAL3... for later ones of the
#: same position (the journal allows one exit per position and purpose)
SELL_REASON = "SIGNAL"


def proposal_coid(broker: str, account: str, proposal_id: str) -> str:
    """The `clientOrderId` of a proposal: "P" + the first 19 hex digits (upper case) of
    SHA-256("broker:account:proposal_id"). 20 alphanumerics (E*TRADE: "20 or less alphanumeric
    characters ... unique within this account"), the same every time the id is proposed."""
    digest = hashlib.sha256(f"{broker}:{account}:{proposal_id}".encode()).hexdigest()
    return "P" + digest[:19].upper()


def proposal_cycle(deps: Deps, session: np.datetime64, res: RunResult, blocked: set[str]) -> None:
    """Steps 1-5 of the module doc for `deps.strategy` (a `Proposer`)."""
    proposer = cast(Proposer, deps.strategy)
    ctx = _entry_context(deps, session)
    if ctx.kill_reason and not res.dry_run:
        deps.emit("KillSwitch", deps.broker.account, str(session), ctx.kill_reason)
    pctx = _context(deps, session, ctx)
    try:
        proposals = proposer.propose(pctx)
    except ProposalsUnavailable as exc:
        res.service_errors.append(f"propose: {exc}; no proposals this run (exits ran)")
        proposals = []
    for p in proposals:
        if p.side == "SELL":
            _one(deps, session, res, ctx, pctx, p, blocked)
    if deps.market.in_buy_window(session):
        for p in proposals:
            if p.side == "BUY":
                _one(deps, session, res, ctx, pctx, p, blocked)
    if not res.dry_run:
        settle_rewards(deps, res)


def _context(deps: Deps, session: np.datetime64, ctx: _EntryContext) -> ProposalContext:
    st, b, m = deps.store, deps.broker, deps.market
    held = st.positions(b.name, b.account)
    return ProposalContext(
        session=str(session),
        as_of=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        equity=ctx.cash + ctx.open_value,
        cash=ctx.cash,
        positions=tuple(
            HeldPosition(p.symbol, p.remaining_qty, p.entry_price or 0.0, p.kind)
            for p in held
            if p.remaining_qty > 0
        ),
        universe=tuple(sorted(m.tradable)),
    )


def _one(
    deps: Deps,
    session: np.datetime64,
    res: RunResult,
    ctx: _EntryContext,
    pctx: ProposalContext,
    p: Proposal,
    blocked: set[str],
) -> None:
    b = deps.broker
    coid = proposal_coid(b.name, b.account, p.id)
    if deps.store.order_by_coid(coid) is not None:
        _note(res, p, "duplicate", f"already in the journal as {coid}; not sent again", coid)
        return
    if p.symbol in blocked:
        _refuse(deps, res, p, "refused", "reconcile: the book and the broker disagree on it")
        return
    close = deps.market.close(p.symbol, session)
    if close is None:
        _refuse(deps, res, p, "refused", f"price sanity: no bar for {p.symbol} at {session}")
        return
    price = p.limit_price if p.limit_price is not None else close
    pos: Position | None = None
    if p.side == "SELL":
        pos, shares, why = _sell_check(deps, p)
    else:
        shares, why = _buy_check(deps, ctx, p, price)
    why = why or _price_check(deps, p, price, close)
    if why:
        _refuse(deps, res, p, "refused", why)
        return
    ok, verdict = _review(deps, res, p, Sizing(shares, price, round(shares * price, 2), coid), pctx)
    if not ok:
        _refuse(deps, res, p, "rejected", f"validate: {verdict}")
        return
    action = _send(deps, res, p, pos, shares, price, coid)
    if action is None:
        return
    _note(res, p, "ordered", verdict, coid)
    if p.side == "SELL":
        res.exits.append(action)
    else:
        res.entries.append(action)
        if action.status not in ("rejected", "cancelled"):
            ctx.book.add(p.symbol, action.kind)
            entered(deps, ctx, p.symbol, shares * (action.price or price), res.dry_run)


def _review(
    deps: Deps, res: RunResult, p: Proposal, sizing: Sizing, pctx: ProposalContext
) -> tuple[bool, str]:
    """The proposer's review; a failed one is a rejection, reported once as a service problem,
    and the rest of the run's proposals are rejected without calling it again."""
    failed = next((e for e in res.service_errors if e.startswith("validate: ")), None)
    if failed:
        return False, f"failed earlier this run ({failed.removeprefix('validate: ')})"
    try:
        return cast(Proposer, deps.strategy).review(p, sizing, pctx)
    except ProposalsUnavailable as exc:
        res.service_errors.append(f"validate: {exc}; proposals rejected")
        return False, f"failed: {exc}"


def _price_check(deps: Deps, p: Proposal, price: float, close: float) -> str | None:
    """Price sanity against the last bar's `close` (USD): a limit price within
    `max_price_deviation_pct` of it, and a BUY's stop below the estimated `price`."""
    band = deps.risk.max_price_deviation_pct
    if p.limit_price is not None and abs(p.limit_price / close - 1.0) > band:
        return (
            f"price sanity: limit {p.limit_price:,.2f} is more than {band:.0%} from the last "
            f"close {close:,.2f} (max_price_deviation_pct)"
        )
    if p.side == "BUY" and p.stop_loss is not None and p.stop_loss >= price:
        return f"price sanity: stop_loss {p.stop_loss:,.2f} is not below the price {price:,.2f}"
    return None


def _whole(q: float) -> int | None:
    return int(q) if float(q).is_integer() else None


def _buy_check(deps: Deps, ctx: _EntryContext, p: Proposal, price: float) -> tuple[int, str | None]:
    """Shares of a BUY proposal at `price` (USD) after the engine's entry checks, or 0 and the
    reason."""
    if p.symbol not in deps.market.tradable:
        return 0, f"{p.symbol} is not in the universe (the watchlist minus the exclusions)"
    why = gate_refusal(deps, ctx, p.symbol)
    if why:
        return 0, why
    if p.quantity is not None:
        shares = _whole(p.quantity)
        if shares is None:
            return 0, f"whole shares: quantity {p.quantity} is not a whole number"
    elif p.notional_usd is not None:
        shares = math.floor(p.notional_usd / price)
    else:
        shares, _ = deps.strategy.size(p.tag or "http", price, ctx.cash, ctx.open_value)
    if shares <= 0:
        return 0, f"whole shares: 0 shares at {price:,.2f} USD"
    return shares, ticket_refusal(deps, ctx, shares, price)


def _sell_check(deps: Deps, p: Proposal) -> tuple[Position | None, int, str | None]:
    """The position a SELL proposal sells (the oldest open one of this strategy in the symbol)
    and its shares, or the reason it cannot."""
    st, b = deps.store, deps.broker
    mine = [
        pos
        for pos in st.positions(b.name, b.account)
        if pos.symbol == p.symbol and pos.strategy == deps.strategy.name
    ]
    if not mine:
        return None, 0, f"SELL: no open {deps.strategy.name} position in {p.symbol}"
    pos = mine[0]
    free = pos.remaining_qty - st.pending_exit_qty(pos.id)
    whole = free if p.quantity is None else _whole(p.quantity)
    if whole is None:
        return pos, 0, f"whole shares: quantity {p.quantity} is not a whole number"
    shares = whole
    if free <= 0:
        return pos, 0, f"SELL: position {pos.id} is already being sold"
    if shares > free:
        return pos, 0, f"SELL: {shares} shares asked, position {pos.id} has {free} to sell"
    return pos, shares, None


def _send(
    deps: Deps,
    res: RunResult,
    p: Proposal,
    pos: Position | None,
    shares: int,
    price: float,
    coid: str,
) -> Action | None:
    """Journal (position, order, proposal in one transaction), then send. None when the
    journal refuses it (a duplicate that slipped past the first check)."""
    st, day = deps.store, res.session or ""
    tag = pos.kind if pos is not None else (p.tag or "http")
    purpose = _exit_purpose(deps, pos) if pos is not None else f"ENTRY_{tag}"
    reason = purpose.removeprefix("EXIT_")
    if res.dry_run:
        return Action(p.side, p.symbol, tag, reason, shares, price, "dry-run", coid)
    if pos is not None and not protect.before_exits(
        deps,
        pos,
        shares,
        pos.stop_loss or deps.strategy.initial_stop(pos.kind, pos.entry_price or 0.0),
        day,
        res.run_id,
    ):
        _refuse(deps, res, p, "refused", "the resting stop sold shares of it meanwhile")
        return None
    try:
        with st.tx() as db:
            order = _journal(deps, db, p, pos, tag, shares, coid, purpose, day, res.run_id)
    except sqlite3.IntegrityError as exc:
        if st.order_by_coid(coid) is not None:
            _note(res, p, "duplicate", f"already in the journal as {coid}; not sent again", coid)
        else:
            _refuse(deps, res, p, "refused", f"the journal refused it: {exc}")
        return None
    deps.faults("after_intent")
    done = send_order(deps, order, day)
    return Action(
        p.side,
        p.symbol,
        tag,
        reason,
        shares,
        done.avg_fill_price,
        done.status,
        done.client_order_id,
        done.position_id,
        st.realized_for_order(done.id) if p.side == "SELL" else None,
        done.message or "",
    )


def _exit_purpose(deps: Deps, pos: Position) -> str:
    done = set(deps.store.exit_purposes(pos.id))
    n = 1
    while f"EXIT_{SELL_REASON}{n if n > 1 else ''}" in done:
        n += 1
    return f"EXIT_{SELL_REASON}{n if n > 1 else ''}"


def _journal(
    deps: Deps,
    db: sqlite3.Connection,
    p: Proposal,
    pos: Position | None,
    tag: str,
    shares: int,
    coid: str,
    purpose: str,
    day: str,
    run_id: int | None,
) -> Any:
    st, b = deps.store, deps.broker
    position_id = (
        pos.id
        if pos is not None
        else st.new_position(
            db,
            symbol=p.symbol,
            tag=tag,
            broker=b.name,
            account=b.account,
            strategy=deps.strategy.name,
        )
    )
    order = st.new_order(
        db,
        client_order_id=coid,
        broker=b.name,
        account=b.account,
        symbol=p.symbol,
        side=p.side,
        quantity=shares,
        price_type=p.price_type,
        limit_price=p.limit_price,
        purpose=purpose,
        position_id=position_id,
        session_date=day,
        run_id=run_id,
    )
    _record(deps, db, p, day, run_id, "ordered", None, coid, order.id, position_id)
    return order


def _record(
    deps: Deps,
    db: sqlite3.Connection,
    p: Proposal,
    day: str,
    run_id: int | None,
    outcome: str,
    reason: str | None,
    coid: str | None = None,
    order_id: int | None = None,
    position_id: int | None = None,
) -> None:
    b = deps.broker
    deps.store.add_proposal(
        db,
        proposal_id=p.id,
        strategy=deps.strategy.name,
        broker=b.name,
        account=b.account,
        session_date=day,
        run_id=run_id,
        symbol=p.symbol,
        side=p.side,
        outcome=outcome,
        reason=reason,
        client_order_id=coid,
        order_id=order_id,
        position_id=position_id,
        stop_loss=p.stop_loss if p.side == "BUY" else None,
        body=json.dumps(asdict(p)),
    )


def _note(res: RunResult, p: Proposal, outcome: str, reason: str, coid: str | None) -> None:
    res.proposals.append(
        {
            "id": p.id,
            "symbol": p.symbol,
            "side": p.side,
            "outcome": outcome,
            "reason": reason,
            "client_order_id": coid,
        }
    )


def _refuse(deps: Deps, res: RunResult, p: Proposal, outcome: str, reason: str) -> None:
    """A refusal (local checks) or rejection (review): reported, and recorded unless dry-run."""
    day = res.session or ""
    _note(res, p, outcome, reason, None)
    record_refusal(
        deps,
        res,
        p.symbol,
        f"{p.side} {p.id}",
        reason,
        also=lambda db: _record(deps, db, p, day, res.run_id, outcome, reason),
    )
