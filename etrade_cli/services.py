"""Builds the library's objects from a validated `Config`: bar provider, store, broker, engine
dependencies. The CLI calls these so that commands stay thin and wire things the same way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from .brokers.base import Broker, BrokerAccount
    from .config import Config
    from .engine import Deps
    from .etrade.client import EtradeClient
    from .etrade.models import Account
    from .events import Event, Subscriber
    from .marketdata.base import BarProvider
    from .marketdata.cache import BarCache
    from .marketdata.provider import CachedBarProvider
    from .registry import BrokerSpec
    from .store import Store
    from .strategy.base import Book, Strategy
    from .values import Bars, Quote


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

    return cached_provider(cfg, LazyAlpacaSource(cfg.alpaca))


def cached_provider(cfg: Config, source: Any) -> CachedBarProvider:
    """`source` (anything with `fetch(symbols, start, end)`, `name`, `requests`) through the
    local bar cache, covering `[data] history_days` through the last completed day."""
    from .marketdata.provider import CachedBarProvider

    return CachedBarProvider(bar_cache(cfg), source, cfg.data.history_days, last_completed_day())


def bar_cache(cfg: Config) -> BarCache:
    """The local daily-bar cache at `[paths] bars_db`."""
    from .marketdata.cache import BarCache

    return BarCache(cfg.bars_db_path)


def bar_provider(cfg: Config) -> BarProvider:
    """The configured daily-bar source (`[data] source`, a registered bar source): CSV files
    (the bundled sample by default), Alpaca through the local bar cache, or a plug-in's.

    Raises:
        ConfigError: the source's SDK is not installed. AuthError: its keys are missing.
        UsageError: unknown source name.
    """
    from .registry import bar_sources

    provider: BarProvider = bar_sources.get(cfg.data.source).factory(cfg)
    return provider


class LastBarPrices:
    """The paper broker's market outside the trading loop (`etrade --broker paper quote`,
    `order preview|place`, `accounts balance`): each symbol's last bar in the configured bar
    source (`[data]`), read once, on first use (a command that prices nothing reads no bars).

    Called as `prices(symbol)` it is the paper broker's price source: the close (USD) of the
    symbol's last bar, or None when the data has no bars for it or cannot be read (a remote
    source without keys: the paper broker then says it has no price, and values holdings at
    cost, as it did without a source). The trading loop replaces it with the prices of its
    own clock (`PaperBroker.set_market`). `quotes()` raises the source's error instead.

    Args:
        cfg: the configuration whose bar source is read.
    """

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._provider: BarProvider | None = None
        self._last: dict[str, Bars | None] = {}
        self._unreadable = False  # the source failed once: no price, no second attempt

    def _load(self, symbols: list[str]) -> None:
        todo = [s for s in dict.fromkeys(symbols) if s not in self._last]
        if not todo:
            return
        if self._provider is None:
            self._provider = bar_provider(self.cfg)
        found, _missing = self._provider.get(todo)
        self._last.update({s: None for s in todo})
        self._last.update({b.symbol: b for b in found if len(b)})

    def __call__(self, symbol: str) -> float | None:
        from .errors import EtradeCliError

        if self._unreadable:
            return None
        try:
            self._load([symbol])
        except EtradeCliError:
            self._unreadable = True
            return None
        bars = self._last[symbol]
        return None if bars is None else float(bars.close[-1])

    def session(self, symbol: str) -> str | None:
        """The date (YYYY-MM-DD, US/Eastern) of the symbol's last bar, or None."""
        self._load([symbol])
        bars = self._last[symbol]
        return None if bars is None else str(bars.dates[-1])

    def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Quotes of the symbols that have bars: the last close as `last`, and the bar's open,
        high, low (USD) and volume (shares) in `extra`; `time` is None (a bar has a session,
        `session(symbol)`, not a time of day).

        Raises:
            DataError, AuthError, ConfigError: from the bar source.
        """
        from .values import Quote

        self._load(symbols)
        out: dict[str, Quote] = {}
        for s in symbols:
            b = self._last[s]
            if b is not None:
                extra = {k: float(getattr(b, k)[-1]) for k in ("open", "high", "low", "volume")}
                out[s] = Quote(s, float(b.close[-1]), None, extra)
        return out


def buy_window(cfg: Config) -> tuple[int, int]:
    """The configured strategy's buy window, minutes after midnight US/Eastern (the whole
    regular session, 09:30-16:00, when it has none)."""
    return make_strategy(cfg).buy_window() or (9 * 60 + 30, 16 * 60)


def make_strategy(cfg: Config, name: str | None = None) -> Strategy:
    """The strategy `name` (default `[strategy] name`) built with `cfg.strategy` parameters.

    Raises:
        UsageError: unknown strategy.
    """
    from dataclasses import replace

    from .registry import resolve_strategy

    spec = resolve_strategy(name or cfg.strategy_name)
    if spec.params_type is not None and not isinstance(cfg.strategy, spec.params_type):
        # `--strategy X` while `[strategy]` configures another one: X's defaults
        cfg = replace(cfg, strategy=spec.params_type())
    strategy: Strategy = spec.factory(cfg)
    return strategy


def backtest_strategy(cfg: Config, name: str | None = None) -> Strategy:
    """The strategy to replay (`make_strategy`), refused when it cannot be replayed.

    A strategy registered with `replayable=False` (the `http` signal service) is replayed only
    when it says it takes past sessions (`supports_replay()`: the service's
    `GET /capabilities` answers `{"past_sessions": true}`).

    Raises:
        UsageError: the strategy cannot be replayed. ConfigError: from its factory.
    """
    from .errors import ConfigError, UsageError
    from .registry import resolve_strategy

    spec = resolve_strategy(name or cfg.strategy_name)
    if spec.replayable:
        return make_strategy(cfg, name)
    why = 'a service that takes past sessions says so with GET /capabilities -> {"past_sessions": true}'
    try:
        strategy = make_strategy(cfg, name)
    except ConfigError as exc:
        why = str(exc)
    else:
        check = getattr(strategy, "supports_replay", None)
        if check is not None and check():
            return strategy
    raise UsageError(
        f"strategy {spec.name!r} cannot be backtested: its orders come from an external "
        f"service that cannot be replayed ({why})"
    )


def benchmark_bars(
    cfg: Config, provider: BarProvider, strategy: Strategy | None = None
) -> Bars | None:
    """Bars of the strategy's benchmark symbol (Rajat Alpha: `rs_benchmark` when
    `rs_mode = "benchmark"`, spec §3), else None.

    Raises:
        DataError: the strategy needs a benchmark the data source does not have.
    """
    symbol = (strategy or make_strategy(cfg)).benchmark_symbol()
    if symbol is None:
        return None
    from .errors import DataError

    found, _ = provider.get([symbol])
    if not found:
        raise DataError(
            f"the strategy needs bars for {symbol}, its benchmark ([strategy] rs_benchmark), "
            "which the data source does not have"
        )
    return found[0]


def open_store(cfg: Config, path: Path | None = None) -> Store:
    """The position book at `path` or `[paths] db` (created and migrated on first use)."""
    from .store import Store

    return Store(path or cfg.db_path)


def broker_spec(cfg: Config, name: str | None = None) -> BrokerSpec:
    """The registry entry of broker `name` (default `[broker] name`).

    Raises:
        UsageError: unknown broker (the message lists the known ones).
    """
    from .registry import brokers

    return brokers.get(name or cfg.broker.name)


def make_broker(cfg: Config, store: Store, name: str | None = None) -> Broker:
    """The broker `name` (default `[broker] name`), built by its registry factory. The
    live-order guard is the caller's (`registry.check_live_guard`), before anything is sent.

    Raises:
        UsageError: unknown broker. ConfigError/AuthError/ApiError: from the broker's factory.
    """
    return broker_spec(cfg, name).factory(cfg, store)


def etrade_client(cfg: Config, warn: Callable[[str], None] | None = None) -> EtradeClient:
    """The E*TRADE client for `[etrade]` (environment, keys, token store, limits).

    Raises:
        AuthError: no consumer key/secret configured.
    """
    from .config import require_etrade_keys

    require_etrade_keys(cfg.etrade)  # before the HTTP stack is imported
    from .etrade.auth import token_store
    from .etrade.client import EtradeClient

    return EtradeClient(cfg.etrade, token_store(cfg.etrade, warn), warn=warn)


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
    """Open and pending positions of the configured broker's book (`books.choose_book`, chosen
    offline) as a `Book`; empty without a database.

    Raises:
        InputError: no account configured and the book holds several of this broker's.
    """
    from .strategy.base import Book

    if not cfg.db_path.exists():
        return Book()
    from .books import choose_book  # the store and SQLite load only when there is a book

    store = open_store(cfg)
    try:
        choice = choose_book(cfg, store, broker)
        return Book.from_pairs(
            (p.symbol, p.kind)
            for p in store.positions(choice.broker, choice.account, ("open", "pending"))
        )
    finally:
        store.close()


def engine_deps(
    cfg: Config,
    store: Store,
    broker: Broker,
    universe: list[str],
    strategy: Strategy | None = None,
) -> Deps:
    """Everything `engine.run_once` needs: bars for the universe and for every symbol with an
    open position (so exits are checked even after a symbol leaves the watchlist).

    Raises:
        DataError: from the bar provider.
    """
    from .engine import Deps
    from .market import MarketView

    strategy = strategy or make_strategy(cfg)
    held = [p.symbol for p in store.positions(broker.name, broker.account, ("open", "pending"))]
    wanted = list(dict.fromkeys([*universe, *held]))
    provider = bar_provider(cfg)
    bars, _missing = provider.get(wanted)
    benchmark = benchmark_bars(cfg, provider, strategy)
    closed, window_open = None, True
    if live_clock(cfg, broker):
        bars, closed, window_open = _live_bars(cfg, broker, bars, strategy)
    market = MarketView.from_bars(bars, strategy, tradable=universe, benchmark=benchmark)
    market.closed_reason, market.buy_window_open = closed, window_open
    market.exchange_session = exchange_session
    lock = Path(str(store.path) + ".lock")
    return Deps(strategy, cfg.risk, store, broker, market, lock)


def exchange_session(day: dt.date) -> bool:
    """True when NYSE had (or will have) a regular session on `day` (exchange_calendars)."""
    from .schedule import nyse_session

    return nyse_session(day)


def session_note(day: dt.date, session: dt.date) -> str | None:
    """Why an evaluation at `day` used the bar of `session` (an earlier date), or None when
    they are the same day: `day` is no NYSE session, or the data has a gap on that session."""
    if day == session:
        return None
    if exchange_session(day):
        return (
            f"no bars on {day} although NYSE was open (a gap in the data); used the last bar "
            f"before it, {session}"
        )
    return f"{day} is not a NYSE session; used the last bar before it, {session}"


def notifiers(cfg: Config, warn: Callable[[str], None] | None = None) -> list[Subscriber]:
    """The configured notifiers (`registry.notifiers`) as event subscribers; a notifier that
    cannot be built is skipped with one warning line (notifications never stop a run)."""
    from . import registry
    from .events import stderr_warning

    subs: list[Subscriber] = []
    for spec in registry.notifiers:
        try:
            sub = spec.factory(cfg)
        except Exception as exc:
            (warn or stderr_warning)(f"notifier {spec.name} not available: {exc}")
            continue
        if sub is not None:
            subs.append(sub)
    return subs


def notify_failure(
    cfg: Config | None, command: str, code: int, message: str, *, auth: bool = False
) -> None:
    """Notify that `etrade <command>` failed with exit `code` and one-line `message`; for an
    auth error whose token is missing or expired, the login reminder instead (at most once a
    day). With no loadable config (`cfg` None), only `$ETRADE_NOTIFY_URLS` is used. Never
    raises: a notification problem is one warning line."""
    from .events import RunFailed, emit, stderr_warning
    from .redact import redact

    try:
        if cfg is None:
            from .config import env_only_config

            cfg = env_only_config()
        subs = notifiers(cfg)
        if not subs:
            return
        event: Event = RunFailed(command, code, redact(message))
        if auth:
            event = _login_event(cfg) or event
        emit(subs, event)
    except Exception as exc:  # the failure being reported matters more
        stderr_warning(f"notification of the failure not sent: {exc}")


def _login_event(cfg: Config) -> Event | None:
    """The login reminder when the token is missing or expired, else None."""
    from .errors import EtradeCliError
    from .notify.reminder import check_token

    try:
        check = check_token(cfg, dt.datetime.now(dt.timezone.utc), dt.timedelta(0))
    except EtradeCliError:
        return None
    return None if check.ok else check.event()


def paths(cfg: Config) -> dict[str, dict[str, str | bool | None]]:
    """The files and folders this configuration uses, for `etrade paths`: name ->
    {"path": absolute path or None, "exists": bool, "note": how it was chosen}."""
    from .config import home_dirs

    config_dir, data_dir = home_dirs()
    tokens = (
        (None, "the OS keyring ([etrade] token_store)")
        if cfg.etrade.token_store == "keyring"
        else (data_dir / "tokens", "one JSON file per environment and consumer key, mode 0600")
    )
    rows: dict[str, tuple[Path | None, str]] = {
        "config_file": (
            cfg.source,
            "--config, $ETRADE_CLI_CONFIG, ./config.toml, <config dir>/config.toml; "
            "none: built-in defaults",
        ),
        "config_dir": (config_dir, "user config dir ($ETRADE_CLI_HOME overrides)"),
        "data_dir": (data_dir, "user data dir ($ETRADE_CLI_HOME overrides)"),
        "book": (cfg.db_path, "--db, else [paths] db, else <data dir>/etrade.db"),
        "bar_cache": (cfg.bars_db_path, "[paths] bars_db, else <data dir>/bars.db"),
        "parsed_csv": (
            cfg.parsed_csv_dir,
            "parsed CSV files, safe to delete ($ETRADE_CLI_CACHE_DIR, $ETRADE_CLI_HOME/cache or "
            "the user cache dir; [data] csv_cache = false: none)",
        ),
        "token_store": tokens,
        "lock_file": (Path(str(cfg.db_path) + ".lock"), "held while run-once/run-loop trades"),
        "watchlist": (cfg.watchlist_path, "[paths] watchlist, ./watchlist.txt, bundled list"),
        "exclusionlist": (cfg.exclusionlist_path, "[paths] exclusionlist, ./exclusionlist.txt"),
    }
    return {
        name: {
            "path": str(path.resolve()) if path is not None else None,
            "exists": bool(path is not None and path.exists()),
            "note": note,
        }
        for name, (path, note) in rows.items()
    }


def reset_paper(cfg: Config, cash: float | None = None) -> tuple[Path | None, float]:
    """Start the paper account of the book over, under the trading lock: back the whole book
    up next to it (`<book>.<UTC timestamp>.bak`), then delete the paper broker's rows and open
    the account again with `cash` USD (default `[broker] paper_cash`). Other brokers' rows are
    kept. Returns (backup path or None when there was no book yet, starting cash USD).

    Raises:
        BusyError: a run holds the trading lock.
    """
    from .engine import trading_lock

    starting = cash if cash is not None else cfg.broker.paper_cash
    existed = cfg.db_path.exists()
    with trading_lock(Path(str(cfg.db_path) + ".lock")):
        store = open_store(cfg)
        try:
            backup = None
            if existed:
                stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                backup = cfg.db_path.with_name(f"{cfg.db_path.name}.{stamp}.bak")
                n = 1
                while backup.exists():  # two resets in one second
                    n += 1
                    backup = cfg.db_path.with_name(f"{cfg.db_path.name}.{stamp}-{n}.bak")
                store.backup_to(backup)
            store.reset_paper("paper", starting, cfg.broker.commission_usd)
        finally:
            store.close()
    return backup, starting


def live_clock(cfg: Config, broker: Broker) -> bool:
    """True for a live intraday run: bars from a remote source through the bar cache (not CSV
    files) and a broker that gives live quotes (registry `gives_quotes`: E*TRADE, Alpaca).
    CSV data keeps the data's own clock."""
    from .registry import bar_sources, brokers

    remote = bar_sources.get(cfg.data.source).needs_keys
    return remote and broker.name in brokers and brokers.get(broker.name).gives_quotes


