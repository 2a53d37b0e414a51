"""Hermetic test environment: the app's home is a temp dir, the working dir is empty, no env
config or secrets leak in from the developer's machine, and nothing can reach the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def csv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One parsed-CSV cache folder for the whole test session."""
    return tmp_path_factory.mktemp("csv-cache")


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, csv_cache: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("ETRADE_CLI_HOME", str(home))
    # one parsed-CSV cache for the whole session (the bundled sample is parsed once, not
    # written again, 6 MB, into every test's home)
    monkeypatch.setenv("ETRADE_CLI_CACHE_DIR", str(csv_cache))
    monkeypatch.setenv("HOME", str(home))  # no apprise config file from the real home
    for var in (
        "ETRADE_CLI_CONFIG",
        "ETRADE_CONSUMER_KEY",
        "ETRADE_CONSUMER_SECRET",
        "ETRADE_SIGNALS_TOKEN",
        "ETRADE_NOTIFY_URLS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ETRADE_CLI_NO_PLUGINS", "1")  # installed plug-ins stay out of our tests
    monkeypatch.chdir(work)
    import signal

    from etrade_cli import interrupts

    # every test starts with Python's own SIGINT handler and no hold (a test that installs
    # run-loop's stop flag or leaves a hold must not change what the next one sees)
    sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(interrupts, "_holding", False)
    import logging

    logger = logging.getLogger("etrade_cli")
    level, handlers = logger.level, list(logger.handlers)
    yield work
    logger.setLevel(level)  # `--debug` changes the package logger; undo it for the next test
    logger.handlers[:] = handlers
    signal.signal(signal.SIGINT, sigint)


@pytest.fixture
def cli():
    """Invoke the `etrade` app in-process; returns the CliRunner result."""
    from typer.testing import CliRunner

    from etrade_cli.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return invoke


CONSUMER_KEY = "282683cc9e4b8fc81dea6bc687d46758"
CONSUMER_SECRET = "c0nsumer-s3cret-value-9f8e7d"
ACCESS_TOKEN = "acc3ss-t0ken-value-AbCdEf"
ACCESS_SECRET = "t0ken-s3cret-value-ZyXwVu"


class FakeClock:
    """A settable UTC clock and a sleep that advances it and records each wait."""

    def __init__(self, start):
        self.t = start
        self.slept: list[float] = []
        self.mono = 0.0

    def now(self):
        return self.t

    def monotonic(self):
        return self.mono

    def sleep(self, seconds: float) -> None:
        import datetime as dt

        self.slept.append(seconds)
        self.mono += seconds
        self.t += dt.timedelta(seconds=seconds)


@pytest.fixture
def etrade_login(monkeypatch, hermetic):
    """E*TRADE credentials in env and a fresh access token in the token store; returns a
    function that writes tokens issued at a given UTC time."""
    import datetime as dt

    from etrade_cli.etrade.auth import FileTokenStore, Tokens

    monkeypatch.setenv("ETRADE_CONSUMER_KEY", CONSUMER_KEY)
    monkeypatch.setenv("ETRADE_CONSUMER_SECRET", CONSUMER_SECRET)

    def write(issued: dt.datetime | None = None, last_used: dt.datetime | None = None):
        issued = issued or dt.datetime.now(dt.timezone.utc)
        t = Tokens(
            "sandbox",
            CONSUMER_KEY,
            ACCESS_TOKEN,
            ACCESS_SECRET,
            issued.replace(microsecond=0).isoformat(),
            (last_used or issued).replace(microsecond=0).isoformat(),
        )
        FileTokenStore("sandbox", CONSUMER_KEY).save(t)
        return t

    write()
    return write


@pytest.fixture
def etrade_cfg():
    from etrade_cli.config import EtradeConfig

    return EtradeConfig(consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)
