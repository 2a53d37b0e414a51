"""Strategy parameters: the `[strategy]` config section of spec §8, with its defaults.

Percentages are fractions (0.05 means 5 %). Each field's `metadata` carries the bounds that
`etrade_cli.config` enforces at load time; cross-field rules live in `StrategyParams.problems`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _rules(**rules: object) -> dict[str, object]:
    """Validation metadata read by `etrade_cli.config`: min, max, exclusive_min, choices."""
    return rules


@dataclass(frozen=True)
class StrategyParams:
    """Rajat Alpha v67 parameters (spec §8). Fractions, sessions and share counts as named."""

    min_listing_days: int = field(default=200, metadata=_rules(min=1))
    ma_touch_threshold_pct: float = field(default=0.025, metadata=_rules(min=0.0, max=1.0))
    pullback_days: int = field(default=4, metadata=_rules(min=1, max=50))
    pullback_require_dip: bool = True
    stalling_filter: str = field(default="range", metadata=_rules(choices=("range", "off")))
    stalling_days: int = field(default=8, metadata=_rules(min=2, max=100))
    stalling_range_pct: float = field(default=0.05, metadata=_rules(min=0.0, max=1.0))
    rs_mode: str = field(default="rsi", metadata=_rules(choices=("rsi", "benchmark")))
    rs_benchmark: str = "QQQ"
    score_b2_min: float = field(default=3, metadata=_rules(min=0, max=6))
    max_positions_b1: int = field(default=2, metadata=_rules(min=0, max=1000))
    max_positions_b2: int = field(default=2, metadata=_rules(min=0, max=1000))
    percent_of_equity: float = field(
        default=0.05, metadata=_rules(min=0.0, max=1.0, exclusive_min=True)
    )
    percent_of_equity_b1: float | None = field(
        default=None, metadata=_rules(min=0.0, max=1.0, exclusive_min=True)
    )
    percent_of_equity_b2: float | None = field(
        default=None, metadata=_rules(min=0.0, max=1.0, exclusive_min=True)
    )
    max_loss_pct: float = field(default=0.02, metadata=_rules(min=0.0, max=1.0, exclusive_min=True))
    max_equity_utilization_pct: float = field(
        default=0.50, metadata=_rules(min=0.0, max=1.0, exclusive_min=True)
    )
    initial_stop_loss_pct: float = field(
        default=0.17, metadata=_rules(min=0.0, max=1.0, exclusive_min=True)
    )
    tier1_profit_pct: float = field(default=0.05, metadata=_rules(min=0.0, max=10.0))
    tier1_stop_loss_pct: float = field(default=0.09, metadata=_rules(min=0.0, max=1.0))
    tier2_profit_pct: float = field(default=0.10, metadata=_rules(min=0.0, max=10.0))
    tier2_stop_loss_pct: float = field(default=0.01, metadata=_rules(min=0.0, max=1.0))
    tes_days_b1: int = field(default=21, metadata=_rules(min=1, max=10000))
    tes_days_b2: int = field(default=21, metadata=_rules(min=1, max=10000))
    enable_partial_exits: bool = True
    targets: tuple[float, ...] = field(
        default=(0.10, 0.15, 0.20), metadata=_rules(min=0.0, exclusive_min=True)
    )
    target_fractions: tuple[float, ...] = field(
        default=(0.333, 0.333, 0.334), metadata=_rules(min=0.0, max=1.0)
    )
    buy_window: str = "15:00-16:00"

    def equity_fraction(self, position_type: str) -> float:
        """Fraction of equity for one new position of type "B1" or "B2" (spec §5)."""
        override = self.percent_of_equity_b1 if position_type == "B1" else self.percent_of_equity_b2
        return self.percent_of_equity if override is None else override

    def buy_window_minutes(self) -> tuple[int, int]:
        """The buy window as (start, end) minutes after midnight US/Eastern (spec §7).

        Raises:
            ValueError: when `buy_window` is not "HH:MM-HH:MM" with start before end.
        """
        try:
            start, end = (p.strip() for p in self.buy_window.split("-"))
            s = [int(x) for x in start.split(":")]
            e = [int(x) for x in end.split(":")]
            lo, hi = s[0] * 60 + s[1], e[0] * 60 + e[1]
        except (ValueError, IndexError):
            raise ValueError('must look like "15:00-16:00" (HH:MM-HH:MM, US/Eastern)') from None
        if not (0 <= lo < hi <= 24 * 60) or len(s) != 2 or len(e) != 2:
            raise ValueError('must look like "15:00-16:00" with start before end')
        return lo, hi

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field rule violations of spec §8 as (key, message) pairs; empty when valid."""
        out: list[tuple[str, str]] = []
        if len(self.targets) != len(self.target_fractions):
            out.append(("target_fractions", "must have one fraction per target"))
        if any(b <= a for a, b in zip(self.targets, self.targets[1:])):
            out.append(("targets", "must be strictly ascending"))
        if self.target_fractions and abs(sum(self.target_fractions) - 1.0) > 0.01:
            out.append(("target_fractions", "must sum to 1 within 0.01"))
        if self.tier2_profit_pct < self.tier1_profit_pct:
            out.append(("tier2_profit_pct", "must be >= tier1_profit_pct"))
        try:
            self.buy_window_minutes()
        except ValueError as exc:
            out.append(("buy_window", str(exc)))
        return out
