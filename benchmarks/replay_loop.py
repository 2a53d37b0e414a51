"""The replay alone: CPU and wall time of a backtest's session loop, without the strategy's
evaluation, the data loading or the result.

Usage: python benchmarks/replay_loop.py [CSV] [--runs 5] [--split] [--profile]

Runs `run_backtest` in-process over the synthetic 2-symbol x 6,558-session data set
(`benchmarks/synth.py backtest`, generated into a temp dir when CSV is not given; 6,359 sessions
after warm-up, 53 trades), the strategy evaluated once beforehand (`market=`), and times from
the first session's `run_once` to the end of the backtest's transaction (the runs rows a batch
keeps are written there, so they are counted). One untimed run first, then the median of
`--runs`. CPU time is the number to compare on a shared machine (issue 13, replay: at most 0.6x
of the code before it). `--split` also prints the median cycle by kind of session: with orders,
with a signal, with 0, 1 or 2 open positions; `--profile` the top of a cProfile of one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("csv", nargs="?", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--split", action="store_true", help="median cycle by kind of session")
    ap.add_argument("--profile", action="store_true", help="the top of a cProfile of one run")
    a = ap.parse_args()
    import synth

    from etrade_cli import backtest as bt
    from etrade_cli.config import RiskConfig
    from etrade_cli.market import MarketView
    from etrade_cli.marketdata.csv import read_bars_csv
    from etrade_cli.strategy.rajat_alpha import RajatAlpha

    with tempfile.TemporaryDirectory() as d:
        path = a.csv or synth.write("backtest", Path(d) / "bt.csv")
        bars = list(read_bars_csv(path)[0].values())
    strategy = RajatAlpha()
    market = MarketView.from_bars(bars, strategy)
    marks: dict[str, float] = {}
    kinds: dict[str, list[float]] = {}
    run_once, result = bt.run_once, bt._result

    def timed_run_once(deps: Any, session: Any, **kw: Any) -> Any:
        if "wall" not in marks:
            marks["wall"], marks["cpu"] = time.perf_counter(), time.process_time()
        if not a.split:
            return run_once(deps, session, **kw)
        held = len(deps.store.positions(deps.broker.name, deps.broker.account))
        t = time.perf_counter()
        res = run_once(deps, session, **kw)
        us = (time.perf_counter() - t) * 1e6
        kind = (
            "orders" if res.exits or res.entries else "signal" if res.decisions else f"{held} open"
        )
        kinds.setdefault(kind, []).append(us)
        return res

    def timed_result(*args: Any, **kw: Any) -> Any:  # called right after the batch commits
        marks["wall"] = time.perf_counter() - marks["wall"]
        marks["cpu"] = time.process_time() - marks["cpu"]
        return result(*args, **kw)

    bt.run_once, bt._result = timed_run_once, timed_result  # type: ignore[assignment]
    replay: Callable[[], Any] = lambda: bt.run_backtest(  # noqa: E731
        bars, strategy, RiskConfig(), cash=100_000.0, market=market
    )
    replay()  # warm: imports, the store template, the market view's lookups
    wall, cpu = [], []
    for _ in range(a.runs):
        marks.clear()
        res = replay()
        wall.append(marks["wall"] * 1000)
        cpu.append(marks["cpu"] * 1000)
    print(
        f"replay of {res.sessions} sessions ({len(res.trades)} trades, final equity "
        f"{res.curve[-1][1]:,.2f}): CPU {statistics.median(cpu):.0f} ms, wall "
        f"{statistics.median(wall):.0f} ms (medians of {a.runs}; CPU runs "
        f"{', '.join(f'{c:.0f}' for c in cpu)})"
    )
    for kind, us in sorted(kinds.items()):
        n = len(us) // (a.runs + 1)
        print(f"  {kind:>8}: {n:5d} sessions, median {statistics.median(us):6.1f} us a cycle")
    if a.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        replay()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
