"""The rewards outbox of a proposing strategy (the `http` signal service).

Every fill of an order that came from a proposal, and every close of a position a proposal
opened, becomes one reward row in the book (`rewards`, with an idempotency key), queued from
what the book records (so fills recorded by reconciliation after a crash are rewarded too).
Delivery goes oldest first through `Proposer.reward`; a reward not accepted stays queued and is
re-sent with the same key on the next run, so the service sees each exactly once.
"""

from __future__ import annotations

import json
from typing import Any, cast

from ..store import Position
from ..strategy.base import ProposalsUnavailable, Proposer
from .types import Deps, RunResult


def settle_rewards(deps: Deps, res: RunResult) -> None:
    """Queue the rewards of new fills and closes (one transaction), then deliver every queued
    one, oldest first; the first one not accepted stops delivery until the next run."""
    queue_rewards(deps)
    st, b = deps.store, deps.broker
    pending = st.rewards(b.name, b.account, "pending")
    proposer = cast(Proposer, deps.strategy)
    for i, r in enumerate(pending):
        try:
            proposer.reward(r["idempotency_key"], json.loads(r["body"]))
        except ProposalsUnavailable as exc:
            st.reward_attempted(r["id"], str(exc))
            res.service_errors.append(
                f"reward: {exc}; {len(pending) - i} reward(s) kept for the next run"
            )
            return
        st.reward_attempted(r["id"], None)
        res.rewards_sent += 1


def queue_rewards(deps: Deps) -> int:
    """Add a reward for every fill of a proposed order and every close of a position a
    proposal opened that has none yet; returns how many were added. Keys:
    "<book tag>-fill-<fill id>" and "<book tag>-close-<position id>"."""
    st, b = deps.store, deps.broker
    tag = st.meta("order_tag")
    fills = st.unrewarded_fills(b.name, b.account)
    closes = st.unrewarded_closes(b.name, b.account)
    if not fills and not closes:
        return 0
    with st.tx() as db:
        for f in fills:
            key = f"{tag}-fill-{f['fill_id']}"
            st.add_reward(
                db,
                idempotency_key=key,
                broker=b.name,
                account=b.account,
                proposal_id=f["proposal_id"],
                kind="fill",
                fill_id=f["fill_id"],
                body=json.dumps(_fill_body(key, f)),
            )
        for proposal_id, pos in closes:
            key = f"{tag}-close-{pos.id}"
            st.add_reward(
                db,
                idempotency_key=key,
                broker=b.name,
                account=b.account,
                proposal_id=proposal_id,
                kind="close",
                position_id=pos.id,
                body=json.dumps(_close_body(key, proposal_id, pos)),
            )
    return len(fills) + len(closes)


def _fill_body(key: str, f: dict[str, Any]) -> dict[str, Any]:
    pnl = f["realized_pnl"]
    return {
        "idempotency_key": key,
        "kind": "fill",
        "proposal_id": f["proposal_id"],
        "fill": {
            "symbol": f["symbol"],
            "side": f["side"],
            "quantity": f["quantity"],
            "price": f["price"],
            "time": f["filled_at"],
        },
        "realized_pnl_usd": None if pnl is None else round(pnl, 2),
    }


def _close_body(key: str, proposal_id: str, pos: Position) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "kind": "close",
        "proposal_id": proposal_id,
        "fill": {
            "symbol": pos.symbol,
            "side": "SELL",
            "quantity": pos.original_qty,
            "price": pos.exit_price,
            "time": pos.closed_at,
        },
        "realized_pnl_usd": round(pos.realized_pnl, 2),
        "position": {
            "tag": pos.kind,
            "entry_date": pos.entry_date,
            "entry_price": pos.entry_price,
            "exit_date": pos.exit_date,
            "exit_reason": pos.exit_reason,
        },
    }
