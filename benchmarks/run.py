"""Whole-process benchmarks of the `etrade` command: median wall time of N runs.

Usage: python benchmarks/run.py [--runs 5] [--only NAME]

Each case runs the installed `etrade` in a fresh process (as a user or cron would), in a temporary
home (`ETRADE_CLI_HOME`) so it never touches the real position book. Targets come from the issues.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ETRADE = shutil.which("etrade") or str(Path(sys.executable).parent / "etrade")
ROOT = Path(__file__).resolve().parent.parent


def all_symbols_file(tmp: Path) -> Path:
    from etrade_cli.marketdata.provider import CsvBarProvider

    path = tmp / "all.txt"
    path.write_text("\n".join(CsvBarProvider().all()) + "\n")
    return path


def cases(tmp: Path) -> list[tuple[str, list[str], float, object]]:
    """(name, argv, target seconds, setup callable or None)."""
    everything = all_symbols_file(tmp)
    db = tmp / "home" / "etrade.db"

    def fresh_book(_env: dict[str, str]) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)

    return [
        ("help", ["--help"], 0.3, None),
        ("scan-524-json", ["scan", "--watchlist", str(everything), "--json"], 1.5, None),
        (
            "backtest-524-all-dates",
            ["backtest", "--watchlist", str(everything), "--json"],
            5.0,
            None,
        ),
        ("run-once-paper-watchlist", ["run-once", "--broker", "paper", "--json"], 2.0, fresh_book),
    ]


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [ETRADE, *argv],
        env=env,
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = {**os.environ, "ETRADE_CLI_HOME": str(tmp / "home")}
        print(f"{'case':<24}{'median s':>10}{'min s':>8}{'target s':>10}  verdict")
        failed = False
        for name, argv, target, setup in cases(tmp):
            if args.only and args.only != name:
                continue
            samples = []
            for _ in range(args.runs):
                if callable(setup):
                    setup(env)
                samples.append(timed(argv, env, tmp))
            med = statistics.median(samples)
            ok = med <= target
            failed |= not ok
            print(
                f"{name:<24}{med:>10.3f}{min(samples):>8.3f}{target:>10.2f}  "
                f"{'OK' if ok else 'SLOW'}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
