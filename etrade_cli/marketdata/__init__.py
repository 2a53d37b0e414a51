"""Market data: daily bars for the strategy. CSV (bundled sample by default) is the only source
so far; every provider returns `etrade_cli.strategy.panel.Bars` per symbol."""

from __future__ import annotations

from pathlib import Path

#: the bundled real sample: 524 S&P 500 stocks, 2009-08-21 .. 2010-08-20 (MIT, see data/README.md)
SAMPLE_SP500 = Path(__file__).parent / "data" / "sp500_daily_2009-2010.csv.gz"
