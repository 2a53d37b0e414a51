"""SQLite plumbing shared by the position book (`store.py`) and the bar cache: connection
settings, one-transaction writes, append-only named migrations recorded in the database, and
the translation of SQLite's failures into the CLI's one-line errors.

Every statement runs through `Connection`/`_Cursor`, which turn the conditions a user can meet
into typed errors naming the file (exit codes in `errors.ExitStatus`):

| SQLite result | error | exit |
|---|---|---|
| SQLITE_BUSY / SQLITE_LOCKED after `BUSY_TIMEOUT_S` | `BusyError` "... is busy", with the holder | 7 |
| SQLITE_READONLY | `ReadOnlyError` | 9 |
| SQLITE_CORRUPT / SQLITE_NOTADB | `CorruptError` | 10 |
| SQLITE_FULL | `DiskFullError` | 11 |
| SQLITE_CANTOPEN / SQLITE_IOERR | `StorageError` | 1 |

Other errors (constraint violations: the journal's duplicate guard) pass through unchanged.
A failing write is rolled back by `transaction`, so no error leaves a half-written row.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import (
    BusyError,
    CorruptError,
    DiskFullError,
    EtradeCliError,
    ReadOnlyError,
    StorageError,
)

Migration = tuple[str, Callable[[sqlite3.Connection], None]]

#: seconds a statement waits for another connection's write transaction before `BusyError`
BUSY_TIMEOUT_S = 10.0

# primary result codes (https://sqlite.org/rescode.html)
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
# Python 3.10 has no `sqlite_errorcode`: the message tells the primary code
_BY_MESSAGE = (
    ("database is locked", _BUSY),
    ("database table is locked", _LOCKED),
    ("readonly database", _READONLY),
    ("disk i/o error", _IOERR),
    ("malformed", _CORRUPT),
    ("disk is full", _FULL),
    ("unable to open database", _CANTOPEN),
    ("file is not a database", _NOTADB),
)


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF  # extended codes carry the primary one in the low byte
    text = str(exc).lower()
    return next((c for needle, c in _BY_MESSAGE if needle in text), None)


def translate(exc: sqlite3.Error, path: Path | str, label: str = "the database") -> Exception:
    """The user-facing error for an SQLite failure on `path`, or `exc` itself when it is not
    one of the conditions in the module table (e.g. `sqlite3.IntegrityError`).

    Args:
        label: what the file is, for the message ("the position book", "the bar cache").
    """
    code, what = _code(exc), f"{label} {path}"
    if code in (_BUSY, _LOCKED):
        return BusyError(
            f"{what} is busy: {holders(path)} holds a write transaction on it; gave up after "
            f"{BUSY_TIMEOUT_S:g} s, nothing was written (try again when it has finished)"
        )
    if code == _READONLY:
        return ReadOnlyError(
            f"{what} is read-only ({exc}): make the file and its folder writable, "
            "or use another --db"
        )
    if code in (_CORRUPT, _NOTADB):
        return CorruptError(
            f"{what} is not a usable SQLite database ({exc}); restore it from a backup "
            "or use another --db"
        )
    if code == _FULL:
        return DiskFullError(f"the disk is full: cannot write {what} ({exc}); nothing was written")
    if code in (_CANTOPEN, _IOERR):
        return StorageError(f"cannot use {what} ({exc}): check the path and its permissions")
    return exc


def holders(path: Path | str) -> str:
    """Who else has `path` (or its WAL) open, as "pid 123 (sqlite3 book.db)", for messages.

    Uses psutil when installed; "another program" when no other process can be named.
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return "another program"
    target = os.path.realpath(path)
    names = {target, target + "-wal", target + "-journal"}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            if any(f.path in names for f in proc.open_files()):
                cmd = " ".join(" ".join(proc.info["cmdline"] or []).split())[:60]
                found.append(f"pid {proc.pid} ({cmd})" if cmd else f"pid {proc.pid}")
        except (psutil.Error, OSError):
            continue
    return ", ".join(found[:3]) if found else "another program"


class _Cursor(sqlite3.Cursor):
    """A cursor whose failures become the errors of `translate`."""

    def _fail(self, exc: sqlite3.Error) -> Exception:
        con = self.connection
        return translate(exc, getattr(con, "path", "?"), getattr(con, "label", "the database"))

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:  # type: ignore[override]
        try:
            super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        return self

    def executemany(self, sql: str, seq: Any, /) -> _Cursor:  # type: ignore[override]
        try:
            super().executemany(sql, seq)
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc) from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            raise self._fail(exc) from None


class Connection(sqlite3.Connection):
    """`sqlite3.Connection` whose statements raise the errors of `translate`.

    Attributes:
        path: the database file. label: what it is, for messages.
    """

    path: str = "?"
    label: str = "the database"

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor(_Cursor).execute(sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor(_Cursor).executemany(sql, seq)


def cursor(db: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor of `db` whose failures become the errors of `translate` (to reuse for a
    statement run many times; `db.execute` makes a new cursor each time)."""
    return db.cursor(_Cursor)


def connect(path: Path | str, label: str = "the database") -> sqlite3.Connection:
    """Open `path` in autocommit mode (transactions are explicit), WAL, foreign keys on; a
    statement waits at most `BUSY_TIMEOUT_S` for another writer.

    Raises:
        BusyError, ReadOnlyError, CorruptError, DiskFullError, StorageError: see `translate`.
    """
    try:
        db = sqlite3.connect(
            str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S, factory=Connection
        )
    except sqlite3.Error as exc:
        raise translate(exc, path, label) from None
    db.path, db.label = str(path), label
    db.row_factory = sqlite3.Row
    try:
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except ReadOnlyError:
            pass  # a read-only file can still be read; writes raise ReadOnlyError
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; SQLite may already have rolled back (SQLITE_FULL)."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except (sqlite3.Error, EtradeCliError):
            pass


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception (including KeyboardInterrupt and
    a failing COMMIT), so a failed write leaves nothing behind.

    Inside an open transaction (a `batch`), a SAVEPOINT instead: the block is still all or
    nothing, and it becomes durable when the outer transaction commits."""
    if db.in_transaction:
        db.execute("SAVEPOINT tx")
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled the whole batch back already
                try:
                    db.execute("ROLLBACK TO tx")
                    db.execute("RELEASE tx")
                except (sqlite3.Error, EtradeCliError):
                    pass
            raise
        db.execute("RELEASE tx")
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise


@contextmanager
def batch(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One outer write transaction around many `transaction` blocks (each then a savepoint):
    one commit instead of one per block. An exception (or a failing COMMIT) rolls the whole
    batch back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, in order, each in its own transaction; return
    the names applied. A failing migration rolls back and is not recorded. A database that is
    up to date is only read (so a read-only book can still be shown)."""
    has_table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
    ).fetchone()
    if not has_table:
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    done = {r[0] for r in db.execute("SELECT name FROM migrations")}
    applied = []
    for name, fn in migrations:
        if name in done:
            continue
        rebuild = getattr(fn, "rebuilds_tables", False)
        if rebuild:  # SQLite's table-rebuild procedure: foreign keys off, checked before commit
            db.execute("PRAGMA foreign_keys=OFF")
        try:
            with transaction(db):
                fn(db)
                if rebuild and db.execute("PRAGMA foreign_key_check").fetchone():
                    raise sqlite3.IntegrityError(f"{name}: foreign key check failed")
                db.execute(
                    "INSERT INTO migrations VALUES (?, ?)",
                    (name, dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()),
                )
        finally:
            if rebuild:
                db.execute("PRAGMA foreign_keys=ON")
        applied.append(name)
    return applied