def _live_bars(
    cfg: Config, broker: Broker, bars: list, strategy: Strategy
) -> tuple[list, str | None, bool]:
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
    window = strategy.buy_window()
    return out, None, window is None or interval(now, window) == 60


def command_broker(global_broker: str | None, own: str | None = None) -> str:
    """The broker a command talks to: its own `--broker`, else the global one, else E*TRADE
    (accounts, quote, order and auth are E*TRADE commands unless told otherwise).

    Raises:
        UsageError: an unknown broker name.
    """
    name = own or global_broker or "etrade"
    if name != "etrade":  # E*TRADE is always registered (builtins.py)
        from . import registry

        registry.brokers.get(name)
    return name


def with_account(cfg: Config, broker: str, account: str | None) -> Config:
    """`cfg` with `[<broker>] account = account` (a command's `--account`), when given."""
    from dataclasses import fields, replace

    section = getattr(cfg, broker, None)
    if not account or section is None or "account" not in {f.name for f in fields(section)}:
        return cfg
    return replace(cfg, **{broker: replace(section, account=account)})


def broker_accounts(cfg: Config, name: str) -> list[BrokerAccount]:
    """The accounts a broker login can trade, without choosing one (`etrade accounts list`).

    Raises:
        AuthError: not logged in. ApiError: the broker cannot be reached.
    """
    if name == "schwab":
        import time

        from .brokers.schwab import list_accounts
        from .brokers.schwab_auth import make_client

        return list_accounts(make_client(cfg.schwab), time.sleep)
    if name == "ibkr":
        from .brokers.ibkr import connect, managed_accounts

        return managed_accounts(connect(cfg.ibkr))
    from .brokers.base import BrokerAccount

    store = open_store(cfg)
    try:
        b = make_broker(cfg, store, name)
    finally:
        store.close()
    lister = getattr(b, "accounts", None)
    return lister() if lister else [BrokerAccount(b.account, b.account, name)]
