"""Configuration: TOML -> frozen dataclasses, validated once at load.

Lookup order (first found wins): `--config PATH`, env `ETRADE_CLI_CONFIG`, `./config.toml`, then
`config.toml` in the user config dir (platformdirs; `$ETRADE_CLI_HOME` replaces the user config and
data dirs, which keeps tests hermetic). With no file at all, every default applies: the paper
broker and the bundled sample data, so the tool runs offline out of the box.

Secrets may come from env (`ETRADE_CONSUMER_KEY`, `ETRADE_CONSUMER_SECRET`), which override the file.
Relative paths inside a config file are resolved against that file's folder; default paths
against the working directory (symbol lists) or the user data dir (database, tokens).

Validation errors raise `ConfigError` naming file, section and key, with "did you mean" for typos.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from .errors import ConfigError, UsageError

APP_NAME = "etrade-cli"
SECRET_KEYS = frozenset(
    {
        "consumer_secret",
        "consumer_key",
        "api_key",
        "secret_key",
        "urls",
        "app_key",
        "app_secret",
        "token",
    }
)
_BUNDLED_DIR = Path(__file__).parent / "data"


def home_dirs() -> tuple[Path, Path]:
    """Return (config_dir, data_dir): `$ETRADE_CLI_HOME` for both, else the platformdirs user dirs."""
    home = os.environ.get("ETRADE_CLI_HOME")
    if home:
        return Path(home), Path(home)
    import platformdirs

    return (
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
    )


def cache_dir() -> Path:
    """Files that may be deleted at any time (parsed CSV files): `$ETRADE_CLI_CACHE_DIR`, else
    `$ETRADE_CLI_HOME/cache`, else the platformdirs user cache dir."""
    folder = os.environ.get("ETRADE_CLI_CACHE_DIR")
    if folder:
        return Path(folder)
    home = os.environ.get("ETRADE_CLI_HOME")
    if home:
        return Path(home) / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def _r(**rules: object) -> dict[str, object]:
    return rules


@dataclass(frozen=True)
class EtradeConfig:
    """`[etrade]`: environment, credentials, token storage, live-order guard, client limits."""

    environment: str = field(default="sandbox", metadata=_r(choices=("sandbox", "production")))
    base_url: str = ""  # overrides both REST and OAuth hosts (https unless loopback)
    consumer_key: str = ""
    consumer_secret: str = ""
    token_store: str = field(default="file", metadata=_r(choices=("file", "keyring")))
    allow_live_orders: bool = False
    account: str = ""  # default account: accountIdKey, accountId, or 1-based index
    timeout_s: float = field(default=15.0, metadata=_r(min=0.1, max=300.0))
    rate_market_per_s: float = field(default=4.0, metadata=_r(min=0.1, max=100.0))
    rate_accounts_per_s: float = field(default=2.0, metadata=_r(min=0.1, max=100.0))
    rate_orders_per_s: float = field(default=2.0, metadata=_r(min=0.1, max=100.0))


def require_etrade_keys(cfg: EtradeConfig) -> None:
    """Check that `[etrade]` has both consumer key and secret (from the file or the env), and
    register the secret for redaction. Called before anything imports the HTTP stack, so a
    machine without keys is told at once.

    Raises:
        AuthError: the key or the secret is missing (exit 4).
    """
    if not cfg.consumer_key or not cfg.consumer_secret:
        from .errors import AuthError

        raise AuthError(
            "no E*TRADE consumer key/secret: set ETRADE_CONSUMER_KEY and "
            "ETRADE_CONSUMER_SECRET (or [etrade] consumer_key/consumer_secret)"
        )
    from .redact import register_secret

    register_secret(cfg.consumer_secret)


@dataclass(frozen=True)
class BrokerConfig:
    """`[broker]`: which broker trades (`paper` by default) and the paper account's terms (USD)."""

    name: str = field(
        default="paper", metadata=_r(choices=("paper", "etrade", "alpaca", "schwab", "ibkr"))
    )
    paper_cash: float = field(default=100_000.0, metadata=_r(min=0.0, exclusive_min=True))
    commission_usd: float = field(default=0.0, metadata=_r(min=0.0, max=1000.0))


