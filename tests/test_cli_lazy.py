"""The static command table of `etrade --help` matches the commands themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer._click import Context

from etrade_cli.cli import COMMANDS, app, load_commands


def test_the_command_table_matches_each_module():
    seen: dict[str, str] = {}
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        for name, cmd in load_commands(module).items():
            assert COMMANDS[name][0] == module
            assert not cmd.short_help and not cmd.hidden and not cmd.deprecated
            assert " ".join((cmd.help or "").split("\n\n")[0].split()) == COMMANDS[name][1]
            seen[name] = module
    assert set(seen) == set(COMMANDS)


def test_every_command_resolves_through_the_root_group():
    group = typer.main.get_command(app)
    ctx = Context(group)
    assert all(group.get_command(ctx, name) is not None for name in group.list_commands(ctx))


def test_help_imports_no_command_module():
    code = (
        "import sys\nfrom etrade_cli.cli import main\nsys.argv = ['etrade', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.endswith('_cmd') or m == 'pydantic'))"
    )
    root = str(Path(__file__).resolve().parent.parent)  # this checkout, whatever is installed
    env = {**os.environ, "PYTHONPATH": root}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _run_and_list_modules(args: list[str], tmp_path: Path) -> tuple[int, str, set[str]]:
    """Run `etrade ARGS` in a fresh interpreter (no E*TRADE keys, an empty home); returns its
    exit code, stderr and the modules it had imported when it exited."""
    code = (
        "import atexit, json, sys\nout = sys.argv[1]\n"
        "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
        "from etrade_cli.cli import main\nsys.argv = ['etrade', *sys.argv[2:]]\nmain()\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETRADE_")}
    env.update(PYTHONPATH=root, ETRADE_CLI_HOME=str(tmp_path), ETRADE_CLI_NO_PLUGINS="")
    listing = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(listing), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    import json

    return proc.returncode, proc.stderr, set(json.loads(listing.read_text()))


def test_quote_without_keys_fails_before_anything_heavy_is_imported(tmp_path):
    """The key check comes first: no HTTP stack, no Pydantic (Typer's adapters), no Rich
    console or table, no registry or plug-in scan, no E*TRADE models or events."""
    code, stderr, modules = _run_and_list_modules(["quote", "AAPL"], tmp_path)
    assert code == 4
    assert stderr == (
        "error: no E*TRADE consumer key/secret: set ETRADE_CONSUMER_KEY and "
        "ETRADE_CONSUMER_SECRET (or [etrade] consumer_key/consumer_secret)\n"
    )
    heavy = {
        "requests", "urllib3", "pydantic", "rich.console", "rich.table", "importlib.metadata",
        "pluggy", "etrade_cli.registry", "etrade_cli.etrade.client", "etrade_cli.etrade.auth",
        "etrade_cli.etrade.models", "etrade_cli.events", "etrade_cli.cli.machine", "numpy",
    }  # fmt: skip
    assert not heavy & modules, heavy & modules


def test_a_bad_field_is_still_refused_before_the_missing_keys(tmp_path):
    code, stderr, _ = _run_and_list_modules(["quote", "AAPL", "--fields", "last,nope"], tmp_path)
    assert code == 1 and stderr.startswith("error: unknown field(s) nope; choose from symbol,")


def test_plain_text_parameters_get_what_typers_adapters_would_give():
    """`_process_value` skips Typer's Pydantic adapter only where the adapter returns its
    input: the same values (a list for `list[str]`) as Typer's own coercion."""
    import typer
    from typer.core import _TyperParameter

    from etrade_cli.cli.coerce import _typer_process_value

    sub = typer.Typer(add_completion=False)

    @sub.command()
    def cmd(
        words: list[str] = typer.Argument(...),  # noqa: B008
        name: str = typer.Option(None, "--name"),
        count: int = typer.Option(1, "--count"),
        where: Path = typer.Option(None, "--where"),  # noqa: B008
    ) -> None:
        """A command to coerce values for."""

    command = typer.main.get_command(sub)
    ctx = Context(command)
    values = {"words": ("a", "B c", "ü\udcff"), "name": "x y", "count": "7", "where": "a/b"}
    params = [p for p in command.params if isinstance(p, _TyperParameter)]
    ours = {p.name: type(p).process_value(p, ctx, values[p.name]) for p in params}
    adapted = [p.name for p in params if p._runtime_param is not None]
    assert adapted == []  # text, number and path parameters were not sent through Pydantic
    for p in params:
        p._runtime_param = None
        theirs = _typer_process_value(p, ctx, values[p.name])
        assert ours[p.name] == theirs and type(ours[p.name]) is type(theirs), p.name
    assert ours["words"] == ["a", "B c", "ü\udcff"] and ours["count"] == 7


@pytest.mark.parametrize(
    "message",
    [
        "no keys",
        "a [red]tag[/] \\[x] C:\\dir\\",
        ":smile: 漢字 é",
        "tab\there",
        "two\nlines",
        "\x1b[2J",
    ],
)
def test_an_error_line_is_the_message_as_it_is_with_or_without_rich(message, monkeypatch, capsys):
    """`stderr_line` writes directly when Rich would add no style: the same characters as
    Rich's console (used on a terminal, and for text Rich rewrites: tabs, control codes)."""
    import io

    from rich.console import Console

    from etrade_cli.cli import common

    monkeypatch.delitem(common.__dict__, "err", raising=False)
    common.stderr_line("error", "red", message)
    direct = capsys.readouterr().err
    rich_err = io.StringIO()
    monkeypatch.setitem(common.__dict__, "err", Console(file=rich_err, highlight=False))
    common.stderr_line("error", "red", message)
    assert direct == rich_err.getvalue()
    if message.isprintable():
        assert direct == f"error: {message}\n"


def _coerced_both_ways(command: Any, text: Any) -> Iterator[tuple[Any, object, object, bool]]:
    """For each parameter of `command` given `text`: (parameter, our coercion's outcome, Typer's
    own outcome, whether ours built Typer's Pydantic adapter); an outcome is the value or
    ("error", message)."""
    from typer._click.exceptions import BadParameter
    from typer.core import _TyperParameter

    from etrade_cli.cli.coerce import _typer_process_value

    ctx = Context(command)

    def outcome(process: Any, p: _TyperParameter) -> object:
        try:
            return process(p, ctx, text)
        except BadParameter as exc:
            return ("error", exc.format_message())

    for p in command.params:
        assert isinstance(p, _TyperParameter)
        ours = outcome(type(p).process_value, p)
        adapter = p._runtime_param is not None
        p._runtime_param = None
        yield p, ours, outcome(_typer_process_value, p), adapter


@pytest.mark.parametrize(
    "text", ["cfg.toml", "sub", "missing.toml", "sub/../cfg.toml", "/", "", "cfg.toml/", "sub/"]
)
def test_path_parameters_get_what_typers_adapters_would_give(text, tmp_path, monkeypatch):
    """Single `Path` parameters skip the Pydantic adapter (`Path(value)`) but keep Typer's
    checks: the same value, or the same error, as Typer's own coercion."""
    import typer

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.toml").write_text("")
    (tmp_path / "sub").mkdir()
    sub = typer.Typer(add_completion=False)

    @sub.command()
    def cmd(
        plain: Path = typer.Option(None, "--plain"),  # noqa: B008
        file: Path = typer.Option(None, "--file", dir_okay=False),  # noqa: B008
        existing: Path = typer.Option(None, "--existing", exists=True),  # noqa: B008
        resolved: Path = typer.Option(None, "--resolved", resolve_path=True),  # noqa: B008
    ) -> None:
        """A command to coerce paths for."""

    for p, ours, theirs, adapter in _coerced_both_ways(typer.main.get_command(sub), text):
        assert (not adapter) == (str(Path(text)) == text), p.name  # no adapter
        assert ours == theirs and type(ours) is type(theirs), (p.name, ours, theirs)


def _number_command() -> Any:
    """A Click command with an int, a float, a bounded int and a clamped float option."""
    import typer

    sub = typer.Typer(add_completion=False)

    @sub.command()
    def cmd(
        count: int = typer.Option(1, "--count"),
        cash: float = typer.Option(1.0, "--cash"),
        bounded: int = typer.Option(1, "--bounded", min=0, max=9),
        clamped: float = typer.Option(1.0, "--clamped", min=0, max=9, clamp=True),
    ) -> None:
        """A command to coerce numbers for."""

    return typer.main.get_command(sub)


@pytest.mark.parametrize(
    "text", ["10", "007", "-3", "2.50", "1e3", " 4", "1_000", "x", "0.1", "9" * 40, "1" * 5000]
)
def test_number_parameters_get_what_typers_adapters_would_give(text):
    """Plain decimals skip the adapter for an int or float (`int(text)`, `float(text)`), inside
    its bounds when it has some; anything else gets Typer's own answer (errors, clamping)."""
    for p, ours, theirs, adapter in _coerced_both_ways(_number_command(), text):
        digits = text.lstrip("-").replace(".", "", p.name in ("cash", "clamped"))
        plain = digits.isdigit() and len(digits) <= 18
        if p.name in ("bounded", "clamped"):
            plain = plain and 0 <= float(text) <= 9
        assert (not adapter) == plain, p.name
        assert ours == theirs and type(ours) is type(theirs), (p.name, ours, theirs)


@pytest.mark.parametrize("value", [0, 3, 9, 10, -1, 2.5, 2.0, True, 2**60, 1.0, 9.5])
def test_number_defaults_get_what_typers_adapters_would_give(value):
    """Defaults arrive as numbers: one of the parameter's own type (an int for a float too)
    inside its bounds is kept as it is; anything else gets Typer's own answer."""
    for p, ours, theirs, _ in _coerced_both_ways(_number_command(), value):
        assert ours == theirs and type(ours) is type(theirs), (p.name, ours, theirs)


@pytest.mark.parametrize(
    "args",
    [
        ["backtest", "--symbols", "AAPL", "--json"],
        ["paths", "--json"],
        ["plugins", "--json"],
    ],
)
def test_json_output_builds_no_rich_console(tmp_path, args):
    """Commands whose modules print with Rich elsewhere import its console only to print a
    table: `--json` output never needs it (about 30 ms of start-up)."""
    code, stderr, modules = _run_and_list_modules(args, tmp_path)
    assert code == 0, stderr
    assert "rich.console" not in modules
    assert "pydantic" not in modules  # bounded numbers and defaults need no adapter
    if args[0] == "backtest":  # no subscriber: no event is built, the module stays unloaded
        assert "etrade_cli.events" not in modules
