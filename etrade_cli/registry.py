"""Registries of the pluggable parts: brokers, bar sources, strategies and notifiers.

Each entry (a `*Spec`) holds what the rest of the code needs to know about one part: its name,
a factory, its config section and, for brokers, the account under which its book is kept and
whether it can trade real money (and so needs `--live` plus `allow_live_orders`). The built-in
parts are registered by `etrade_cli.builtins`; other packages register theirs through the
`etrade_cli` entry-point group (see `plugins.py`). Nothing here imports a broker SDK: factories
import lazily, so listing the registry stays cheap.

Lookups of an unknown name raise `UsageError` listing the known names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import UsageError

if TYPE_CHECKING:
    from .brokers.base import Broker
    from .config import Config
    from .store import Store


def _always(_cfg: Config) -> bool:
    return True


def _never(_cfg: Config) -> bool:
    return False


@dataclass(frozen=True)
class BrokerSpec:
    """A broker as the engine, the CLI and the live-order guard see it.

    Attributes:
        name: the `--broker` / `[broker] name` value.
        factory: `factory(cfg, store) -> Broker`; may raise ConfigError/AuthError/ApiError.
        account_key: `account_key(cfg) -> str`, the account under which the position book keeps
            this broker's rows, computable offline (no API call).
        description: one line for `etrade plugins`.
        config_section: the TOML section that configures it, or None.
        gives_quotes: True when `Broker.quotes` returns live prices (live forming bar, spec §1).
        can_trade_live: False only for simulators (the paper broker). Anything that can reach a
            real account must say True: the guard then applies by construction.
        is_live: `is_live(cfg)`: the configured account trades real money. Defaults to always,
            so a broker that cannot tell is treated as live.
        allow_live: `allow_live(cfg)`: the config switch (`[section] allow_live_orders`).
        origin: "built-in", or the distribution name and version of a plug-in.
    """

    name: str
    factory: Callable[[Config, Store], Broker]
    account_key: Callable[[Config], str]
    description: str = ""
    config_section: str | None = None
    gives_quotes: bool = True
    can_trade_live: bool = True
    is_live: Callable[[Config], bool] = _always
    allow_live: Callable[[Config], bool] = _never
    origin: str = "built-in"

    @property
    def kind(self) -> str:
        return "broker"


@dataclass(frozen=True)
class BarSourceSpec:
    """A source of daily bars for `[data] source`.

    Attributes:
        factory: `factory(cfg) -> BarProvider` (`marketdata.base.BarProvider`).
        needs_keys: True when it contacts a remote service (keys, network).
    """

    name: str
    factory: Callable[[Config], Any]
    description: str = ""
    config_section: str | None = None
    needs_keys: bool = False
    origin: str = "built-in"

    @property
    def kind(self) -> str:
        return "bar_source"


@dataclass(frozen=True)
class StrategySpec:
    """A trading strategy for `[strategy] name` / `--strategy`.

    Attributes:
        factory: `factory(cfg) -> Strategy` (`strategy.base.Strategy`); `cfg.strategy` holds
            an instance of `params_type` built from `[strategy]`.
        params_type: a frozen dataclass of the strategy's parameters (validated from the
            `[strategy]` table, with `field(metadata={"min":..,"max":..,"choices":..})` rules),
            or None when it takes none.
        replayable: False when it cannot be backtested (e.g. an external signal service).
    """

    name: str
    factory: Callable[[Config], Any]
    params_type: type | None = None
    description: str = ""
    config_section: str | None = "strategy"
    replayable: bool = True
    origin: str = "built-in"

    @property
    def kind(self) -> str:
        return "strategy"


@dataclass(frozen=True)
class NotifierSpec:
    """A notifier: `factory(cfg) -> Notifier | None` (None when it is not configured)."""

    name: str
    factory: Callable[[Config], Any]
    description: str = ""
    config_section: str | None = None
    origin: str = "built-in"

    @property
    def kind(self) -> str:
        return "notifier"


S = TypeVar("S", BrokerSpec, BarSourceSpec, StrategySpec, NotifierSpec)


class Registry(Generic[S]):
    """Named specs of one kind, in registration order; a later registration of the same name
    replaces the earlier one only when `replace=True` (a plug-in cannot silently shadow)."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, S] = {}

    def register(self, spec: S, *, replace: bool = False) -> None:
        """Add `spec`.

        Raises:
            ValueError: the name is taken and `replace` is False.
        """
        if spec.name in self._items and not replace:
            raise ValueError(f"{self.what} {spec.name!r} is already registered")
        self._items[spec.name] = spec

    def get(self, name: str) -> S:
        """The spec called `name`.

        Raises:
            UsageError: unknown name (the message lists the known ones).
        """
        _ensure_loaded(plugins=False)
        if name not in self._items:
            _ensure_loaded()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UsageError(f"unknown {self.what} {name!r}; choose one of: {known}") from None

    def names(self) -> list[str]:
        _ensure_loaded()
        return list(self._items)

    def __iter__(self) -> Iterator[S]:
        _ensure_loaded()
        return iter(list(self._items.values()))

    def __contains__(self, name: object) -> bool:
        _ensure_loaded(plugins=False)
        if name not in self._items:
            _ensure_loaded()
        return name in self._items


