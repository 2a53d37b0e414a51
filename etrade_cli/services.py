"""Builds the library's objects from a validated `Config`: bar provider, store, broker, engine
dependencies. The CLI calls these so that commands stay thin and wire things the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .brokers.base import Broker
    from .config import Config
    from .engine import Deps
    from .marketdata.provider import CsvBarProvider
    from .store import Store
    from .strategy.dual import Book

BROKERS = ("paper",)


def bar_provider(cfg: Config) -> CsvBarProvider:
    """The configured daily-bar source (`[data]`): CSV files, the bundled sample by default."""
    from .marketdata.provider import CsvBarProvider

    paths = [cfg.resolve(p) for p in cfg.data.csv_paths]
    return CsvBarProvider(paths or None)


def open_store(cfg: Config, path: Path | None = None) -> Store:
    """The position book at `path` or `[paths] db` (created and migrated on first use)."""
    from .store import Store

    return Store(path or cfg.db_path)


def make_broker(cfg: Config, store: Store, name: str | None = None) -> Broker:
    """The broker `name` (default `[broker] name`).

    Raises:
        ConfigError: an unknown or not yet available broker.
    """
    from .errors import ConfigError

    name = name or cfg.broker.name
    if name == "paper":
        from .brokers.paper import PaperBroker

        return PaperBroker(store, "paper", cfg.broker.paper_cash, cfg.broker.commission_usd)
    raise ConfigError(f"broker {name!r} is not available; choose one of: {', '.join(BROKERS)}")


def open_book(cfg: Config, broker: str | None = None) -> Book:
    """Open and pending positions of the position book as a `Book`; empty without a database."""
    from .strategy.dual import Book

    if not cfg.db_path.exists():
        return Book()
    store = open_store(cfg)
    try:
        name = broker or cfg.broker.name
        account = "paper" if name == "paper" else cfg.etrade.account
        return Book.from_pairs(
            (p.symbol, p.kind) for p in store.positions(name, account, ("open", "pending"))
        )
    finally:
        store.close()


def engine_deps(cfg: Config, store: Store, broker: Broker, universe: list[str]) -> Deps:
    """Everything `engine.run_once` needs: bars for the universe and for every symbol with an
    open position (so exits are checked even after a symbol leaves the watchlist).

    Raises:
        DataError: from the bar provider.
    """
    from .engine import Deps
    from .market import MarketView

    held = [p.symbol for p in store.positions(broker.name, broker.account, ("open", "pending"))]
    wanted = list(dict.fromkeys([*universe, *held]))
    bars, _missing = bar_provider(cfg).get(wanted)
    market = MarketView.from_bars(bars, cfg.strategy, tradable=universe)
    lock = Path(str(store.path) + ".lock")
    return Deps(cfg.strategy, cfg.risk, store, broker, market, lock)
