"""What `etrade ...` imports at start-up beyond `import typer, rich.table` (the reference of the
start-up targets), from `python -X importtime`: the least self time of N runs per module.

Usage: python benchmarks/startup.py [--runs 5] [--no-bytecode] [ARGS ...]   (default: quote AAPL)

Each run is a fresh process in a temporary home (`ETRADE_CLI_HOME`, no E*TRADE keys), with
bytecode cached as an installed package has it (see `run.py`). The import times are less
sensitive to a busy machine than wall time: the minimum over runs is taken per module, and
the list names what to make lazy. Prints one line per extra module (self µs, cumulative µs,
name), largest first, then the totals.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def import_times(
    argv: list[str], env: dict[str, str], cwd: Path, runs: int
) -> dict[str, tuple[int, int]]:
    """module -> (least self µs, least cumulative µs) over `runs` runs of `argv`."""
    best: dict[str, tuple[int, int]] = {}
    for _ in range(runs + 1):  # the first run also writes the bytecode cache
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *argv], env=env, cwd=cwd,
            capture_output=True, text=True,
        )  # fmt: skip
        for m in LINE.finditer(proc.stderr):
            own, cum, name = int(m[1]), int(m[2]), m[4]
            old = best.get(name)
            best[name] = (own, cum) if old is None else (min(old[0], own), min(old[1], cum))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-bytecode", action="store_true")
    ap.add_argument("args", nargs="*", default=["quote", "AAPL"])
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = {**os.environ, "ETRADE_CLI_HOME": str(tmp / "home"), "PYTHONPATH": str(ROOT)}
        for key in ("ETRADE_CONSUMER_KEY", "ETRADE_CONSUMER_SECRET", "ETRADE_CLI_CONFIG"):
            env.pop(key, None)
        if not ns.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        ours = import_times(["-m", "etrade_cli", *ns.args], env, tmp, ns.runs)
        ref = import_times(["-c", "import typer, rich.table"], env, tmp, ns.runs)
    extra = sorted(((t, name) for name, t in ours.items() if name not in ref), reverse=True)
    for (own, cum), name in extra:
        print(f"{own:>8} {cum:>8}  {name}")
    ours_total = sum(t[0] for t, _ in extra)
    mine = [name for _, name in extra if name.startswith("etrade_cli")]
    print(f"{len(extra)} modules beyond the reference ({len(mine)} of etrade_cli): "
          f"{ours_total / 1000:.1f} ms of import time (least of {ns.runs} runs each); "
          f"the reference imports in {sum(t[0] for t in ref.values()) / 1000:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
