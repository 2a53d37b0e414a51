"""`HttpStrategy`: the `http` strategy, a `Proposer` backed by an external signal service.

It evaluates no bars into signals (its `evaluate` only wraps the bars, so the engine has prices);
each cycle it asks `POST {url}/propose` for orders, optionally `POST {url}/validate` for each
after the engine's own checks, and delivers rewards with `POST {url}/reward`. Exits of its
positions: the proposal's `stop_loss` (kept on the position), else `entry * (1 -
stop_loss_pct)`, and the service's SELL proposals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import SignalsConfig
from ..errors import ConfigError
from ..strategy.base import (
    Book,
    Decision,
    Evaluation,
    ExitPlan,
    PositionState,
    Proposal,
    ProposalContext,
    ProposalsUnavailable,
    Signal,
    Sizing,
)
from ..strategy.panel import Panel
from ..values import Bars
from . import contract
from .client import SignalClient

#: the position tag of a BUY proposal without one
DEFAULT_TAG = "http"


class HttpStrategy:
    """Proposals from the signal service configured in `[signals]`.

    Args:
        cfg: `[signals]` (url, token, timeout_s, validate, stop_loss_pct, percent_of_equity).
        client: a `SignalClient` to use (tests), else one built from `cfg`.

    Raises:
        ConfigError: `[signals] url` is not set.
    """

    name = "http"
    params = None
    warmup_bars = 0

    def __init__(self, cfg: SignalsConfig, client: SignalClient | None = None):
        if not cfg.url and client is None:
            raise ConfigError(
                "the http strategy needs [signals] url (the signal service's base URL)"
            )
        self.cfg = cfg
        self.client = client or SignalClient(cfg.url, cfg.token, cfg.timeout_s)

    # -- the Strategy protocol: no bar signals, stop-loss exits ------------------------------

    def evaluate(self, bars: Sequence[Bars], benchmark: Bars | None = None) -> Evaluation:
        """The bars as a panel with no signal anywhere (prices only)."""
        panel = Panel.from_bars(list(bars))
        shape = panel.close.shape
        return Evaluation(
            panel,
            {},
            np.ones(shape, dtype=np.int8),
            np.zeros(shape, dtype=np.int8),
            {},
            np.zeros(shape),
            filters=("proposed by the signal service",),
        )

    def benchmark_symbol(self) -> str | None:
        """None: no benchmark bars are needed."""
        return None

    def order_key(self, sig: Signal) -> tuple[Any, ...]:
        """By symbol (there are no bar signals to order)."""
        return (sig.symbol,)

    def classify(self, sig: Signal, book: Book) -> Decision:
        """Bar signals never enter: entries come from proposals."""
        return Decision(sig, "SKIP", "the http strategy enters only on proposals")

    def size(self, tag: str, price: float, cash: float, open_value: float) -> tuple[int, float]:
        """`percent_of_equity` of (cash + open value), whole shares at `price` (USD)."""
        amount = (cash + open_value) * self.cfg.percent_of_equity
        return (math.floor(amount / price) if price > 0 else 0), amount

    def initial_stop(self, tag: str, entry_price: float) -> float:
        """`entry * (1 - stop_loss_pct)`; a proposal's own `stop_loss` takes precedence (the
        engine keeps it on the position)."""
        return entry_price * (1.0 - self.cfg.stop_loss_pct)

    def plan_exit(self, pos: PositionState, price: float, bars_held: int) -> ExitPlan:
        """Sell every remaining share once `price` is at or below the stop ("SL")."""
        sells = (
            [("SL", pos.remaining_qty)] if pos.remaining_qty > 0 and price <= pos.stop_loss else []
        )
        return ExitPlan(pos.stop_loss, pos.targets_hit, sells)

    def buy_window(self) -> tuple[int, int] | None:
        """None: proposals are taken at any time of the session."""
        return None

    # -- the Proposer capability -------------------------------------------------------------

    def propose(self, ctx: ProposalContext) -> list[Proposal]:
        """`POST /propose`; the answer checked against the contract.

        Raises:
            ProposalsUnavailable: the service is down, slow or answers garbage.
        """
        doc = self.client.post("/propose", contract.propose_body(ctx))
        known = set(ctx.universe) | {p.symbol for p in ctx.positions}
        return contract.parse_proposals(doc, known)

    def review(self, proposal: Proposal, sizing: Sizing, ctx: ProposalContext) -> tuple[bool, str]:
        """`POST /validate` when `[signals] validate = true`, else approved.

        Raises:
            ProposalsUnavailable: the call failed or the answer breaks the contract.
        """
        if not self.cfg.validate:
            return True, ""
        doc = self.client.post("/validate", contract.validate_body(proposal, sizing, ctx))
        approved, reason = contract.parse_verdict(doc)
        return approved, reason or ("approved" if approved else "rejected by the service")

    def reward(self, key: str, body: dict[str, Any]) -> None:
        """`POST /reward` with `Idempotency-Key: key`. Raises `ProposalsUnavailable`."""
        self.client.post("/reward", body, headers={"Idempotency-Key": key})

    def supports_replay(self) -> bool:
        """`GET /capabilities` answers `{"past_sessions": true}`; False when it cannot be asked."""
        try:
            return contract.parse_capabilities(self.client.get("/capabilities"))
        except ProposalsUnavailable:
            return False
