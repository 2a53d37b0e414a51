"""Plug-ins: the example SMA-crossover strategy (examples/sma_cross_plugin) loaded by entry point
and by module path, scanning and backtesting the bundled sample through the same engine."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etrade_cli import registry
from etrade_cli.marketdata import SAMPLE_SP500

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sma_cross_plugin"


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    registry.reset()
    yield
    sys.modules.pop("sma_cross_plugin", None)
    registry.reset()


@pytest.fixture
def installed(example_on_path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example as `pip install` leaves it: a dist-info with its entry point on sys.path."""
    site = tmp_path / "site"
    info = site / "etrade_cli_sma_cross-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: etrade-cli-sma-cross\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[etrade_cli]\nsma_cross = sma_cross_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("ETRADE_CLI_NO_PLUGINS")


def test_plugins_json_lists_the_built_ins(cli):
    doc = json.loads(cli("plugins", "--json").stdout)
    assert [b["name"] for b in doc["brokers"]][:3] == ["paper", "etrade", "alpaca"]
    assert {"csv", "alpaca"} <= {s["name"] for s in doc["bar_sources"]}
    assert [s["name"] for s in doc["strategies"]] == ["rajat_alpha", "http"]
    assert all(x["origin"] == "built-in" for v in doc.values() for x in v)
    assert {"brokers", "bar_sources", "strategies", "notifiers"} == set(doc)


def test_an_installed_plugin_is_listed_with_its_package_and_version(cli, installed):
    doc = json.loads(cli("plugins", "--json").stdout)
    (sma,) = [s for s in doc["strategies"] if s["name"] == "sma_cross"]
    assert sma["origin"] == "etrade-cli-sma-cross 0.1.0"


def test_plugins_load_on_the_first_name_that_is_not_built_in(installed, monkeypatch):
    """A built-in lookup needs no scan of the installed packages (a plug-in cannot take a
    built-in name); the first other name, or a listing, loads the plug-ins, once."""
    from etrade_cli import plugins

    scans: list[int] = []
    real = plugins.load_entry_points
    monkeypatch.setattr(plugins, "load_entry_points", lambda: scans.append(1) or real())
    assert registry.brokers.get("paper").origin == "built-in"
    assert "csv" in registry.bar_sources and registry.strategies.get("rajat_alpha")
    assert scans == []
    assert registry.strategies.get("sma_cross").origin == "etrade-cli-sma-cross 0.1.0"
    assert "sma_cross" in registry.strategies.names() and scans == [1]


def test_listing_a_registry_loads_the_plugins(installed):
    assert "sma_cross" in [s.name for s in registry.strategies]


def _independent_crosses(symbols: list[str], fast: int, slow: int, day: str) -> set[str]:
    """Golden crosses at `day` computed with pandas, independently of the plug-in."""
    df = pd.read_csv(SAMPLE_SP500, parse_dates=["Date"])
    out = set()
    for sym in symbols:
        c = df[df.Symbol == sym].sort_values("Date").set_index("Date")["Close"]
        f, s = c.rolling(fast).mean(), c.rolling(slow).mean()
        if pd.Timestamp(day) not in c.index:
            continue
        i = c.index.get_loc(pd.Timestamp(day))
        if i >= slow and f.iloc[i] > s.iloc[i] and f.iloc[i - 1] <= s.iloc[i - 1]:
            out.add(sym)
    return out


def test_the_plugin_strategy_scans_and_backtests_the_sample(cli, installed, hermetic):
    (hermetic / "config.toml").write_text('[strategy]\nname = "sma_cross"\nfast = 10\nslow = 30\n')
    watch = [*(Path(__file__).parent.parent / "etrade_cli/data/watchlist.txt").read_text().split()]
    watch = [s for s in watch if not s.startswith("#")]
    day = "2010-07-22"
    r = cli("scan", "--as-of", day, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    got = {s["symbol"] for s in doc["signals"]}
    assert got == _independent_crosses(watch, 10, 30, day)
    assert got and all(s["action"] in ("X", "SKIP") for s in doc["signals"])
    r = cli("backtest", "--json", "--db", "bt.db")
    assert r.exit_code == 0, r.output
    bt = json.loads(r.stdout)
    assert bt["stats"]["trades"] > 0
    from etrade_cli.store import Store

    store = Store(hermetic / "bt.db")
    tags = {(p.strategy, p.tag) for p in store.positions("paper", "paper", ("open", "closed"))}
    store.close()
    assert tags == {("sma_cross", "X")}


def test_a_strategy_loads_by_module_path_with_its_parameters_validated(
    cli, example_on_path, hermetic
):
    (hermetic / "config.toml").write_text(
        '[strategy]\nname = "sma_cross_plugin:SmaCross"\nfast = 20\nslow = 50\n'
    )
    r = cli("scan", "--as-of", "2010-07-22", "--json")
    assert r.exit_code == 0, r.output
    assert np.all([s["action"] in ("X", "SKIP") for s in json.loads(r.stdout)["signals"]])
    (hermetic / "config.toml").write_text(
        '[strategy]\nname = "sma_cross_plugin:SmaCross"\nfast = 50\nslow = 20\nfsat = 3\n'
    )
    r = cli("scan")
    assert r.exit_code == 3 and "unknown key 'fsat' (did you mean 'fast'?)" in r.stderr
