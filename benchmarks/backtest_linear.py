"""Is a backtest's cost linear in sessions? Per-session time of the first and last fifth.

Usage: python benchmarks/backtest_linear.py [CSV] [--profile] [--sql]

Runs `run_backtest` in-process over the synthetic 2-symbol x 6,558-session data set
(`benchmarks/synth.py backtest`, generated into a temp dir when CSV is not given) and reports the
CPU milliseconds per session in each fifth of the run. Target (issue 13): last fifth within 1.2x of
the first. `--sql` also counts the SQL statements the backtest ran per session (load-independent
evidence: 22 a session before the issue's backtest work, 2.8 after it, 1.7 after the replay's)
and lists the commonest.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv", nargs="?", type=Path)
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    ap.add_argument("--sql", action="store_true", help="count SQL statements per session")
    a = ap.parse_args()
    import synth

    statements: Counter[str] = Counter()
    if a.sql:
        from etrade_cli import db as dbutil

        connect = dbutil.connect

        def traced(path: Path | str, label: str = "the database") -> sqlite3.Connection:
            con = connect(path, label)
            con.set_trace_callback(lambda sql: statements.update([sql.split(" VALUES")[0][:90]]))
            return con

        dbutil.connect = traced

    from etrade_cli.backtest import run_backtest
    from etrade_cli.config import RiskConfig
    from etrade_cli.marketdata.csv import read_bars_csv
    from etrade_cli.strategy.rajat_alpha import RajatAlpha

    with tempfile.TemporaryDirectory() as d:
        path = a.csv or synth.write("backtest", Path(d) / "bt.csv")
        bars = list(read_bars_csv(path)[0].values())
        stamps: list[float] = []

        def tick(done: int, total: int) -> None:
            stamps.append(time.process_time())  # CPU time: robust to a shared machine

        prof = None
        if a.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        res = run_backtest(bars, RajatAlpha(), RiskConfig(), cash=100_000.0, on_progress=tick)
        total = time.perf_counter() - t0
        if prof:
            prof.disable()
            import pstats

            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    n = len(stamps)
    fifth = n // 5
    edges = [stamps[0] if i == 0 else stamps[i * fifth - 1] for i in range(6)]
    per = [(edges[i + 1] - edges[i]) / fifth * 1000 for i in range(5)]
    print(f"sessions {n}, trades {len(res.trades)}, total {total:.2f} s")
    if a.sql:
        count = sum(statements.values())
        print(f"SQL statements: {count}, {count / n:.2f} per session; commonest:")
        for sql, k in statements.most_common(5):
            print(f"  {k:>7}  {sql}")
    print("ms/session by fifth: " + "  ".join(f"{p:.3f}" for p in per))
    ratio = per[-1] / per[0]
    print(f"last/first fifth: {ratio:.2f}x (target <= 1.2x) {'OK' if ratio <= 1.2 else 'SLOW'}")
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