@dataclass(frozen=True)
class DataConfig:
    """`[data]`: where daily bars come from. `csv` reads `csv_paths` (empty = the bundled
    S&P 500 sample); `alpaca` fetches from Alpaca into the local bar cache, only missing days;
    `history_days` is the calendar-day lookback fetched for a symbol new to the cache.
    `csv_cache` keeps each CSV file parsed in the user cache dir until the file changes
    (`marketdata/parsed.py`)."""

    source: str = field(default="csv", metadata=_r(choices=("csv", "alpaca", "schwab", "ibkr")))
    csv_paths: tuple[str, ...] = ()
    history_days: int = field(default=420, metadata=_r(min=30, max=20_000))
    csv_cache: bool = True


@dataclass(frozen=True)
class AlpacaConfig:
    """`[alpaca]`: keys (or env ALPACA_API_KEY / ALPACA_SECRET_KEY), data feed, trading endpoint.

    `paper = true` (default) trades the paper endpoint; live trading needs `paper = false`,
    `allow_live_orders = true` and `--live`.
    """

    api_key: str = ""
    secret_key: str = ""
    feed: str = field(default="iex", metadata=_r(choices=("iex", "sip")))
    paper: bool = True
    allow_live_orders: bool = False
    data_url: str = ""  # override for a proxy or a local test server
    trading_url: str = ""


@dataclass(frozen=True)
class SchwabConfig:
    """`[schwab]`: app key/secret (or env SCHWAB_APP_KEY / SCHWAB_APP_SECRET), the callback URL
    registered with the app, the account number to trade (default: the only one) and the
    live-order switch. Schwab has no paper environment: every order is live and needs
    `allow_live_orders = true` and `--live`."""

    app_key: str = ""
    app_secret: str = ""
    callback_url: str = "https://127.0.0.1:8182"
    account: str = ""  # account number (not the hash); empty = the only linked account
    allow_live_orders: bool = False
    timeout_s: float = field(default=15.0, metadata=_r(min=0.1, max=300.0))


@dataclass(frozen=True)
class IbkrConfig:
    """`[ibkr]`: the TWS / IB Gateway to connect to (4002 paper gateway by default, 4001 live
    gateway, 7497/7496 TWS paper/live), its API client id, the account (default: the only managed
    one) and the live-order switch. Paper accounts start with "DU"."""

    host: str = "127.0.0.1"
    port: int = field(default=4002, metadata=_r(min=1, max=65535))
    client_id: int = field(default=17, metadata=_r(min=0, max=2_000_000_000))
    account: str = ""
    allow_live_orders: bool = False
    timeout_s: float = field(default=4.0, metadata=_r(min=0.5, max=60.0))


@dataclass(frozen=True)
class RiskConfig:
    """`[risk]`: limits checked before every entry order (USD, orders per session date), and
    the optional resting protective stop (`protective_stop`, issue 16). Resting stops and their
    changes do not count against `max_orders_per_day` (they reduce risk)."""

    max_ticket_usd: float = field(default=25_000.0, metadata=_r(min=0.0, exclusive_min=True))
    max_daily_loss_usd: float = field(default=2_000.0, metadata=_r(min=0.0, exclusive_min=True))
    max_orders_per_day: int = field(default=20, metadata=_r(min=1, max=10_000))
    #: "broker": after every entry fill a GOOD_UNTIL_CANCEL STOP SELL rests at the broker,
    #: `protective_stop_gap_pct` (0.03 = 3 %) below the strategy's current stop, kept in step
    #: with its tiers and share count (a safety net for missed runs; spec §6 stays the exit)
    protective_stop: str = field(default="off", metadata=_r(choices=("off", "broker")))
    protective_stop_gap_pct: float = field(default=0.03, metadata=_r(min=0.0, max=0.5))
    #: open + pending positions of the account, every strategy counted
    max_positions: int = field(default=20, metadata=_r(min=1, max=10_000))
    #: price sanity of a proposed order: a limit or stop price (USD) further than this fraction
    #: (0.10 = 10 %) from the last bar's close is refused
    max_price_deviation_pct: float = field(default=0.10, metadata=_r(min=0.0, max=1.0))


