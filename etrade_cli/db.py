"""SQLite plumbing shared by the position book (`store.py`) and the bar cache: connection
settings, one-transaction writes, and append-only named migrations recorded in the database."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def connect(path: Path | str) -> sqlite3.Connection:
    """Open `path` in autocommit mode (transactions are explicit), WAL, foreign keys on.

    Raises:
        sqlite3.DatabaseError: not an SQLite database.
    """
    db = sqlite3.connect(str(path), isolation_level=None, timeout=10)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception (including KeyboardInterrupt).

    Inside an open transaction (a `batch`), a SAVEPOINT instead: the block is still all or
    nothing, and it becomes durable when the outer transaction commits."""
    if db.in_transaction:
        db.execute("SAVEPOINT tx")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK TO tx")
            db.execute("RELEASE tx")
            raise
        db.execute("RELEASE tx")
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def batch(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One outer write transaction around many `transaction` blocks (each then a savepoint):
    one commit instead of one per block. An exception rolls the whole batch back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, in order, each in its own transaction; return
    the names applied. A failing migration rolls back and is not recorded."""
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
