"""Synthetic daily bars for the benchmarks: seeded random walks written as long-format CSV.

Usage:
    python benchmarks/synth.py backtest OUT.csv   # 2 symbols x 6,558 sessions (1999-2025 size)
    python benchmarks/synth.py scan OUT.csv       # 8,000 symbols x 300 sessions
    python benchmarks/synth.py grid OUT.csv --symbols N --sessions M [--seed S]

The real NVDA + GOOG 1999-2025 files of the issue are not available offline, so the backtest
benchmarks run on two random walks of the same length. Each walk has slow regime changes in its
drift (trends and pullbacks, so the strategy trades), daily volatility near 2 %, an intraday range
around the open/close, and log-normal volume. Same seed, same file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def walk(rng: np.random.Generator, n: int, start_price: float) -> dict[str, np.ndarray]:
    """One symbol's OHLCV (USD, shares) over `n` sessions."""
    regime = np.repeat(rng.normal(0.0006, 0.0025, n // 60 + 1), 60)[:n]
    ret = regime + rng.normal(0.0, 0.02, n)
    close = start_price * np.exp(np.cumsum(ret))
    open_ = close * np.exp(rng.normal(0.0, 0.008, n))
    hi = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, 0.01, n)))
    lo = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, 0.01, n)))
    vol = np.round(rng.lognormal(13.0, 0.5, n))
    return {"Open": open_, "High": hi, "Low": lo, "Close": close, "Volume": vol}


def frame(
    symbols: list[str], sessions: int, seed: int = 7, start: str = "1999-01-22"
) -> pd.DataFrame:
    """Long-format bars (Date,Symbol,Open,High,Low,Close,Volume) on weekdays from `start`."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=sessions).strftime("%Y-%m-%d")
    parts = []
    for sym in symbols:
        cols = walk(rng, sessions, float(rng.uniform(10, 200)))
        df = pd.DataFrame({"Date": dates, "Symbol": sym, **cols})
        parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    for c in ("Open", "High", "Low", "Close"):
        out[c] = out[c].round(2)
    out["Volume"] = out["Volume"].astype(np.int64)
    return out


def names(n: int) -> list[str]:
    """`n` distinct ticker-like names: S0000, S0001, ..."""
    return [f"S{i:04d}" for i in range(n)]


def write(kind: str, out: Path, symbols: int = 0, sessions: int = 0, seed: int = 7) -> Path:
    """Write the `kind` data set ("backtest", "scan", "grid") to `out`; return `out`."""
    if kind == "backtest":
        df = frame(["SYNA", "SYNB"], 6558, seed)
    elif kind == "scan":
        df = frame(names(8000), 300, seed, start="2024-01-02")
    else:
        df = frame(names(symbols), sessions, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("kind", choices=("backtest", "scan", "grid"))
    ap.add_argument("out", type=Path)
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(write(a.kind, a.out, a.symbols, a.sessions, a.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
