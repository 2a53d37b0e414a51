"""Registration of the built-in brokers, bar sources and strategies (see `registry.py`).

Each factory imports its module only when called, so `etrade --help` and `etrade plugins`
import no broker SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import registry as reg

if TYPE_CHECKING:
    from .brokers.base import Broker
    from .config import Config
    from .store import Store


def _paper(cfg: Config, store: Store) -> Broker:
    """The paper account, priced at the last bars of the configured data until the trading
    loop points it at its own clock (`services.LastBarPrices`)."""
    from .brokers.paper import PaperBroker
    from .services import LastBarPrices

    prices = LastBarPrices(cfg)
    return PaperBroker(store, "paper", cfg.broker.paper_cash, cfg.broker.commission_usd, prices)


def _etrade(cfg: Config, store: Store) -> Broker:
    from .brokers.etrade import EtradeBroker
    from .services import etrade_client, resolve_account

    client = etrade_client(cfg)
    return EtradeBroker(client, resolve_account(client, cfg, None).account_id_key, store)


def _etrade_live(cfg: Config) -> bool:
    return cfg.etrade.environment == "production" and not cfg.etrade.base_url


def _alpaca(cfg: Config, store: Store) -> Broker:
    from .brokers.alpaca import AlpacaBroker

    return AlpacaBroker(cfg.alpaca)


def _schwab(cfg: Config, store: Store) -> Broker:
    from .brokers.schwab import open_broker

    return open_broker(cfg, store)


def _ibkr(cfg: Config, store: Store) -> Broker:
    from .brokers.ibkr import open_broker

    return open_broker(cfg)


def _ibkr_live(cfg: Config) -> bool:
    from .brokers.ibkr import is_live

    return is_live(cfg)


def _csv_bars(cfg: Config) -> Any:
    from .marketdata.provider import CsvBarProvider

    paths = [cfg.resolve(p) for p in cfg.data.csv_paths]
    return CsvBarProvider(paths or None, cache_path=cfg.bars_db_path, parsed_dir=cfg.parsed_csv_dir)


def _alpaca_bars(cfg: Config) -> Any:
    from .services import alpaca_provider

    return alpaca_provider(cfg)


def _schwab_bars(cfg: Config) -> Any:
    from .marketdata.schwab import SchwabBarSource
    from .services import cached_provider

    return cached_provider(cfg, SchwabBarSource(cfg.schwab))


def _ibkr_bars(cfg: Config) -> Any:
    from .marketdata.ibkr import IbkrBarSource
    from .services import cached_provider

    return cached_provider(cfg, IbkrBarSource(cfg.ibkr))


def _apprise(cfg: Config) -> Any:
    from .notify import from_config

    return from_config(cfg)


def _rajat_alpha(cfg: Config) -> Any:
    from .strategy.rajat_alpha import RajatAlpha

    return RajatAlpha(cfg.strategy)


def _http(cfg: Config) -> Any:
    from .signals.strategy import HttpStrategy

    return HttpStrategy(cfg.signals)


def register_all() -> None:
    """Register every built-in part (called once by the registry on first lookup)."""
    reg.brokers.register(
        reg.BrokerSpec(
            name="paper",
            factory=_paper,
            account_key=lambda cfg: "paper",
            description="local simulated account in the position book (fills at the clock's price)",
            config_section="broker",
            gives_quotes=False,
            can_trade_live=False,
        )
    )
    reg.brokers.register(
        reg.BrokerSpec(
            name="etrade",
            factory=_etrade,
            account_key=lambda cfg: cfg.etrade.account,
            description="E*TRADE REST API (OAuth 1.0a), sandbox by default",
            config_section="etrade",
            is_live=_etrade_live,
            allow_live=lambda cfg: cfg.etrade.allow_live_orders,
        )
    )
    reg.brokers.register(
        reg.BrokerSpec(
            name="alpaca",
            factory=_alpaca,
            account_key=lambda cfg: "paper" if cfg.alpaca.paper else "live",
            description="Alpaca trading API through alpaca-py, paper endpoint by default",
            config_section="alpaca",
            is_live=lambda cfg: not cfg.alpaca.paper,
            allow_live=lambda cfg: cfg.alpaca.allow_live_orders,
        )
    )
    reg.brokers.register(
        reg.BrokerSpec(
            name="schwab",
            factory=_schwab,
            account_key=lambda cfg: cfg.schwab.account,
            description="Charles Schwab Trader API through schwab-py (no paper: always live)",
            config_section="schwab",
            allow_live=lambda cfg: cfg.schwab.allow_live_orders,
        )
    )
    reg.brokers.register(
        reg.BrokerSpec(
            name="ibkr",
            factory=_ibkr,
            account_key=lambda cfg: cfg.ibkr.account,
            description="Interactive Brokers TWS / IB Gateway through ib_async (paper port 4002)",
            config_section="ibkr",
            is_live=_ibkr_live,
            allow_live=lambda cfg: cfg.ibkr.allow_live_orders,
        )
    )
    from .strategy.rajat_alpha.params import StrategyParams

    reg.strategies.register(
        reg.StrategySpec(
            name="rajat_alpha",
            factory=_rajat_alpha,
            params_type=StrategyParams,
            description="Rajat Alpha v67: B1/B2 dual positions on MA pullbacks (spec §1-§8)",
        )
    )
    reg.strategies.register(
        reg.StrategySpec(
            name="http",
            factory=_http,
            description="orders proposed by an external signal service ([signals] url)",
            config_section="signals",
            replayable=False,
        )
    )
    reg.bar_sources.register(
        reg.BarSourceSpec(
            name="csv",
            factory=_csv_bars,
            description="the local bar cache for the symbols it holds, then CSV files "
            "([data] csv_paths, the bundled S&P 500 sample by default)",
            config_section="data",
        )
    )
    reg.bar_sources.register(
        reg.BarSourceSpec(
            name="alpaca",
            factory=_alpaca_bars,
            description="Alpaca market data (alpaca-py) through the local bar cache",
            config_section="alpaca",
            needs_keys=True,
        )
    )
    reg.bar_sources.register(
        reg.BarSourceSpec(
            name="schwab",
            factory=_schwab_bars,
            description="Schwab daily price history (schwab-py) through the local bar cache",
            config_section="schwab",
            needs_keys=True,
        )
    )
    reg.bar_sources.register(
        reg.BarSourceSpec(
            name="ibkr",
            factory=_ibkr_bars,
            description="IB adjusted daily bars (ib_async, a running gateway) through the bar cache",
            config_section="ibkr",
            needs_keys=True,
        )
    )
    reg.notifiers.register(
        reg.NotifierSpec(
            name="apprise",
            factory=_apprise,
            description="apprise URLs ([notify] urls, $ETRADE_NOTIFY_URLS, apprise config file)",
            config_section="notify",
        )
    )
