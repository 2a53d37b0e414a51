"""Examples shown at the end of every command's help (`etrade scan --help`), in one place.

Keyed by the command path as the user types it. `cli._plain_help` sets each command's epilog
from here; a test checks that every command has one.
"""

from __future__ import annotations

EXAMPLES: dict[str, list[str]] = {
    "etrade scan": [
        "etrade scan AAPL MSFT --as-of 2010-08-20",
        "etrade scan --all --json symbol,score,action",
    ],
    "etrade run-once": [
        "etrade run-once --as-of 2010-07-22",
        "etrade run-once --dry-run --json",
    ],
    "etrade run-loop": ["etrade run-loop --dry-run --max-cycles 3"],
    "etrade positions": ["etrade positions --db demo.db", "etrade positions --closed --csv"],
    "etrade report": ["etrade report --since 2010-01-01", "etrade report --chart equity.png"],
    "etrade backtest": [
        "etrade backtest --db demo.db",
        "etrade backtest --start 2010-03-01 --symbols AAPL,MSFT --json",
    ],
    "etrade optimize": [
        "etrade optimize --param tes_days_b1=10,21,30 --param max_loss_pct=0.01:0.03:0.01",
        "etrade optimize --param tes_days_b1=5:30:1 --search optuna --trials 40 --folds 3",
    ],
    "etrade history": [
        "etrade history orders --since 2010-07-01",
        "etrade history fills --symbol AAPL --csv",
    ],
    "etrade paths": ["etrade paths", "etrade --db demo.db paths --json"],
    "etrade paper reset": ["etrade paper reset --cash 50000 --yes"],
    "etrade auth login": ["etrade auth login --open", "echo CODE | etrade auth login"],
    "etrade auth status": ["etrade auth status --json"],
    "etrade auth renew": ["etrade auth renew"],
    "etrade auth revoke": ["etrade auth revoke"],
    "etrade auth logout": ["etrade auth logout"],
    "etrade accounts list": ["etrade accounts list --all"],
    "etrade accounts balance": ["etrade accounts balance --account 1"],
    "etrade accounts portfolio": ["etrade accounts portfolio --json"],
    "etrade quote": ["etrade quote AAPL MSFT", "cat watchlist.txt | etrade quote - --csv"],
    "etrade order preview": [
        "etrade order preview AAPL -q 10 --type LIMIT --limit 150.25",
        "etrade order preview AAPL -q 10 --action SELL --type TRAILING_STOP_PRCT --stop 5",
    ],
    "etrade order place": ["etrade order place AAPL -q 10 --type LIMIT --limit 150.25 --yes"],
    "etrade order change": [
        "etrade order change 12345 --stop 88.27",
        "etrade order change 12345 -q 7 --yes --json",
    ],
    "etrade order cancel": ["etrade order cancel 12345"],
    "etrade order list": ["etrade order list --status OPEN"],
    "etrade order status": ["etrade order status --client-order-id ec1a2b3c4d"],
    "etrade order resolve": [
        "etrade --broker schwab order resolve ec1a2b3c4d --order-id 1000123456",
        "etrade order resolve ec1a2b3c4d --not-placed --yes",
    ],
    "etrade data status": ["etrade data status AAPL MSFT"],
    "etrade data fetch": ["etrade data fetch AAPL MSFT"],
    "etrade data import": ["etrade data import NFLX_daily_2018-2022.csv"],
    "etrade config show": ["etrade config show --json"],
    "etrade config check": ["etrade --config ./config.toml config check"],
    "etrade auth check": ["etrade auth check --notify", "etrade auth check --within 2h --json"],
    "etrade notify test": ["etrade notify test"],
    "etrade notify summary": ["etrade notify summary"],
    "etrade notify events": ["etrade notify events"],
    "etrade schedule": ["etrade schedule --broker etrade --every 5"],
    "etrade plugins": ["etrade plugins --json"],
    "etrade chart": ["etrade chart AAPL --as-of 2010-08-20 -o aapl.png"],
    "etrade backtest list": ["etrade backtest list --json"],
    "etrade backtest show": ["etrade backtest show 3 --csv"],
}


def epilog(path: str) -> str | None:
    """The help epilog of command `path` ("etrade scan"): an "Examples:" block kept as written
    (Click's `\\b` marker stops it re-wrapping), or None when there is none."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
