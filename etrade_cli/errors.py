"""The error taxonomy and its exit codes, in one place.

Every error a user can cause or meet is one of these classes. The CLI's single error boundary
(`etrade_cli.cli.app`) turns them into a one-line message on stderr and the class's exit code;
nothing else in the package decides exit codes. Codes follow `docs/style.md`: config 3, auth 4,
API 5, order rejected 6, Ctrl-C 130; Click owns 2 (usage errors); busy 7; the databases'
read-only 9, corrupt 10 and disk-full 11 conditions (`etrade_cli.db.translate`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes of the `etrade` command."""

    OK = 0
    ERROR = 1  # bad input or data: missing file, bad CSV, unknown symbol, bad date
    USAGE = 2  # owned by Click: unknown option, missing argument
    CONFIG = 3
    AUTH = 4
    API = 5
    ORDER_REJECTED = 6
    BUSY = 7  # another run holds the trading lock, or the book is busy (locked by a writer)
    RECONCILE = 8  # the book and the broker disagree and a person must decide
    READ_ONLY = (
        9  # a database (the book, the bar cache) cannot be written: file or folder read-only
    )
    CORRUPT = 10  # a database file is not an SQLite database or is damaged
    DISK_FULL = 11  # the disk (or the database's size limit) is full
    INTERRUPTED = 130


class EtradeCliError(Exception):
    """Base of every expected error; `str(err)` is the one-line message shown to the user."""

    exit_code: ExitStatus = ExitStatus.ERROR


class InputError(EtradeCliError):
    """Bad user input: an unknown symbol, a malformed date, a non-positive quantity."""


class UsageError(EtradeCliError):
    """A command line that asks for something that does not exist (an unknown broker name)."""

    exit_code = ExitStatus.USAGE


class DataError(EtradeCliError):
    """Market data that cannot be read or used: a missing or malformed CSV, no bars for a symbol."""


class ConfigError(EtradeCliError):
    """A config file or symbol list that does not validate; the message names file, section, key."""

    exit_code = ExitStatus.CONFIG


class AuthError(EtradeCliError):
    """Missing, expired or rejected OAuth tokens; the message says which command fixes it."""

    exit_code = ExitStatus.AUTH


class ApiError(EtradeCliError):
    """An error answered by a broker's API (E*TRADE `{"Error":{"code","message"}}` and the like).

    Attributes:
        code: the broker's error code (E*TRADE's integer `Error.code`), or None.
        status: the HTTP status, or None.
    """

    exit_code = ExitStatus.API

    def __init__(self, message: str, code: int | str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class TemporaryApiError(ApiError):
    """A failure worth retrying for idempotent requests: 429, 5xx, timeouts, rate-limit pages."""


class OrderRejectedError(EtradeCliError):
    """An order refused by a risk check, a safety rule or the broker."""

    exit_code = ExitStatus.ORDER_REJECTED


class BusyError(EtradeCliError):
    """Another `run-once`/`run-loop` holds the trading lock, or another program holds a write
    transaction on the book for longer than the bounded wait (`db.BUSY_TIMEOUT_S`)."""

    exit_code = ExitStatus.BUSY


class StorageError(EtradeCliError):
    """A database (the position book, the bar cache) that cannot be used as it is: the base of
    the read-only, corrupt and disk-full errors. Nothing was written when it is raised: the
    transaction in progress was rolled back."""


class ReadOnlyError(StorageError):
    """The database file or its folder cannot be written (permissions, read-only mount)."""

    exit_code = ExitStatus.READ_ONLY


class CorruptError(StorageError):
    """The file is not an SQLite database, or SQLite reports it damaged (malformed image)."""

    exit_code = ExitStatus.CORRUPT


class DiskFullError(StorageError):
    """The disk holding the database is full (SQLITE_FULL)."""

    exit_code = ExitStatus.DISK_FULL


class ReconcileError(EtradeCliError):
    """The position book and the broker disagree in a way the tool must not resolve by itself."""

    exit_code = ExitStatus.RECONCILE
