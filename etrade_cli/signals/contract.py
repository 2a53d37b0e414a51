"""The signal-service contract: request bodies and strict checks of every answer.

The contract is written down as a JSON Schema in `etrade_cli/schemas/signal_service.json` and in
the README; this module enforces it without a schema library. Any answer that breaks it (a
field we do not know, a wrong type, a negative quantity, a symbol outside the universe and the
book, a repeated id) is refused as a whole with `ContractError` naming the first problem: a
half-understood answer is never traded.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from ..strategy.base import Proposal, ProposalContext, ProposalsUnavailable, Sizing

PROPOSAL_FIELDS = (
    "id",
    "symbol",
    "side",
    "quantity",
    "notional_usd",
    "price_type",
    "limit_price",
    "stop_loss",
    "tag",
    "reason",
)
MAX_ID = 64
MAX_TAG = 32
MAX_REASON = 1000


class ContractError(ProposalsUnavailable):
    """An answer that breaks the contract; the message names the field and the problem."""


def propose_body(ctx: ProposalContext) -> dict[str, Any]:
    """The body of `POST {base}/propose` (money USD, `as_of` ISO-8601 UTC)."""
    return {
        "session": ctx.session,
        "as_of": ctx.as_of,
        "account": {"equity": round(ctx.equity, 2), "cash": round(ctx.cash, 2)},
        "positions": [asdict(p) for p in ctx.positions],
        "universe": list(ctx.universe),
    }


def validate_body(p: Proposal, sizing: Sizing, ctx: ProposalContext) -> dict[str, Any]:
    """The body of `POST {base}/validate`: the proposal as received and our sizing."""
    return {
        "session": ctx.session,
        "as_of": ctx.as_of,
        "proposal": asdict(p),
        "sizing": asdict(sizing),
    }


def parse_proposals(doc: Any, known: set[str]) -> list[Proposal]:
    """The proposals of a `/propose` answer, checked against the contract.

    Args:
        known: symbols a proposal may name (the universe and the held symbols).

    Raises:
        ContractError: the first problem found, e.g. "proposals[2].quantity: must be > 0".
    """
    _fields(doc, "answer", required=("proposals",), allowed=("proposals",))
    items = doc["proposals"]
    if not isinstance(items, list):
        raise ContractError("proposals: must be a list")
    out, seen = [], set()
    for i, item in enumerate(items):
        p = _proposal(item, f"proposals[{i}]", known)
        if p.id in seen:
            raise ContractError(f"proposals[{i}].id: {p.id!r} is repeated")
        seen.add(p.id)
        out.append(p)
    return out


def parse_verdict(doc: Any) -> tuple[bool, str]:
    """(approved, reason) of a `/validate` answer. Raises `ContractError`."""
    _fields(doc, "answer", required=("approved",), allowed=("approved", "reason"))
    if not isinstance(doc["approved"], bool):
        raise ContractError("approved: must be true or false")
    reason = _text(doc.get("reason"), "reason", MAX_REASON) or ""
    return doc["approved"], reason


def parse_capabilities(doc: Any) -> bool:
    """True when a `/capabilities` answer says the service takes past sessions. Unknown keys are
    allowed here (the capabilities may grow)."""
    return isinstance(doc, dict) and doc.get("past_sessions") is True


def _fields(doc: Any, where: str, required: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    if not isinstance(doc, dict):
        raise ContractError(f"{where}: must be a JSON object")
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise ContractError(f"{where}: unknown field {unknown[0]!r}")
    for key in required:
        if key not in doc:
            raise ContractError(f"{where}: missing field {key!r}")


def _proposal(item: Any, where: str, known: set[str]) -> Proposal:
    _fields(item, where, required=("id", "symbol", "side"), allowed=PROPOSAL_FIELDS)
    pid = _text(item["id"], f"{where}.id", MAX_ID)
    symbol = _text(item["symbol"], f"{where}.symbol", 12)
    if not pid or not symbol:
        raise ContractError(f"{where}: id and symbol must not be empty")
    if symbol not in known:
        raise ContractError(f"{where}.symbol: unknown symbol {symbol!r} (not in the universe)")
    side = _choice(item["side"], f"{where}.side", ("BUY", "SELL"))
    price_type = _choice(
        item.get("price_type", "MARKET"), f"{where}.price_type", ("MARKET", "LIMIT")
    )
    p = Proposal(
        id=pid,
        symbol=symbol,
        side=side,
        quantity=_positive(item.get("quantity"), f"{where}.quantity"),
        notional_usd=_positive(item.get("notional_usd"), f"{where}.notional_usd"),
        price_type=price_type,
        limit_price=_positive(item.get("limit_price"), f"{where}.limit_price"),
        stop_loss=_positive(item.get("stop_loss"), f"{where}.stop_loss"),
        tag=_text(item.get("tag"), f"{where}.tag", MAX_TAG),
        reason=_text(item.get("reason"), f"{where}.reason", MAX_REASON),
    )
    if p.tag == "":
        raise ContractError(f"{where}.tag: must not be empty (null for the default)")
    if p.quantity is not None and p.notional_usd is not None:
        raise ContractError(f"{where}: give quantity or notional_usd, not both")
    if (p.price_type == "LIMIT") != (p.limit_price is not None):
        raise ContractError(f"{where}.limit_price: required for LIMIT, and only for LIMIT")
    return p


def _text(value: Any, where: str, max_len: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContractError(f"{where}: must be a string")
    if len(value) > max_len:
        raise ContractError(f"{where}: longer than {max_len} characters")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ContractError(f"{where}: must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _positive(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ContractError(f"{where}: must be a number or null")
    if value <= 0:
        raise ContractError(f"{where}: must be > 0, got {value}")
    return value
