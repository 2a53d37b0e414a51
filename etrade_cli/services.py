"""Builds the library's objects from a validated `Config`: bar provider, store, broker, engine
dependencies. The CLI calls these so that commands stay thin and wire things the same way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from .brokers.base import Broker
    from .config import Config
    from .engine import Deps
    from .etrade.client import EtradeClient
    from .etrade.models import Account
    from .marketdata.cache import BarCache
    from .marketdata.provider import CachedBarProvider, CsvBarProvider
    from .store import Store
    from .strategy.dual import Book
    from .values import Bars

BROKERS = ("paper", "etrade", "alpaca")


def last_completed_day(now: dt.datetime | None = None) -> dt.date:
    """The latest date whose daily bar is final: today after 16:15 US/Eastern, else yesterday."""
    from zoneinfo import ZoneInfo

    et = (now or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo("America/New_York"))
    return et.date() if et.time() >= dt.time(16, 15) else et.date() - dt.timedelta(days=1)


def alpaca_provider(cfg: Config) -> CachedBarProvider:
    """Alpaca daily bars through the local cache, covering through the last completed day.

    Raises:
        ConfigError: alpaca-py not installed. AuthError: Alpaca keys missing.
    """
    from .marketdata.alpaca import LazyAlpacaSource
    from .marketdata.provider import CachedBarProvider

    source = LazyAlpacaSource(cfg.alpaca)
    return CachedBarProvider(bar_cache(cfg), source, cfg.data.history_days, last_completed_day())


def bar_cache(cfg: Config) -> BarCache:
    """The local daily-bar cache at `[paths] bars_db`."""
    from .marketdata.cache import BarCache

    return BarCache(cfg.bars_db_path)


def bar_provider(cfg: Config) -> CsvBarProvider | CachedBarProvider:
    """The configured daily-bar source (`[data] source`): CSV files (the bundled sample by
    default) or Alpaca through the local bar cache (only missing days are fetched).

    Raises:
        ConfigError: alpaca-py not installed. AuthError: Alpaca keys missing.
    """
    if cfg.data.source == "alpaca":
        return alpaca_provider(cfg)
    from .marketdata.provider import CsvBarProvider

    paths = [cfg.resolve(p) for p in cfg.data.csv_paths]
    return CsvBarProvider(paths or None)


def benchmark_bars(cfg: Config, provider: CsvBarProvider | CachedBarProvider) -> Bars | None:
    """Bars of `[strategy] rs_benchmark` when `rs_mode = "benchmark"` (spec §3), else None.

    Raises:
        DataError: benchmark mode, but the data source has no bars for the benchmark.
    """
    if cfg.strategy.rs_mode != "benchmark":
        return None
    from .errors import DataError

    found, _ = provider.get([cfg.strategy.rs_benchmark])
    if not found:
        raise DataError(
            f'[strategy] rs_mode = "benchmark" needs bars for '
            f"{cfg.strategy.rs_benchmark}, which the data source does not have"
        )
    return found[0]


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
    if name == "etrade":
        from .brokers.etrade import EtradeBroker

        client = etrade_client(cfg)
        return EtradeBroker(client, resolve_account(client, cfg, None).account_id_key, store)
    if name == "alpaca":
        from .brokers.alpaca import AlpacaBroker

        return AlpacaBroker(cfg.alpaca)
    raise ConfigError(f"broker {name!r} is not available; choose one of: {', '.join(BROKERS)}")


def etrade_client(cfg: Config, warn: Callable[[str], None] | None = None) -> EtradeClient:
    """The E*TRADE client for `[etrade]` (environment, keys, token store, limits).

    Raises:
        AuthError: no consumer key/secret configured.
    """
    from .etrade.auth import token_store
    from .etrade.client import EtradeClient

    return EtradeClient(cfg.etrade, token_store(cfg.etrade), warn=warn)


def resolve_account(
    client: EtradeClient, cfg: Config, spec: str | None, include_closed: bool = False
) -> Account:
    """The account named by `spec` (accountIdKey, accountId or 1-based index in the list of
    active accounts), else `[etrade] account`, else the only active account.

    Raises:
        InputError: no match, or several active accounts and none chosen.
    """
    from .errors import InputError

    accounts = [a for a in client.list_accounts() if include_closed or a.status.upper() != "CLOSED"]
    want = spec or cfg.etrade.account
    if not want:
        if len(accounts) == 1:
            return accounts[0]
        names = ", ".join(
            f"{i}: {a.account_id} ({a.description or a.name})" for i, a in enumerate(accounts, 1)
        )
        raise InputError(
            f"several accounts; choose one with --account or [etrade] account ({names})"
            if accounts
            else "no active E*TRADE account"
        )
    for a in accounts:
        if want in (a.account_id_key, a.account_id):
            return a
    if want.isdigit() and 1 <= int(want) <= len(accounts):
        return accounts[int(want) - 1]
    raise InputError(f"no active account {want!r}; see `etrade accounts list`")


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
    provider = bar_provider(cfg)
    bars, _missing = provider.get(wanted)
    benchmark = benchmark_bars(cfg, provider)
    closed, window_open = None, True
    if live_clock(cfg, broker):
        bars, closed, window_open = _live_bars(cfg, broker, bars)
    market = MarketView.from_bars(bars, cfg.strategy, tradable=universe, benchmark=benchmark)
    market.closed_reason, market.buy_window_open = closed, window_open
    lock = Path(str(store.path) + ".lock")
    return Deps(cfg.strategy, cfg.risk, store, broker, market, lock)


def live_clock(cfg: Config, broker: Broker) -> bool:
    """True for a live intraday run: cached/fetched bars (`[data] source = "alpaca"`) and a
    broker that quotes (E*TRADE, Alpaca). CSV data keeps the data's own clock."""
    return cfg.data.source == "alpaca" and broker.name != "paper"


def _live_bars(cfg: Config, broker: Broker, bars: list) -> tuple[list, str | None, bool]:
    """Add today's forming bar from the broker's quotes when NYSE is open (spec §1, §7)."""
    from .marketdata.live import with_forming_bar
    from .schedule import ET, NyseCalendar, interval

    now = dt.datetime.now(dt.timezone.utc)
    cal = NyseCalendar()
    if not cal.is_open(now):
        return bars, f"market closed (NYSE); next session opens {cal.next_open(now)}", False
    quotes = broker.quotes([b.symbol for b in bars])
    today = now.astimezone(ET).date()
    out = [with_forming_bar(b, quotes[b.symbol], today) if b.symbol in quotes else b for b in bars]
    window = cfg.strategy.buy_window_minutes()
    return out, None, interval(now, window) == 60