brokers: Registry[BrokerSpec] = Registry("broker")
bar_sources: Registry[BarSourceSpec] = Registry("bar source")
strategies: Registry[StrategySpec] = Registry("strategy")
notifiers: Registry[NotifierSpec] = Registry("notifier")

_builtins_loaded = False
_plugins_loaded = False


def _ensure_loaded(plugins: bool = True) -> None:
    """Register the built-ins, then (unless `plugins` is False) the installed plug-ins, each
    once per process. Plug-ins are looked for only when a name is not a built-in one or a
    whole registry is listed: a plug-in cannot take a built-in name (`Registry.register`), so
    a built-in lookup gives the same answer without scanning every installed distribution."""
    global _builtins_loaded, _plugins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from . import builtins

        builtins.register_all()
    if plugins and not _plugins_loaded:
        _plugins_loaded = True
        from . import plugins as entry_points

        entry_points.load_entry_points()


def catalogue() -> list[dict[str, Any]]:
    """Every registered part as {kind, name, origin, description, config_section, ...}: kinds
    "broker", "bar_source", "strategy", "notifier", in registration order."""
    rows: list[dict[str, Any]] = []
    for registry in (brokers, bar_sources, strategies, notifiers):
        for spec in registry:
            row: dict[str, Any] = {
                "kind": spec.kind,
                "name": spec.name,
                "origin": spec.origin,
                "description": spec.description,
                "config_section": spec.config_section,
            }
            if isinstance(spec, BrokerSpec):
                row["can_trade_live"] = spec.can_trade_live
                row["gives_quotes"] = spec.gives_quotes
            if isinstance(spec, StrategySpec):
                row["replayable"] = spec.replayable
            rows.append(row)
    return rows


def resolve_strategy(name: str) -> StrategySpec:
    """A registered strategy, or a class loaded from "package.module:Class" (the way freqtrade
    loads user strategies). The class is built as `Class(params)` where `params` is an instance
    of its `Params` attribute (a dataclass) when it has one.

    Raises:
        UsageError: unknown name, or a module path that does not import or name a class.
    """
    if ":" not in name:
        return strategies.get(name)
    import importlib

    module_name, _, attr = name.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot load strategy {name!r}: {exc}") from None
    params_type = getattr(cls, "Params", None)

    def factory(cfg: Config) -> Any:
        return cls(cfg.strategy) if params_type is not None else cls()

    return StrategySpec(
        name=name,
        factory=factory,
        params_type=params_type,
        description=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        origin=f"module {module_name}",
    )


def reset() -> None:
    """Forget every registration; the next lookup registers the built-ins and plug-ins again
    (for tests that install or remove a plug-in)."""
    global _builtins_loaded, _plugins_loaded
    for registry in (brokers, bar_sources, strategies, notifiers):
        registry._items.clear()
    _builtins_loaded = _plugins_loaded = False


def check_live_guard(cfg: Config, spec: BrokerSpec, live: bool) -> None:
    """Real-money orders need the broker's config switch and `--live`.

    Applies to every broker that `can_trade_live` and whose configured account `is_live`.

    Raises:
        OrderRejectedError: a live account without both.
    """
    from .errors import OrderRejectedError

    if not spec.can_trade_live or not spec.is_live(cfg):
        return
    if not (spec.allow_live(cfg) and live):
        section = spec.config_section or spec.name
        raise OrderRejectedError(
            f"live orders are off: {spec.name} live trading needs "
            f"[{section}] allow_live_orders = true and --live"
        )
