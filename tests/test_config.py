"""Config lookup, validation errors (file, section, key, did-you-mean), env secrets, symbol lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from etrade_cli.config import (
    Config,
    build_config,
    config_as_dict,
    load_config,
    read_symbol_list,
    universe,
)
from etrade_cli.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_file_are_safe():
    cfg = load_config()
    assert cfg.source is None
    assert cfg.broker.name == "paper" and cfg.etrade.environment == "sandbox"
    assert cfg.etrade.allow_live_orders is False and cfg.data.csv_paths == ()
    assert cfg.watchlist_path.name == "watchlist.txt"


def test_example_config_is_valid_and_documents_every_key():
    cfg = load_config(ROOT / "config.example.toml")
    text = (ROOT / "config.example.toml").read_text()
    for section, values in config_as_dict(cfg).items():
        assert f"[{section}]" in text
        for key in values:
            assert f"{key} =" in text or f"# {key} =" in text, (section, key)


def test_lookup_order(tmp_path: Path, hermetic: Path, monkeypatch):
    home_cfg = write(tmp_path / "home" / "config.toml", "[broker]\npaper_cash = 1.0\n")
    assert load_config().source == home_cfg
    local = write(hermetic / "config.toml", "[broker]\npaper_cash = 2.0\n")
    assert load_config().source == local
    env = write(tmp_path / "env.toml", "[broker]\npaper_cash = 3.0\n")
    monkeypatch.setenv("ETRADE_CLI_CONFIG", str(env))
    assert load_config().broker.paper_cash == 3.0
    explicit = write(tmp_path / "x.toml", "[broker]\npaper_cash = 4.0\n")
    assert load_config(explicit).broker.paper_cash == 4.0


def test_missing_explicit_file():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("nope.toml")


@pytest.mark.parametrize(
    "toml, message",
    [
        (
            "[strategy]\nstalling_filtr = 'range'\n",
            "[strategy] unknown key 'stalling_filtr' (did you mean 'stalling_filter'?)",
        ),
        ("[stratgy]\n", "unknown section [stratgy] (did you mean 'strategy'?)"),
        (
            "[strategy]\nmin_listing_days = 'x'\n",
            "[strategy] min_listing_days: expected an integer",
        ),
        ("[strategy]\nmin_listing_days = 2.5\n", "min_listing_days: expected an integer"),
        ("[etrade]\nallow_live_orders = 1\n", "allow_live_orders: expected true or false"),
        ("[strategy]\npercent_of_equity = -0.1\n", "percent_of_equity: must be > 0.0"),
        ("[strategy]\npercent_of_equity = 0\n", "percent_of_equity: must be > 0.0"),
        ("[risk]\nmax_orders_per_day = 0\n", "[risk] max_orders_per_day: must be >= 1"),
        ("[strategy]\ntarget_fractions = [0.5, 0.3, 0.1]\n", "target_fractions: must sum to 1"),
        ("[strategy]\ntargets = [0.1, 0.3, 0.2]\n", "targets: must be strictly ascending"),
        ("[strategy]\nrs_mode = 'rsl'\n", "rs_mode: must be one of rsi, benchmark; got 'rsl'"),
        ("[strategy]\nbuy_window = '16:00-15:00'\n", "buy_window"),
        ("[broker]\nname = 'ibkrx'\n", "[broker] name: must be one of paper, etrade"),
        ("[etrade]\nbase_url = 'http://example.com'\n", "https is required"),
        ("[data]\ncsv_paths = 'a.csv'\n", "csv_paths: expected a list"),
        ("strategy = 3\n", "[strategy] must be a table"),
        ("[strategy\n", "invalid TOML"),
    ],
)
def test_validation_errors_name_file_section_and_key(tmp_path: Path, toml: str, message: str):
    f = write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError) as exc:
        load_config(f)
    assert str(exc.value).startswith(str(f))
    assert message in str(exc.value)


def test_loopback_base_url_may_use_http():
    cfg = build_config({"etrade": {"base_url": "http://127.0.0.1:8080"}})
    assert cfg.etrade.base_url == "http://127.0.0.1:8080"


def test_env_secrets_override_and_are_masked(monkeypatch, tmp_path):
    f = write(tmp_path / "c.toml", "[etrade]\nconsumer_key = 'filekey0000000'\n")
    monkeypatch.setenv("ETRADE_CONSUMER_SECRET", "supersecretvalue123")
    cfg = load_config(f)
    assert cfg.etrade.consumer_secret == "supersecretvalue123"
    shown = config_as_dict(cfg)["etrade"]
    assert "supersecretvalue123" not in str(shown) and shown["consumer_secret"].startswith("****")
    assert "filekey0000000" not in str(shown)


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path):
    sub = tmp_path / "conf"
    sub.mkdir()
    f = write(sub / "c.toml", "[paths]\nwatchlist = 'wl.txt'\ndb = 'book.db'\n")
    cfg = load_config(f)
    assert cfg.watchlist_path == sub / "wl.txt" and cfg.db_path == sub / "book.db"


def test_symbol_list_rules(tmp_path: Path):
    f = write(
        tmp_path / "wl.txt", "# header\naapl\n\n  MSFT  # inline comment\nAAPL\nbrk.b\nBF-B\n"
    )
    assert read_symbol_list(f) == ["AAPL", "MSFT", "BRK.B", "BF-B"]


@pytest.mark.parametrize("bad", ["AAPL MSFT", "A..B", "A$B", "TOOLONGSYMBOL", "<script>", "../A"])
def test_symbol_list_rejects_bad_tokens_with_line_number(tmp_path: Path, bad: str):
    f = write(tmp_path / "wl.txt", f"AAPL\n# ok\n{bad}\n")
    with pytest.raises(ConfigError, match=r"wl.txt:3: not a valid symbol"):
        read_symbol_list(f)


def test_universe_is_watchlist_minus_exclusions(tmp_path: Path):
    wl = write(tmp_path / "wl.txt", "A\nB\nC\n")
    ex = write(tmp_path / "ex.txt", "b\n")
    assert universe(load_config(), wl, ex) == ["A", "C"]


def test_bundled_watchlist_matches_the_repository_one():
    from etrade_cli.config import _BUNDLED_DIR

    assert (_BUNDLED_DIR / "watchlist.txt").read_text() == (ROOT / "watchlist.txt").read_text()
    assert len(read_symbol_list(ROOT / "watchlist.txt")) == 40


def test_the_default_strategy_parameters_are_the_registered_ones():
    """Config() imports rajat_alpha's parameters directly (no registry at start-up): the same
    class the registry names for the default strategy."""
    from etrade_cli.registry import strategies

    assert Config().strategy_name == "rajat_alpha"
    assert type(Config().strategy) is strategies.get("rajat_alpha").params_type
