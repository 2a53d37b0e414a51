"""Whole-process time of `etrade backtest` against backtesting.py running the same exits on the
same signals (issue 13 target: ours at most 0.5x theirs).

Usage: python benchmarks/vs_backtesting.py [--runs 5] [--csv BARS.csv] [--no-bytecode]
       (needs `pip install -e ".[bench]"` for backtesting.py)

Data: the synthetic 2-symbol x 6,558-session set of `synth.py backtest` (the real NVDA + GOOG
1999-2025 files are not available offline). Setup, not timed: our strategy's entry signals
(spec §2-§4 verdicts, with score) are written to a CSV once. Timed, each in a fresh process:
1. `python -m etrade_cli backtest --symbols SYNA,SYNB --json` (evaluates the strategy itself);
2. this script with `--backtesting-py`: reads the bars and the signal file and runs
   backtesting.py, one `Backtest` per symbol, fills at the close (`trade_on_close`), entering B1
   then B2 (score >= 3) on each signal and exiting per spec §6 (stop loss, time exit, trailing
   stop, partial targets at +10/+15/+20 %) with spec §5 sizing.
backtesting.py keeps one account per symbol while ours is one portfolio, so trade counts are
printed for both but final equity is not expected to agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def write_signals(bars_csv: Path, out: Path) -> Path:
    """Our strategy's entry signals as CSV rows Date,Symbol,Score."""
    sys.path.insert(0, str(ROOT))
    from etrade_cli.marketdata.csv import read_bars_csv
    from etrade_cli.strategy.rajat_alpha import RajatAlpha

    bars = list(read_bars_csv(bars_csv)[0].values())
    ev = RajatAlpha().evaluate(bars)
    rows = ["Date,Symbol,Score"]
    for day, cells in sorted(ev.signals_by_date().items()):
        for col, row in cells:
            rows.append(f"{day},{ev.panel.symbols[col]},{ev.score[row, col]}")
    out.write_text("\n".join(rows) + "\n")
    return out


def run_backtesting_py(bars_csv: Path, signals_csv: Path) -> None:
    """The timed backtesting.py process: prints trades and final equity per symbol."""
    import math

    import pandas as pd
    from backtesting import Backtest, Strategy

    bars = pd.read_csv(bars_csv, parse_dates=["Date"])
    sig = pd.read_csv(signals_csv, parse_dates=["Date"])

    class RajatExits(Strategy):
        def init(self) -> None:
            self.meta: dict[int, dict] = {}  # entry bar -> stop, targets hit, original size

        def next(self) -> None:
            price, bar = self.data.Close[-1], len(self.data) - 1
            for tr in list(self.trades):
                m = self.meta.setdefault(tr.entry_bar, {"stop": tr.entry_price * 0.83, "hit": 0,
                                                        "qty": tr.size})  # fmt: skip
                if bar == tr.entry_bar:
                    continue
                if price <= m["stop"] or bar - tr.entry_bar >= 21:
                    tr.close()
                    continue
                p = (price - tr.entry_price) / tr.entry_price
                level = tr.entry_price * (0.99 if p >= 0.10 else 0.91 if p >= 0.05 else 0.83)
                m["stop"] = max(m["stop"], level)
                for k, target in enumerate((0.10, 0.15, 0.20)):
                    if m["hit"] > k or price < tr.entry_price * (1 + target):
                        continue
                    m["hit"] = k + 1
                    if k == 2:
                        tr.close()
                    else:
                        qty = math.floor(0.333 * m["qty"])
                        if 0 < qty < tr.size:
                            tr.close(qty / tr.size)
            if not self.data.Score[-1] > 0 or len(self.trades) >= 2:
                return
            if len(self.trades) == 1 and self.data.Score[-1] < 3:
                return
            equity, cash = self.equity, self._broker.margin_available
            open_value = sum(t.size * price for t in self.trades)
            amount = min(equity * 0.05, equity * 0.02 / 0.17, 0.5 * equity - open_value, cash)
            shares = math.floor(amount / price)
            if shares > 0:
                self.buy(size=shares)

    for sym, df in bars.groupby("Symbol"):
        df = df.set_index("Date")[["Open", "High", "Low", "Close", "Volume"]]
        s = sig[sig.Symbol == sym].set_index("Date")["Score"]
        df["Score"] = s.reindex(df.index).fillna(0.0)
        bt = Backtest(df, RajatExits, cash=50_000, trade_on_close=True, finalize_trades=False)
        stats = bt.run()
        print(f"{sym}: {stats['# Trades']} trades, final equity {stats['Equity Final [$]']:,.2f}")


def timed(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--csv", type=Path)
    ap.add_argument("--backtesting-py", nargs=2, type=Path, metavar=("BARS", "SIGNALS"))
    ap.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep the environment's bytecode setting (default: cache .pyc files, as installed)",
    )
    a = ap.parse_args()
    if a.backtesting_py:
        run_backtesting_py(*a.backtesting_py)
        return 0
    sys.path.insert(0, str(HERE))
    import synth

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bars = a.csv or synth.write("backtest", tmp / "bt.csv")
        signals = write_signals(bars, tmp / "signals.csv")
        (tmp / "config.toml").write_text(f"[data]\ncsv_paths = ['{bars}']\n")
        env = {**os.environ, "ETRADE_CLI_HOME": str(tmp / "home"), "PYTHONPATH": str(ROOT)}
        if not a.no_bytecode:  # both sides run from cached bytecode, as installed (see run.py)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        ours = [sys.executable, "-m", "etrade_cli", "--config", str(tmp / "config.toml"),
                "backtest", "--symbols", "SYNA,SYNB", "--json"]  # fmt: skip
        theirs = [sys.executable, __file__, "--backtesting-py", str(bars), str(signals)]
        print(
            subprocess.run(theirs, env=env, capture_output=True, text=True, check=True).stdout,
            end="",
        )
        import json

        doc = json.loads(
            subprocess.run(ours, env=env, capture_output=True, text=True, check=True).stdout
        )
        print(
            f"etrade backtest: {len(doc['trades'])} trades, final equity {doc['curve'][-1]['equity']:,.2f}"
        )
        a_s, b_s = [], []
        for _ in range(a.runs):  # interleaved, so machine load hits both alike
            a_s.append(timed(ours, env))
            b_s.append(timed(theirs, env))
    mine, other = statistics.median(a_s), statistics.median(b_s)
    ratio = mine / other
    print(
        f"etrade backtest {mine:.2f} s, backtesting.py {other:.2f} s (medians of {a.runs}); "
        f"ratio {ratio:.3f} (target <= 0.5) {'OK' if ratio <= 0.5 else 'SLOW'}"
    )
    return 0 if ratio <= 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
