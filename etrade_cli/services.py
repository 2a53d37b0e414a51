"""Builds the library's objects from a validated `Config`: the bar provider, the store, the book.

The CLI calls these so that commands stay thin and every command wires things the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config
    from .marketdata.provider import CsvBarProvider
    from .strategy.dual import Book


def bar_provider(cfg: Config) -> CsvBarProvider:
    """The configured daily-bar source (`[data]`): CSV files, the bundled sample by default."""
    from .marketdata.provider import CsvBarProvider

    paths = [cfg.resolve(p) for p in cfg.data.csv_paths]
    return CsvBarProvider(paths or None)


def open_book(cfg: Config) -> Book:
    """Open positions of the position book as a `Book`; empty when no database exists yet."""
    from .strategy.dual import Book

    return Book()
