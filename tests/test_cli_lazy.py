"""The static command table of `etrade --help` matches the commands themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
