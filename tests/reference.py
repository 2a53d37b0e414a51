"""A slow, literal reference implementation of strategy spec §1-§3 for one symbol at one bar.

Written independently of `etrade_cli.strategy` (plain loops and pandas resampling, recomputed from
scratch at every t) so that tests can cross-check the vectorized implementation on real data.
"""

from __future__ import annotations

import math

import pandas as pd


def sma(values: list[float], n: int) -> float:
    return sum(values[-n:]) / n if len(values) >= n else math.nan


def ema(values: list[float], n: int) -> float:
    if len(values) < n:
        return math.nan
    e = sum(values[:n]) / n
    a = 2 / (n + 1)
    for v in values[n:]:
        e = a * v + (1 - a) * e
    return e


def rsi(values: list[float], n: int = 14) -> float:
    if len(values) < n + 1:
        return math.nan
    ch = [b - a for a, b in zip(values, values[1:])]
    g = sum(max(c, 0) for c in ch[:n]) / n
    lo = sum(max(-c, 0) for c in ch[:n]) / n
    for c in ch[n:]:
        g = (g * (n - 1) + max(c, 0)) / n
        lo = (lo * (n - 1) + max(-c, 0)) / n
    return 0.0 if g + lo == 0 else 100 * g / (g + lo)


def htf_closes(df: pd.DataFrame, rule: str) -> list[float]:
    return df["close"].resample(rule).last().dropna().tolist()


def evaluate_at(df: pd.DataFrame, t: int) -> tuple[str | None, float]:
    """(first failing filter or None, score) for bar `t` of `df` (DatetimeIndex, ohlcv columns)."""
    d = df.iloc[: t + 1]
    c, h, low, o, v = (d[k].tolist() for k in ("close", "high", "low", "open", "volume"))

    def ma_at(i: int, kind: str, n: int) -> float:
        return (sma if kind == "sma" else ema)(c[: i + 1], n)

    s50, s200, e21 = ma_at(t, "sma", 50), ma_at(t, "sma", 200), ma_at(t, "ema", 21)
    w_ema = ema(htf_closes(d, "W-FRI"), 21)
    m_ema = ema(htf_closes(d, "MS"), 10)
    C = c[-1]

    def near(x: float, ma: float) -> bool:
        return not math.isnan(ma) and abs(x - ma) / ma <= 0.025

    checks = [
        ("maturity", len(c) >= 200),
        ("structure", s50 > s200 and e21 > s50),
        ("weekly", C > w_ema),
        ("monthly", C > m_ema),
    ]
    dip = sum(1 for i in range(t - 3, t + 1) if i >= 0 and c[i] < ma_at(i, "ema", 21))
    lower_high = t >= 4 and max(h[t - 4 : t]) > h[t]
    checks.append(("pullback", (near(C, e21) or near(C, s50)) and lower_high and dip >= 2))
    green, red1 = C > o[-1], t >= 1 and c[-2] < o[-2]
    O, H, L = o[-1], h[-1], low[-1]
    pat = None
    if t >= 1 and green and red1:
        O1, C1, L1 = o[-2], c[-2], low[-2]
        if C >= O1:
            pat = "engulfing"
        elif C > (O1 + C1) / 2 and C < O1 and H > L and (C - O) / (H - L) >= 0.40:
            pat = "piercing"
        elif abs(L - L1) <= 0.002 * L:
            pat = "tweezer"
    checks.append(("pattern", pat is not None))
    if t >= 7:
        hi, lo = max(h[t - 7 : t + 1]), min(low[t - 7 : t + 1])
        checks.append(("stalling", (hi - lo) / ((hi + lo) / 2) > 0.05))
    else:
        checks.append(("stalling", False))
    reason = next((name for name, ok in checks if not ok), None)

    score = float(rsi(c) > 50) + float(C > w_ema) + float(C > m_ema)
    score += float(t >= 20 and v[-1] > sma(v, 21))
    score += float(t >= 20 and L <= 1.035 * min(low[t - 20 : t + 1]))
    g = -1
    for i in range(1, t + 1):
        if ma_at(i - 1, "sma", 50) <= ma_at(i - 1, "sma", 200) and ma_at(i, "sma", 50) > ma_at(
            i, "sma", 200
        ):
            g = i
    for kind, n in (("ema", 21), ("sma", 50)):
        if any(near(c[i], ma_at(i, kind, n)) for i in range(g + 1, t + 1)):
            score += 0.5
    return reason, score
