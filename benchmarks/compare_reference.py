"""Compare a backtest's `--json` output with a stored reference (trades and final equity).

Usage: python benchmarks/compare_reference.py RESULT.json REFERENCE.json

The references in `benchmarks/reference/` were made by the code before issue 13's speed work;
the speed work must not change a single trade. Exit 1 with the first difference otherwise.
Since then the JSON rounds prices to 4 decimals and USD to cents, and names a stop loss hit
after the stop trailed up `TSL`: numbers are compared to 0.006 and `TSL` counts as `SL`.
"""

from __future__ import annotations

import json
import sys

FIELDS = ("symbol", "type", "status", "entry_date", "entry_price", "shares", "remaining",
          "exit_date", "exit_price", "exit_reason", "realized")  # fmt: skip


#: rounding of the JSON output (4 decimals for prices, cents for USD)
TOLERANCE = 0.006
#: exit reasons renamed since the references were made
RENAMED = {"TSL": "SL"}


def differences(result: dict, reference: dict) -> list[str]:
    """Human-readable differences between a backtest result and a reference (empty if same).
    Prices and P&L are compared to `TOLERANCE`, the final equity to the cent."""
    out = []
    got = [{k: t[k] for k in FIELDS} for t in result["trades"]]
    want = reference["trades"]
    if len(got) != len(want):
        out.append(f"{len(got)} trades, reference {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        for k in FIELDS:
            a, b = g[k], w[k]
            if k == "exit_reason":
                a, b = RENAMED.get(a, a), RENAMED.get(b, b)
            num = isinstance(a, (int, float)) and isinstance(b, (int, float))
            same = abs(a - b) <= TOLERANCE if num else a == b
            if not same:
                out.append(f"trade {i} {k}: {a!r}, reference {b!r}")
    final, ref = result["curve"][-1], reference["final"]
    if final["session"] != ref["session"] or abs(final["equity"] - ref["equity"]) > 0.01:
        out.append(f"final equity {final}, reference {ref}")
    return out


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)  # the usage line
        return 2
    result, reference = (json.load(open(p)) for p in sys.argv[1:3])
    diff = differences(result, reference)
    print(
        "\n".join(diff[:20])
        or f"same {len(reference['trades'])} trades and final equity "
        f"{reference['final']['equity']:,.2f} USD as the reference"
    )
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
