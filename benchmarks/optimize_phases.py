"""Where an `etrade optimize` run spends its time, with 1 and with 2 loky workers.

Usage: python benchmarks/optimize_phases.py [--runs 3] [--workers 1,2] [--grid 64|256]

Runs the 64-combination grid of `run.py` (`GRID`; `--grid 256`: `GRID_256`; 524 bundled symbols) as `python -m etrade_cli
optimize ... --json` would, in a fresh process per run, the worker counts interleaved (a shared
machine slows both alike), and reports medians of:

- serial: process start to the workers ready (imports, config, the bar load; the workers
  start up meanwhile);
- parallel: from `optimize.executor` entered to left: the strategy's evaluations (one per
  distinct set of signal parameters) and the 64 backtests;
- after: from there to the command's end (results, JSON output);
- exit: the interpreter's start before the command and its exit after it (workers stopped);
- total: the whole process, as `run.py` measures it; "rq wait": the part of it the main thread
  spent runnable but waiting for a CPU (other programs' load), and "total - rq" the total
  without it: an estimate of the idle machine's time (the workers' own waits are not taken
  out, so it still leans towards the loaded machine's time when 2 workers share the load);
- CPU seconds of the parent and of its children (loky workers, resource trackers), and the
  machine's load average, so that a loaded machine can be told from a slow program; the
  parent's CPU seconds before the parallel section (serial cpu) and in it (par cpu): unlike
  the wall-clock columns, these hardly change with the load of a shared machine.

The speed-up from 1 to 2 workers is printed for the parallel section and the whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def run_queue_wait() -> float:
    """Seconds this process's main thread has spent runnable but waiting for a CPU (Linux
    schedstat; 0.0 elsewhere): the time other programs on a shared machine took from it."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def child(workers: int, watchlist: str, report: str, size: str = "64") -> None:
    """One instrumented run of the command (in this process)."""
    import contextlib
    import resource

    t0 = time.perf_counter()
    wait0 = run_queue_wait()
    import psutil

    from etrade_cli import optimize as opt

    marks: dict[str, float] = {}
    real = opt.executor

    @contextlib.contextmanager
    def timed_executor(*args, **kwargs):  # type: ignore[no-untyped-def]
        with real(*args, **kwargs) as run:
            marks["parallel_start"] = time.perf_counter() - t0
            marks["serial_cpu"] = time.process_time()
            yield run
            marks["parallel_end"] = time.perf_counter() - t0
            marks["parallel_cpu"] = time.process_time() - marks["serial_cpu"]
            kids = psutil.Process().children(recursive=True)
            marks["children_cpu"] = sum(sum(k.cpu_times()[:2]) for k in kids)

    opt.executor = timed_executor
    from run import GRID, GRID_256

    from etrade_cli.cli import main

    grid = GRID_256 if size == "256" else GRID
    sys.argv = ["etrade", "optimize", *grid, "--watchlist", watchlist, "--workers",
                str(workers), "--json"]  # fmt: skip
    try:
        main()
    except SystemExit:
        pass
    r = resource.getrusage(resource.RUSAGE_SELF)
    marks["parent_cpu"] = r.ru_utime + r.ru_stime
    marks["main_end"] = time.perf_counter() - t0
    marks["rq_wait"] = run_queue_wait() - wait0
    Path(report).write_text(json.dumps(marks))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--grid", choices=("64", "256"), default="64")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(int(a.child[0]), a.child[1], a.child[2], a.child[3])
        return 0
    from run import all_symbols_file

    counts = [int(w) for w in a.workers.split(",")]
    rows: dict[int, list[dict[str, float]]] = {w: [] for w in counts}
    loads = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        watchlist = all_symbols_file(tmp)
        env = {**os.environ, "ETRADE_CLI_HOME": str(tmp / "home"), "PYTHONPATH": str(ROOT)}
        for _ in range(a.runs):
            for w in counts:
                report = tmp / f"report-{w}.json"
                loads.append(os.getloadavg()[0])
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, __file__, "--child", str(w), str(watchlist), str(report), a.grid],
                    env=env, cwd=tmp, stdout=subprocess.DEVNULL, check=True,
                )  # fmt: skip
                marks = json.loads(report.read_text())
                marks["total"] = time.perf_counter() - start
                rows[w].append(marks)
    med = {w: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for w, ms in rows.items()}
    print(f"median of {a.runs} runs; load average at the starts: "
          f"{min(loads):.2f}..{max(loads):.2f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"{'workers':>7}{'serial s':>10}{'parallel s':>12}{'after s':>9}{'exit s':>8}"
          f"{'total s':>9}{'parent cpu':>12}{'child cpu':>11}{'serial cpu':>12}"
          f"{'par cpu':>9}{'rq wait':>9}{'total - rq':>12}")  # fmt: skip
    for w, m in med.items():
        print(f"{w:>7}{m['parallel_start']:>10.3f}{m['parallel_end'] - m['parallel_start']:>12.3f}"
              f"{m['main_end'] - m['parallel_end']:>9.3f}{m['total'] - m['main_end']:>8.3f}"
              f"{m['total']:>9.3f}{m['parent_cpu']:>12.2f}{m['children_cpu']:>11.2f}"
              f"{m['serial_cpu']:>12.2f}{m['parallel_cpu']:>9.2f}{m['rq_wait']:>9.3f}"
              f"{m['total'] - m['rq_wait']:>12.3f}")  # fmt: skip
    if 1 in med and len(med) > 1:
        one = med[1]
        for w, m in med.items():
            if w == 1:
                continue
            par = (one["parallel_end"] - one["parallel_start"]) / (
                m["parallel_end"] - m["parallel_start"]
            )
            adj = (one["total"] - one["rq_wait"]) / (m["total"] - m["rq_wait"])
            print(f"speed-up 1 -> {w} workers: parallel section {par:.2f}x, "
                  f"whole process {one['total'] / m['total']:.2f}x "
                  f"(total - rq wait: {adj:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