@dataclass(frozen=True)
class SignalsConfig:
    """`[signals]`: the external signal service of the `http` strategy (see the README).

    `url` is the service's base URL (https unless loopback); `token` is sent as
    `Authorization: Bearer <token>` (a secret: masked, never logged; or env
    `ETRADE_SIGNALS_TOKEN`); `timeout_s` bounds every call (seconds); `validate = true` asks
    `POST {url}/validate` after the local policy checks. Positions opened from a proposal
    without a `stop_loss` get `entry * (1 - stop_loss_pct)` (0.10 = 10 %); a proposal with
    neither `quantity` nor `notional_usd` is sized at `percent_of_equity` of equity (0.05 = 5 %).
    """

    url: str = ""
    token: str = ""
    timeout_s: float = field(default=10.0, metadata=_r(min=0.1, max=300.0))
    validate: bool = False
    stop_loss_pct: float = field(default=0.10, metadata=_r(min=0.0, max=1.0, exclusive_min=True))
    percent_of_equity: float = field(
        default=0.05, metadata=_r(min=0.0, max=1.0, exclusive_min=True)
    )


@dataclass(frozen=True)
class NotifyConfig:
    """`[notify]`: notifications through apprise (off when no URL is set anywhere).

    `urls`: apprise URLs (secrets: masked in `config show`, never logged); `$ETRADE_NOTIFY_URLS`
    (space- or comma-separated) adds to them, and so does apprise's own config file
    (`apprise_config`, default: apprise's usual places such as `~/.config/apprise/apprise.yml`;
    "none" to ignore it). `events`: event types to send (`etrade notify events` lists them;
    empty = the default set; "all" = every type). `quiet_hours`: "HH:MM-HH:MM" in local time,
    during which only failures (run failed, login needed, kill switch, reconcile mismatch) are
    sent. `repeat_minutes`: an identical warning is not re-sent within this many minutes.
    """

    urls: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    quiet_hours: str = ""
    apprise_config: str = ""
    repeat_minutes: int = field(default=60, metadata=_r(min=0, max=10_080))


@dataclass(frozen=True)
class PathsConfig:
    """`[paths]`: files the tool reads and writes; empty means the default location."""

    db: str = ""
    bars_db: str = ""
    watchlist: str = ""
    exclusionlist: str = ""
    backtests_db: str = ""


