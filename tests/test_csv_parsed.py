"""The cache of parsed CSV files (`marketdata.parsed`): the same bars bit for bit as parsing,
used only while the file is unchanged, and never a reason for a command to fail."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from unittest import mock

import pytest

from etrade_cli.config import Config, DataConfig
from etrade_cli.marketdata import SAMPLE_SP500
from etrade_cli.marketdata import parsed as parsed_mod
from etrade_cli.marketdata.csv import read_bars_csv
from etrade_cli.marketdata.parsed import read_bars_cached
from tests.conftest import DATA

COLUMNS = ("dates", "open", "high", "low", "close", "volume")


def _plain(result):
    bars, report = result
    return (
        {s: (b.symbol, [getattr(b, c).tobytes() for c in COLUMNS], b.dates.dtype) for s, b in bars.items()},
        list(bars),
        (report.path, report.rows, dict(report.dropped), report.bad_symbols, report.warning()),
    )  # fmt: skip


def _no_parse():
    return mock.patch.object(parsed_mod, "read_bars_csv", side_effect=AssertionError("parsed"))


DIRTY = (
    "Date,Symbol,Open,High,Low,Close,Volume\n"
    "2020-01-02,AAA,10,11,9,10.5,100\n"
    "2020-01-03,AAA,10,11,9,nan,100\n"  # dropped: non-finite
    "2020-01-03,b@d,10,11,9,10,100\n"  # dropped: invalid symbol
    "2020-01-03,BBB,20,21,19,20.25,300\n"
    "2020-01-06,AAA,10.5,12,10,11.75,200\n"
)


@pytest.mark.parametrize("source", ["sample", "dirty", "per_symbol"])
def test_a_cached_read_equals_the_parse_bit_for_bit(tmp_path: Path, source: str):
    if source == "sample":
        path = SAMPLE_SP500
    elif source == "dirty":
        path = tmp_path / "dirty.csv"
        path.write_text(DIRTY)
    else:
        path = DATA / "MSFT_daily_2015-2021.csv"
    cache = tmp_path / "cache"
    expected = _plain(read_bars_csv(path))
    assert _plain(read_bars_cached(path, cache)) == expected  # parsed, then stored
    assert len(list(cache.glob("*.npz"))) == 1
    with _no_parse():
        assert _plain(read_bars_cached(path, cache)) == expected  # from the cache alone


def test_a_changed_file_is_parsed_again(tmp_path: Path):
    path, cache = tmp_path / "bars.csv", tmp_path / "cache"
    path.write_text(DIRTY)
    read_bars_cached(path, cache)
    stat = path.stat()
    path.write_text(DIRTY.replace("11.75", "99.75"))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the same modification time
    bars, _ = read_bars_cached(path, cache)
    assert bars["AAA"].close[-1] == 99.75
    with _no_parse():  # and the new content is what is cached now
        assert read_bars_cached(path, cache)[0]["AAA"].close[-1] == 99.75


def test_a_symbol_read_keeps_its_own_entry(tmp_path: Path):
    path, cache = tmp_path / "prices.csv", tmp_path / "cache"
    shutil.copy(DATA / "MSFT_daily_2015-2021.csv", path)
    assert list(read_bars_cached(path, cache, "MSFT")[0]) == ["MSFT"]
    assert list(read_bars_cached(path, cache, "QQQ")[0]) == ["QQQ"]
    with _no_parse():
        assert list(read_bars_cached(path, cache, "MSFT")[0]) == ["MSFT"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_format", "wrong_counts"])
def test_a_damaged_or_foreign_entry_is_ignored_and_rewritten(tmp_path: Path, damage: str):
    path, cache = tmp_path / "bars.csv", tmp_path / "cache"
    path.write_text(DIRTY)
    expected = _plain(read_bars_csv(path))
    read_bars_cached(path, cache)
    (entry,) = cache.glob("*.npz")
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "garbage":
        entry.write_bytes(b"not a zip file")
    elif damage == "other_format":
        with mock.patch.object(parsed_mod, "FORMAT", parsed_mod.FORMAT + 1):
            read_bars_cached(path, cache)  # an entry another version wrote
    else:
        import numpy as np

        with np.load(entry) as npz:
            arrays = dict(npz)
        arrays["counts"] = arrays["counts"] + 1
        with entry.open("wb") as fh:
            np.savez(fh, **arrays)
    assert _plain(read_bars_cached(path, cache)) == expected
    with _no_parse():
        assert _plain(read_bars_cached(path, cache)) == expected


def test_an_unwritable_cache_folder_only_costs_a_parse(tmp_path: Path):
    path = tmp_path / "bars.csv"
    path.write_text(DIRTY)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    assert _plain(read_bars_cached(path, blocker / "csv")) == _plain(read_bars_csv(path))
    assert blocker.read_text() == "a file where the folder should be"


def test_a_file_that_cannot_be_read_raises_as_before_and_caches_nothing(tmp_path: Path):
    from etrade_cli.errors import DataError

    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="no such file|not found|No such"):
        read_bars_cached(tmp_path / "missing.csv", cache)
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open\n2020-01-02,1\n")
    with pytest.raises(DataError):
        read_bars_cached(bad, cache)
    assert not list(cache.glob("*.npz")) if cache.exists() else True


def test_commands_use_the_cache_in_the_cache_dir_and_csv_cache_false_turns_it_off(
    cli, hermetic, monkeypatch
):
    monkeypatch.delenv("ETRADE_CLI_CACHE_DIR")  # (the suite shares one: see conftest)
    home = Path(os.environ["ETRADE_CLI_HOME"])
    res = cli("scan", "AAPL", "MSFT", "--json")
    assert res.exit_code == 0, res.output
    entries = list((home / "cache" / "csv").glob("*.npz"))
    assert len(entries) == 1
    with _no_parse():
        again = cli("scan", "AAPL", "MSFT", "--json")
    assert again.exit_code == 0 and again.output == res.output
    paths = json.loads(cli("paths", "--json").output)
    assert paths["parsed_csv"]["path"] == str((home / "cache" / "csv").resolve())
    assert Config(data=DataConfig(csv_cache=False)).parsed_csv_dir is None
    shutil.rmtree(home / "cache")
    (hermetic / "config.toml").write_text("[data]\ncsv_cache = false\n")
    off = cli("scan", "AAPL", "MSFT", "--json")
    assert off.exit_code == 0 and off.output == res.output
    assert not (home / "cache").exists()


def test_the_cache_dir_env_var_comes_first(cli, hermetic, monkeypatch, tmp_path):
    monkeypatch.setenv("ETRADE_CLI_CACHE_DIR", str(tmp_path / "elsewhere"))
    paths = json.loads(cli("paths", "--json").output)
    assert paths["parsed_csv"]["path"] == str((tmp_path / "elsewhere" / "csv").resolve())
