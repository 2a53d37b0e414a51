"""Whole-process benchmarks of the `etrade` command: median wall time (and peak memory) of N runs.

Usage: python benchmarks/run.py [--runs 5] [--only NAME] [--list]

Each case runs `python -m etrade_cli` of this checkout in a fresh process (as a user or cron
would), in a temporary home (`ETRADE_CLI_HOME`) so it never touches the real position book.
Targets come from the issues: seconds, MiB of peak RSS, or a ratio to a reference command run
the same number of times, interleaved (a shared machine slows both alike). Synthetic data sets
come from `benchmarks/synth.py` (generated once per run of this script).

Bytecode: each run writes and reuses `.pyc` files (in a cache folder of the temporary
directory, `PYTHONPYCACHEPREFIX`), as an installed package has them (pip compiles on install;
an editable install caches on first import). A `PYTHONDONTWRITEBYTECODE=1` environment would
otherwise make every run recompile this package from source while the reference's packages
load their installed bytecode. `--no-bytecode` keeps the environment as it is. Every case gets
one untimed warm-up run first (and its reference, if any): bytecode cached, files in the page
cache, and CSV files parsed into the parsed-CSV cache (`marketdata/parsed.py`), as on a user's
second command. The `-parse` cases turn that cache off (`[data] csv_cache = false`) and measure
the CSV parser itself; the peak memory is the highest of all runs, the warm-up's included.

Other benchmarks: `startup.py` (what `etrade ...` imports at start-up), `backtest_linear.py` (cost per session along a long backtest),
`vs_backtesting.py` (against backtesting.py), `cache_requests.py` (Alpaca bar requests),
`optimize_phases.py` (serial and parallel sections of `etrade optimize`, 1 vs 2 workers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
ETRADE = [sys.executable, "-m", "etrade_cli"]
BUNDLED = ROOT / "etrade_cli" / "marketdata" / "data" / "sp500_daily_2009-2010.csv.gz"
#: a grid of 64 combinations (2 distinct signal-parameter sets) for `etrade optimize`
GRID = ["--param", "tes_days_b1=10,15,21,30", "--param", "tes_days_b2=10,21", "--param",
        "max_loss_pct=0.01,0.02", "--param", "score_b2_min=3,4", "--param", "pullback_days=3,4"]  # fmt: skip
#: 4 x GRID (sizing only: the same 2 evaluations): the 1 -> 2 workers speed-up of a sweep whose
#: backtests outweigh the start-up of the process and of its loky worker
GRID_256 = [*GRID, "--param", "max_positions_b1=2,4,6,8"]


@dataclass
class Case:
    """A command and its target: `seconds`, `mib` (peak RSS) and/or `ratio` to `reference`."""

    name: str
    argv: list[str]
    seconds: float | None = None
    mib: float | None = None
    ratio: float | None = None
    reference: list[str] = field(default_factory=list)
    setup: object = None


def all_symbols_file(tmp: Path) -> Path:
    from etrade_cli.marketdata.provider import CsvBarProvider

    path = tmp / "all.txt"
    path.write_text("\n".join(CsvBarProvider().all()) + "\n")
    return path


def scan(config: Path | None, watchlist: Path) -> list[str]:
    """`etrade [--config FILE] scan --watchlist FILE --json`."""
    return [*ETRADE, *(["--config", str(config)] if config else []), "scan", "--watchlist",
            str(watchlist), "--json"]  # fmt: skip


def cases(tmp: Path) -> list[Case]:
    """Every benchmark case (data sets are generated lazily by `prepare`)."""
    everything = all_symbols_file(tmp)
    db = tmp / "home" / "etrade.db"
    imports = [sys.executable, "-c", "import typer, rich.table"]
    read_csv = [sys.executable, "-c", f"import pandas; pandas.read_csv({str(BUNDLED)!r})"]
    scan_cfg, bt_cfg = tmp / "scan.toml", tmp / "bt.toml"

    def fresh_book() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)

    return [
        Case("help", [*ETRADE, "--help"], ratio=1.3, reference=imports),
        Case("quote-help", [*ETRADE, "quote", "--help"], ratio=1.3, reference=imports),
        Case("quote-no-keys", [*ETRADE, "quote", "AAPL"], ratio=1.3, reference=imports),
        Case("scan-524-json", scan(None, everything), seconds=1.5, ratio=1.5, reference=read_csv),
        Case(
            "scan-524-json-parse",
            scan(tmp / "parse.toml", everything),
            seconds=1.5,
            ratio=1.5,
            reference=read_csv,
        ),
        Case("scan-8000x300-parse", scan(tmp / "scan-parse.toml", tmp / "scan.txt"), 4.0, 300),
        Case("scan-8000x300", scan(scan_cfg, tmp / "scan.txt"), seconds=4.0, mib=300),
        Case(
            "backtest-2x6558",
            [*ETRADE, "--config", str(bt_cfg), "backtest", "--symbols", "SYNA,SYNB", "--json"],
            seconds=1.5,
        ),  # fmt: skip
        Case(
            "backtest-524-all-dates",
            [*ETRADE, "backtest", "--watchlist", str(everything), "--json"],
            seconds=5.0,
        ),
        Case(
            "run-once-paper-watchlist",
            [*ETRADE, "run-once", "--broker", "paper", "--json"],
            seconds=2.0,
            setup=fresh_book,
        ),  # fmt: skip
        *(
            Case(
                f"optimize-{size}-loky-{workers}",
                [
                    *ETRADE,
                    "optimize",
                    *grid,
                    "--watchlist",
                    str(everything),
                    "--workers",
                    str(workers),
                    "--json",
                ],
                seconds=seconds,
            )
            for size, grid in ((64, GRID), (256, GRID_256))
            for workers, seconds in ((1, 60.0), (2, 30.0))
        ),  # fmt: skip
    ]


def prepare(tmp: Path, names: set[str]) -> None:
    """Write the synthetic data sets and configs the selected cases need."""
    import synth

    (tmp / "parse.toml").write_text("[data]\ncsv_cache = false\n")
    if names & {"scan-8000x300", "scan-8000x300-parse"}:
        data = synth.write("scan", tmp / "scan.csv")
        (tmp / "scan.toml").write_text(f"[data]\ncsv_paths = ['{data}']\n")
        (tmp / "scan-parse.toml").write_text(f"[data]\ncsv_paths = ['{data}']\ncsv_cache = false\n")
        (tmp / "scan.txt").write_text("\n".join(synth.names(8000)) + "\n")
    if "backtest-2x6558" in names:
        data = synth.write("backtest", tmp / "bt.csv")
        (tmp / "bt.toml").write_text(f"[data]\ncsv_paths = ['{data}']\n")


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one run. The peak comes from GNU time when installed
    (a child's own `ru_maxrss` would include this parent's memory at fork time), else 0."""
    gnu_time = Path("/usr/bin/time")
    report = cwd / "peak.txt"
    wrap = [str(gnu_time), "-f", "%M", "-o", str(report)] if gnu_time.exists() else []
    start = time.perf_counter()
    subprocess.run([*wrap, *argv], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    wall = time.perf_counter() - start
    peak = float(report.read_text().split()[-1]) / 1024 if wrap and report.exists() else 0.0
    return wall, peak


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", action="append", help="a case name (repeat)")
    ap.add_argument("--list", action="store_true", help="list the cases")
    ap.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep the environment's bytecode setting (default: cache .pyc files, as installed)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = {**os.environ, "ETRADE_CLI_HOME": str(tmp / "home"), "PYTHONPATH": str(ROOT)}
        if not args.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        chosen = [c for c in cases(tmp) if not args.only or c.name in args.only]
        if args.list:
            print("\n".join(c.name for c in chosen))
            return 0
        prepare(tmp, {c.name for c in chosen})
        print(f"{'case':<26}{'median s':>9}{'MiB':>7}{'ref s':>7}{'ratio':>7}  target  verdict")
        failed = False
        for c in chosen:
            if callable(c.setup):
                c.setup()
            runs, refs = [timed(c.argv, env, tmp)], []  # the warm-up: only its peak counts
            if c.reference:
                timed(c.reference, env, tmp)
            warm_peak = runs.pop()[1]
            for _ in range(args.runs):
                if callable(c.setup):
                    c.setup()
                runs.append(timed(c.argv, env, tmp))
                if c.reference:
                    refs.append(timed(c.reference, env, tmp)[0])
            med = statistics.median(r[0] for r in runs)
            mib = max([warm_peak, *(r[1] for r in runs)])
            ref = statistics.median(refs) if refs else None
            ratio = med / ref if ref else None
            checks = [
                c.seconds is None or med <= c.seconds,
                c.mib is None or mib <= c.mib,
                c.ratio is None or (ratio is not None and ratio <= c.ratio),
            ]
            ok = all(checks)
            failed |= not ok
            target = " ".join(
                t
                for t in (
                    f"{c.seconds:g}s" if c.seconds else "",
                    f"{c.mib:g}MiB" if c.mib else "",
                    f"{c.ratio:g}x" if c.ratio else "",
                )
                if t  # fmt: skip
            )
            print(f"{c.name:<26}{med:>9.3f}{mib:>7.0f}{ref or 0:>7.3f}{ratio or 0:>7.2f}  "
                  f"{target:<7} {'OK' if ok else 'SLOW'}", flush=True)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