@dataclass(frozen=True)
class ReportConfig:
    """`[report]`: backtest and report statistics."""

    #: buy-and-hold benchmark symbol; the equal-weight universe when the data lacks it
    benchmark: str = "SPY"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. `source` is the file it came from, or None."""

    etrade: EtradeConfig = field(default_factory=EtradeConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    alpaca: AlpacaConfig = field(default_factory=AlpacaConfig)
    schwab: SchwabConfig = field(default_factory=SchwabConfig)
    ibkr: IbkrConfig = field(default_factory=IbkrConfig)
    #: the chosen strategy's parameters (its `StrategySpec.params_type`), from `[strategy]`
    strategy: Any = field(default_factory=lambda: _default_strategy_params())
    #: `[strategy] name`: a registered strategy, or "package.module:Class"
    strategy_name: str = "rajat_alpha"
    risk: RiskConfig = field(default_factory=RiskConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    source: Path | None = None

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the config file are resolved against."""
        return self.source.parent if self.source else Path.cwd()

    def resolve(self, value: str) -> Path:
        """Resolve a path from the config: `~` expanded, relative to `base_dir`."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def db_path(self) -> Path:
        """The SQLite position book: `[paths] db` or `<data dir>/etrade.db`."""
        return self.resolve(self.paths.db) if self.paths.db else home_dirs()[1] / "etrade.db"

    @property
    def bars_db_path(self) -> Path:
        """The local daily-bar cache: `[paths] bars_db` or `<data dir>/bars.db`."""
        return (
            self.resolve(self.paths.bars_db) if self.paths.bars_db else home_dirs()[1] / "bars.db"
        )

    @property
    def parsed_csv_dir(self) -> Path | None:
        """Parsed CSV files (`[data] csv_cache`): `<cache dir>/csv`, or None when turned off."""
        return cache_dir() / "csv" if self.data.csv_cache else None

    @property
    def backtests_db_path(self) -> Path:
        """Stored backtest results: `[paths] backtests_db` or `<data dir>/backtests.db`."""
        if self.paths.backtests_db:
            return self.resolve(self.paths.backtests_db)
        return home_dirs()[1] / "backtests.db"

    @property
    def watchlist_path(self) -> Path:
        """`[paths] watchlist`, else `./watchlist.txt`, else the bundled default watchlist."""
        if self.paths.watchlist:
            return self.resolve(self.paths.watchlist)
        local = Path.cwd() / "watchlist.txt"
        return local if local.exists() else _BUNDLED_DIR / "watchlist.txt"

    @property
    def exclusionlist_path(self) -> Path | None:
        """`[paths] exclusionlist`, else `./exclusionlist.txt` when present, else None."""
        if self.paths.exclusionlist:
            return self.resolve(self.paths.exclusionlist)
        local = Path.cwd() / "exclusionlist.txt"
        return local if local.exists() else None


_SECTIONS: dict[str, type] = {
    "etrade": EtradeConfig,
    "broker": BrokerConfig,
    "data": DataConfig,
    "alpaca": AlpacaConfig,
    "schwab": SchwabConfig,
    "ibkr": IbkrConfig,
    "risk": RiskConfig,
    "signals": SignalsConfig,
    "notify": NotifyConfig,
    "paths": PathsConfig,
    "report": ReportConfig,
}


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """Return the config file to use by the documented lookup order, or None for defaults.

    Raises:
        ConfigError: an explicitly named file (`--config` or `ETRADE_CLI_CONFIG`) does not exist.
    """
    named = explicit or os.environ.get("ETRADE_CLI_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    for candidate in (Path.cwd() / "config.toml", home_dirs()[0] / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | Path | None = None) -> Config:
    """Find, parse and validate the config; apply env secrets. See the module doc for the order.

    Raises:
        ConfigError: unreadable TOML, unknown section or key, wrong type, out-of-range value.
    """
    path = find_config_file(explicit)
    raw: dict[str, Any] = {}
    if path is not None:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    cfg = build_config(raw, path)
    return _apply_env(cfg)


def build_config(raw: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML mapping into a `Config`.

    Raises:
        ConfigError: with `file: [section] key: problem` and a "did you mean" where it helps.
    """
    where = str(path) if path else "<config>"
    sections: dict[str, Any] = {}
    for name, body in raw.items():
        if name not in _SECTIONS and name != "strategy":
            known = [*_SECTIONS, "strategy"]
            raise ConfigError(f"{where}: unknown section [{name}]{_did_you_mean(name, known)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        if name == "strategy":
            sections.update(_build_strategy(body, f"{where}: [strategy]"))
            continue
        sections[name] = _build_section(_SECTIONS[name], body, f"{where}: [{name}]")
    cfg = Config(**sections, source=path)
    for key, problem in getattr(cfg.strategy, "problems", list)():
        raise ConfigError(f"{where}: [strategy] {key}: {problem}")
    strat = cfg.strategy
    bench = getattr(strat, "rs_benchmark", None)
    if isinstance(bench, str) and is_dataclass(strat) and not isinstance(strat, type):
        if not is_ticker(bench.strip().upper()):
            raise ConfigError(f"{where}: [strategy] rs_benchmark: not a valid symbol: {bench!r}")
        cfg = replace(cfg, strategy=replace(strat, rs_benchmark=bench.strip().upper()))
    _check_base_url(cfg.etrade.base_url, where, "[etrade] base_url")
    _check_base_url(cfg.alpaca.data_url, where, "[alpaca] data_url")
    _check_base_url(cfg.alpaca.trading_url, where, "[alpaca] trading_url")
    _check_base_url(cfg.signals.url, where, "[signals] url")
    _check_base_url(cfg.schwab.callback_url, where, "[schwab] callback_url")
    _check_notify(cfg.notify, where)
    return cfg


def _check_notify(n: NotifyConfig, where: str) -> None:
    """`[notify] events` names known types; `quiet_hours` is HH:MM-HH:MM."""
    for name in n.events:
        from .events import EVENT_TYPES  # only when events are named (a heavy module)

        if name != "all" and name not in EVENT_TYPES:
            raise ConfigError(
                f"{where}: [notify] events: unknown event {name!r}"
                f"{_did_you_mean(name, EVENT_TYPES)}; see `etrade notify events`"
            )
    if n.quiet_hours and not re.fullmatch(
        r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", n.quiet_hours.strip()
    ):
        raise ConfigError(
            f"{where}: [notify] quiet_hours: use HH:MM-HH:MM (local time), got {n.quiet_hours!r}"
        )


def _default_strategy_params() -> Any:
    """The parameters of the default strategy, rajat_alpha, all defaults. It is built in, so
    its class is imported directly rather than through the registry (which names the same
    class; tests/test_config.py checks that), and a command that loads the config does not
    load the registry for it."""
    from .strategy.rajat_alpha.params import StrategyParams

    return StrategyParams()


def _strategy_params_type(name: str) -> type:
    """The parameters dataclass of strategy `name` (an empty one when it takes none).

    Raises:
        UsageError: unknown strategy.
    """
    from .registry import resolve_strategy

    return resolve_strategy(name).params_type or _NoParams


@dataclass(frozen=True)
class _NoParams:
    """Parameters of a strategy that takes none."""


def _build_strategy(body: dict[str, Any], where: str) -> dict[str, Any]:
    """`[strategy]`: `name` picks the strategy (default rajat_alpha); every other key is one of
    that strategy's parameters, validated against its parameters type."""
    body = dict(body)
    name = body.pop("name", "rajat_alpha")
    if not isinstance(name, str):
        raise ConfigError(f"{where} name: expected a string, got {_tname(name)}")
    try:
        params_type = _strategy_params_type(name)
    except UsageError as exc:
        raise ConfigError(f"{where} name: {exc}") from None
    return {"strategy": _build_section(params_type, body, where), "strategy_name": name}


def _build_section(cls: type, body: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key not in known:
            raise ConfigError(f"{where} unknown key {key!r}{_did_you_mean(key, known)}")
        values[key] = _check_value(value, hints[key], dict(known[key].metadata), f"{where} {key}")
    return cls(**values)


def _check_value(value: Any, hint: Any, rules: dict[str, Any], where: str) -> Any:
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {_tname(value)}")
        return tuple(_check_value(v, args[0], rules, where) for v in value)
    if type(None) in args:  # Optional[X]
        inner = next(a for a in args if a is not type(None))
        return _check_value(value, inner, rules, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_tname(value)}")
        return value
    if hint in (int, float):
        ok = isinstance(value, int) if hint is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            raise ConfigError(
                f"{where}: expected {'an integer' if hint is int else 'a number'}, "
                f"got {_tname(value)}"
            )
        if not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number; got {value}")
        _check_range(value, rules, where)
        return hint(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {_tname(value)}")
    choices = rules.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            f"{where}: must be one of {', '.join(choices)}; got {value!r}"
            f"{_did_you_mean(value, choices)}"
        )
    return value


def _check_range(value: float, rules: dict[str, Any], where: str) -> None:
    lo, hi = rules.get("min"), rules.get("max")
    if lo is not None and (value < lo or (rules.get("exclusive_min") and value == lo)):
        bound = f"> {lo}" if rules.get("exclusive_min") else f">= {lo}"
        raise ConfigError(f"{where}: must be {bound}; got {value}")
    if hi is not None and value > hi:
        raise ConfigError(f"{where}: must be <= {hi}; got {value}")


def _check_base_url(url: str, where: str, key: str) -> None:
    if not url:
        return
    m = re.match(r"^(https?)://([^/:]+|\[[^\]]+\])(:\d+)?(/.*)?$", url)
    if not m:
        raise ConfigError(f"{where}: {key}: not a URL: {url!r}")
    host = m.group(2).strip("[]")
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if m.group(1) == "http" and not loopback:
        raise ConfigError(f"{where}: {key}: https is required unless the host is loopback")


def env_only_config() -> Config:
    """The defaults with the environment's secrets and notification URLs applied (used to
    report a failure when the config file itself cannot be loaded)."""
    return _apply_env(Config())


def _apply_env(cfg: Config) -> Config:
    """Secrets from the environment override the file: E*TRADE, Alpaca and Schwab keys, the
    signal service token (`ETRADE_SIGNALS_TOKEN`)."""
    env = os.environ.get
    et = replace(
        cfg.etrade,
        consumer_key=env("ETRADE_CONSUMER_KEY") or cfg.etrade.consumer_key,
        consumer_secret=env("ETRADE_CONSUMER_SECRET") or cfg.etrade.consumer_secret,
    )
    al = replace(
        cfg.alpaca,
        api_key=env("ALPACA_API_KEY") or cfg.alpaca.api_key,
        secret_key=env("ALPACA_SECRET_KEY") or cfg.alpaca.secret_key,
    )
    sw = replace(
        cfg.schwab,
        app_key=env("SCHWAB_APP_KEY") or cfg.schwab.app_key,
        app_secret=env("SCHWAB_APP_SECRET") or cfg.schwab.app_secret,
    )
    extra = [u for u in re.split(r"[\s,]+", env("ETRADE_NOTIFY_URLS") or "") if u]
    nt = replace(cfg.notify, urls=tuple(dict.fromkeys([*cfg.notify.urls, *extra])))
    sig = replace(cfg.signals, token=env("ETRADE_SIGNALS_TOKEN") or cfg.signals.token)
    return replace(cfg, etrade=et, alpaca=al, schwab=sw, notify=nt, signals=sig)


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _tname(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def mask(value: str) -> str:
    """Mask a secret for display: '' stays '', else '****' plus at most the last 2 characters."""
    if not value:
        return ""
    return "****" + (value[-2:] if len(value) >= 12 else "")


def mask_url(url: str) -> str:
    """An apprise URL for display: its scheme only, e.g. `tgram://****` (tokens live anywhere
    in such URLs: host, path or query)."""
    scheme, sep, _rest = url.partition("://")
    return f"{scheme}://{MASK_TEXT}" if sep else MASK_TEXT


MASK_TEXT = "****"


def config_as_dict(cfg: Config, *, masked: bool = True) -> dict[str, dict[str, Any]]:
    """The config as {section: {key: value}}, secrets masked unless `masked=False`."""
    out: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        if name == "risk":  # [strategy] is not in _SECTIONS: its keys depend on the strategy
            out["strategy"] = {"name": cfg.strategy_name, **_section_dict(cfg.strategy, masked)}
        out[name] = _section_dict(getattr(cfg, name), masked)
    return out


def _section_dict(section: Any, masked: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(section):
        value = getattr(section, f.name)
        if masked and f.name in SECRET_KEYS and value:
            value = tuple(mask_url(v) for v in value) if isinstance(value, tuple) else mask(value)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


# --- symbol lists ------------------------------------------------------------------------------


def is_ticker(token: str) -> bool:
    """True for a valid symbol such as `AAPL`, `BRK.B`, `BF-B` (upper case expected); the rule
    is `etrade_cli.symbols.is_symbol`."""
    from .symbols import is_symbol

    return is_symbol(token)


def read_symbol_list(path: Path) -> list[str]:
    """Read a watchlist or exclusion list: one symbol a line, `#` comments, blank lines allowed.

    Symbols are upper-cased; duplicates are dropped keeping the first. Returns them in file order.

    Raises:
        ConfigError: the file cannot be read, or a token is not a valid ticker (file:line named).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read symbol list {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    seen: dict[str, None] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        token = line.split("#", 1)[0].strip().upper()
        if not token:
            continue
        if not is_ticker(token):
            raise ConfigError(
                f"{path}:{lineno}: not a valid symbol: {line.strip()!r} (letters and digits "
                "with . - / between them, at most 10 characters)"
            )
        seen.setdefault(token, None)
    return list(seen)


def universe(
    cfg: Config,
    watchlist: Path | None = None,
    exclude: Path | None = None,
    *,
    allow_empty: bool = False,
) -> list[str]:
    """The symbols to trade: the watchlist minus the exclusion list, in watchlist order.

    Args:
        allow_empty: return [] for an empty watchlist instead of raising (the trading loop:
            no entries, but the exits of open positions must still be managed).

    Raises:
        ConfigError: from `read_symbol_list`; an empty watchlist; every symbol excluded.
    """
    path = watchlist or cfg.watchlist_path
    symbols = read_symbol_list(path)
    if not symbols:
        if allow_empty:
            return []
        raise ConfigError(f"the watchlist is empty: {path} has no symbols (one a line)")
    excl_path = exclude or cfg.exclusionlist_path
    excluded = set(read_symbol_list(excl_path)) if excl_path else set()
    kept = [s for s in symbols if s not in excluded]
    if not kept:
        raise ConfigError(
            f"every symbol of the watchlist {path} is in the exclusion list {excl_path}"
        )
    return kept
