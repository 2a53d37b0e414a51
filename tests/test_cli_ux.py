"""The command line as a user meets it: global options anywhere, one-line usage errors, help
with literal section names and examples, shell completion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer.main

from etrade_cli.cli import app, move_globals
from etrade_cli.cli.examples import EXAMPLES
from etrade_cli.errors import ExitStatus


@pytest.mark.parametrize(
    "given, expected",
    [
        (["positions", "--db", "x.db", "--json"], ["--db", "x.db", "positions", "--json"]),
        (["--db", "g.db", "backtest"], ["backtest", "--db", "g.db"]),  # backtest's own --db
        (["--broker", "paper", "positions"], ["positions", "--broker", "paper"]),
        (["config", "--db", "x", "show"], ["--db", "x", "config", "show"]),
        (["scan", "A", "--debug", "-c", "c.toml"], ["--debug", "-c", "c.toml", "scan", "A"]),
        (["--db=x", "positions", "--config=u"], ["--db=x", "--config=u", "positions"]),
        (["scan", "--", "--db"], ["scan", "--", "--db"]),
        (["nope", "--db", "x"], ["nope", "--db", "x"]),
    ],
)
def test_global_options_move_to_where_they_are_defined(given, expected):
    assert move_globals(typer.main.get_command(app), given) == expected


@pytest.fixture
def demo_book(cli, hermetic: Path) -> Path:
    r = cli("backtest", "--db", "demo.db", "--start", "2010-07-01", "--symbols", "IBM,BA,ED")
    assert r.exit_code == 0, r.output
    return hermetic / "demo.db"


def test_db_before_or_after_the_command_shows_the_same_book(cli, demo_book):
    after = cli("positions", "--db", "demo.db", "--json")
    before = cli("--db", "demo.db", "positions", "--json")
    assert after.exit_code == before.exit_code == 0
    assert after.stdout == before.stdout
    assert json.loads(after.stdout)["positions"], "the backtest left open positions"
    assert cli("report", "--db", "demo.db").stdout == cli("--db", "demo.db", "report").stdout


def test_global_db_before_backtest_means_its_own_db(cli, hermetic: Path):
    r = cli("--db", "g.db", "backtest", "--start", "2010-08-01", "--symbols", "IBM")
    assert r.exit_code == 0, r.output
    assert (hermetic / "g.db").exists()


@pytest.mark.parametrize("cmd", [["positions"], ["report"], ["positions", "--closed"]])
def test_a_missing_db_is_refused_by_read_only_commands(cli, hermetic: Path, cmd):
    r = cli("--db", "missing.db", *cmd)
    assert r.exit_code == ExitStatus.ERROR
    assert r.stderr.startswith("error: no position book at missing.db")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (hermetic / "missing.db").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["positions", "--dbx", "a"], "error: No such option: --dbx"),
        (["nope"], "error: No such command 'nope'"),
        (["--nope"], "error: No such option: --nope"),
        (["run-once", "--as-of"], "error: Option '--as-of' requires an argument"),
        (["scan", "--json", "--csv"], "error: choose one of --json and --csv"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(cli, args, message):
    r = cli(*args)
    assert r.exit_code == ExitStatus.USAGE
    assert r.stderr.startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "╭" not in r.stderr


def _commands(group, path="etrade"):
    from typer._click import Context

    ctx = Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):
            yield from _commands(cmd, f"{path} {name}")
        else:
            yield f"{path} {name}"


def test_every_command_has_an_example_in_its_help(cli):
    paths = [*_commands(typer.main.get_command(app)), "etrade backtest"]
    assert "etrade scan" in paths and "etrade config show" in paths
    missing = [p for p in paths if p not in EXAMPLES]
    assert not missing, f"add examples to cli/examples.py for: {missing}"
    for path in paths:
        r = cli(*path.split()[1:], "--help")
        assert r.exit_code == 0, path
        assert "Examples:" in r.stdout and EXAMPLES[path][0] in r.stdout, path
        assert "<bool>" not in r.stdout, path


@pytest.mark.parametrize(
    "cmd, cited",
    [
        ("scan", ["etrade scan AAPL MSFT --as-of 2010-08-20"]),
        ("run-once", ["[risk]", "[paths]"]),
        ("backtest", ["[broker]", "[paths]", "[risk]"]),
    ],
)
def test_help_shows_config_section_names_literally(cli, cmd, cited, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    r = cli(cmd, "--help")
    assert r.exit_code == 0
    for text in cited:
        assert text in r.stdout, text
    assert "etrade " + cmd in r.stdout.split("Examples:")[1]


@pytest.mark.parametrize(
    "shell, marker", [("bash", "complete"), ("zsh", "compdef"), ("fish", "complete")]
)
def test_show_completion_prints_a_script(cli, shell, marker):
    r = cli("--show-completion", shell)
    assert r.exit_code == 0, r.output
    assert "_ETRADE_COMPLETE" in r.stdout and marker in r.stdout


@pytest.mark.parametrize(
    "words, cword, expected",
    [
        ("etrade run-once --broker ", 3, {"paper", "etrade", "alpaca", "schwab", "ibkr"}),
        ("etrade positions --broker p", 3, {"paper"}),
        ("etrade order preview AAPL -q 1 --type ST", 7, {"STOP", "STOP_LIMIT"}),
        ("etrade scan AM", 2, {"AMZN", "AMGN"}),
        ("etrade run-", 1, {"run-once", "run-loop"}),
        ("etrade run-once --strategy raj", 3, {"rajat_alpha"}),
    ],
)
def test_completion_offers_commands_and_config_choices(words, cword, expected):
    from typer.testing import CliRunner

    env = {"_ETRADE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    r = CliRunner().invoke(app, [], env=env, prog_name="etrade")
    assert set(r.stdout.split()) == expected, r.output
