"""Hermetic test environment: the app's home is a temp dir, the working dir is empty, no env
config or secrets leak in from the developer's machine, and nothing can reach the network."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("ETRADE_CLI_HOME", str(home))
    for var in ("ETRADE_CLI_CONFIG", "ETRADE_CONSUMER_KEY", "ETRADE_CONSUMER_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def cli():
    """Invoke the `etrade` app in-process; returns the CliRunner result."""
    from typer.testing import CliRunner

    from etrade_cli.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return invoke
