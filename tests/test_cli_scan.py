"""`etrade scan` and `etrade config` as a user runs them: exit codes and output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from etrade_cli.errors import ExitStatus


def test_scan_defaults_to_the_latest_session_of_the_bundled_data(cli):
    r = cli("scan", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["session"] == "2010-08-20" and doc["universe"] == 40
    assert doc["signals"], "the sample has signals on the default watchlist at 2010-08-20"
    for s in doc["signals"]:
        assert s["result"] == "signal" and s["action"] in {"B1", "B2", "OPP", "SKIP"}
        assert s["score"] == pytest.approx(sum(s["parts"].values()))
    scores = [s["score"] for s in doc["signals"]]
    assert scores == sorted(scores, reverse=True)
    assert sum(doc["rejected"].values()) + len(doc["signals"]) == 40


def test_scan_table_lists_signals_and_a_rejection_summary(cli):
    r = cli("scan")
    assert r.exit_code == 0
    assert "Signals at 2010-08-20" in r.stdout
    assert "rejected: structure" in r.stdout.replace("\n", " ")


def test_scan_all_lists_every_symbol_with_its_first_failing_filter(cli):
    r = cli("scan", "--all", "--json")
    doc = json.loads(r.stdout)
    assert len(doc["symbols"]) == 40
    results = {s["symbol"]: s["result"] for s in doc["symbols"]}
    assert results["AMGN"] == "no_bar"  # the sample has no AMGN bar on 2010-08-20
    assert {"structure", "signal"} <= set(results.values())


def test_scan_csv_has_a_header_and_one_row_per_symbol_with_all(cli):
    r = cli("scan", "--all", "--csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 40 and rows[0].keys() >= {"symbol", "result", "score", "action"}


def test_scan_as_of_uses_the_last_bar_on_or_before(cli):
    r = cli("scan", "ED", "NKE", "--as-of", "2010-08-22", "--json")  # a Sunday
    assert json.loads(r.stdout)["session"] == "2010-08-20"
    r = cli("scan", "ED", "--as-of", "2010-01-15", "--json")
    assert json.loads(r.stdout)["rejected"] == {"maturity": 1}


def test_scan_explicit_symbols_respect_the_exclusion_list(cli, hermetic: Path):
    (hermetic / "exclusionlist.txt").write_text("ED\n")
    r = cli("scan", "ED", "NKE", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["universe"] == 1
    assert "skipping excluded symbol(s): ED" in r.stderr


def test_scan_watchlist_option(cli, hermetic: Path):
    (hermetic / "mine.txt").write_text("ed\nnke\nNOPE\n")
    r = cli("scan", "--watchlist", "mine.txt", "--json")
    doc = json.loads(r.stdout)
    assert doc["universe"] == 3 and doc["rejected"].get("no_data") == 1


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["scan", "--as-of", "2010-02-30"], ExitStatus.ERROR, "bad --as-of '2010-02-30'"),
        (["scan", "ZZZZ"], ExitStatus.ERROR, "no data for symbol(s): ZZZZ"),
        (["scan", "A$B"], ExitStatus.ERROR, "not a valid symbol"),
        (["scan", "--as-of", "1990-01-01"], ExitStatus.ERROR, "no bars on or before"),
        (["scan", "--json", "--csv"], ExitStatus.USAGE, "choose one of --json and --csv"),
        (["scan", "--watchlist", "missing.txt"], ExitStatus.CONFIG, "cannot read symbol list"),
        (["--config", "missing.toml", "scan"], ExitStatus.CONFIG, "config file not found"),
    ],
)
def test_user_errors_are_one_line_with_exit_codes(cli, args, code, message):
    r = cli(*args)
    assert r.exit_code == code, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


def test_bad_csv_in_config_is_a_data_error(cli, hermetic: Path):
    (hermetic / "bad.csv").write_text("nothing,useful\n1,2\n")
    (hermetic / "config.toml").write_text("[data]\ncsv_paths = ['bad.csv']\n")
    r = cli("scan")
    assert r.exit_code == ExitStatus.ERROR and "missing column(s)" in r.stderr


def test_per_symbol_csv_data_source(cli, hermetic: Path):
    from tests.conftest import DATA

    (hermetic / "config.toml").write_text(
        f"[data]\ncsv_paths = ['{DATA / 'NFLX_daily_2018-2022.csv'}']\n"
    )
    r = cli("scan", "NFLX", "--all", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["session"] == "2022-02-04" and doc["symbols"][0]["symbol"] == "NFLX"


def test_bad_config_exit_3(cli, hermetic: Path):
    (hermetic / "config.toml").write_text("[risk]\nmax_ticket_usd = -5\n")
    r = cli("scan")
    assert r.exit_code == ExitStatus.CONFIG
    assert "config.toml: [risk] max_ticket_usd: must be > 0.0" in r.stderr


def test_config_show_masks_secrets_and_check_passes(cli, hermetic: Path, monkeypatch):
    monkeypatch.setenv("ETRADE_CONSUMER_SECRET", "verysecretsecret42")
    r = cli("config", "show", "--json")
    assert r.exit_code == 0
    assert "verysecretsecret42" not in r.stdout
    assert json.loads(r.stdout)["broker"]["name"] == "paper"
    r = cli("config", "show")
    assert "verysecretsecret42" not in r.stdout and "[strategy]" in r.stdout
    r = cli("config", "check")
    assert r.exit_code == 0 and "40 symbols" in r.stdout


def test_every_command_has_help(cli):
    import typer.main

    from etrade_cli.cli import app

    group = typer.main.get_command(app)

    def walk(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path, cmd in walk(group, []):
        assert (cmd.help or "").strip(), path
        r = cli(*path, "--help")
        assert r.exit_code == 0, path


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.startswith("etrade-cli ")


def test_python_dash_m_runs_the_same_app():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "etrade_cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.startswith("etrade-cli ")


def test_an_internal_bug_is_one_line_not_a_traceback(cli, monkeypatch):
    import etrade_cli.scanner as scanner

    def boom(*a, **kw):
        raise ValueError("unexpected shape")

    monkeypatch.setattr(scanner, "scan", boom)
    r = cli("scan")
    assert r.exit_code == ExitStatus.ERROR
    assert r.stderr.strip() == (
        "error: internal error: ValueError: unexpected shape (this is a "
        "bug; rerun with --debug for the traceback)"
    )
    assert "Traceback" not in r.output
