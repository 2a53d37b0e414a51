"""The SQLite position book and order journal (stdlib `sqlite3`, WAL, one transaction per write).

Schema changes are an append-only list of named migrations (`MIGRATIONS`), each applied once and
recorded in the `migrations` table; never edit a released migration, add a new one.

Times: `*_at` columns are UTC ISO-8601 timestamps; `*_date` columns are exchange session dates
(US/Eastern calendar days, YYYY-MM-DD). Money in USD, quantities in whole shares.

The journal is the duplicate guard of the trading loop: every order intent is inserted before it
is sent, and two partial unique indexes make a second live order for the same position exit, or a
second entry in the same symbol on the same session, impossible at the database level.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import db as dbutil
from .errors import ConfigError, DataError, InputError

#: journal statuses that are not final (final: filled, cancelled, rejected)
LIVE_STATUSES = ("intent", "previewed", "placed", "unknown", "partially_filled")


_NOW: tuple[int, str] = (-1, "")
#: how a write to `runs` moves a broker account's last session: (book, before) -> after
_LastSession = Callable[[tuple[str, str], "str | None"], "str | None"]


_RUN_ROW = (
    "INSERT INTO runs (id, started_at, as_of, mode, broker, account, ended_at, outcome, "
    "session_date, counts, error, equity, cash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _keep_last(_book: tuple[str, str], last: str | None) -> str | None:
    """A started run is not completed: no broker account's last session moves."""
    return last


def utcnow() -> str:
    """Now as a UTC ISO-8601 string (seconds precision); formatted once per second."""
    global _NOW
    second = int(time.time())
    if second != _NOW[0]:
        stamp = dt.datetime.fromtimestamp(second, dt.timezone.utc).isoformat()
        _NOW = (second, stamp)
    return _NOW[1]


_COUNTS_JSON: dict[tuple[tuple[str, int], ...], str] = {}
#: this process's migrated empty book (in memory), copied by `Store.fresh`
_TEMPLATE: Store | None = None


def _counts_json(counts: dict[str, Any] | None) -> str:
    """`json.dumps(counts or {})`, remembered for counts of whole numbers (a backtest finishes
    thousands of runs with a few dozen distinct counts)."""
    counts = counts or {}
    if not all(type(v) is int for v in counts.values()):
        return json.dumps(counts)
    key = tuple(counts.items())
    text = _COUNTS_JSON.get(key)
    if text is None:
        text = json.dumps(counts)
        if len(_COUNTS_JSON) < 4096:
            _COUNTS_JSON[key] = text
    return text


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run `;`-separated DDL inside the current transaction (`executescript` would commit)."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def m001_initial(db: sqlite3.Connection) -> None:
    """Positions, partial exits, the order journal, fills, refusals, runs, the paper account."""
    _script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE positions (
            id INTEGER PRIMARY KEY,
            symbol TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('B1', 'B2')),
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'open', 'closed', 'cancelled')),
            entry_date TEXT,
            entry_price REAL,
            original_qty INTEGER NOT NULL DEFAULT 0,
            remaining_qty INTEGER NOT NULL DEFAULT 0,
            stop_loss REAL,
            targets_hit INTEGER NOT NULL DEFAULT 0,
            exit_date TEXT,
            exit_price REAL,
            exit_reason TEXT,
            realized_pnl REAL NOT NULL DEFAULT 0,
            score REAL,
            pattern TEXT,
            opened_at TEXT NOT NULL,
            closed_at TEXT
        );
        CREATE INDEX positions_status ON positions (broker, account, status);
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            client_order_id TEXT NOT NULL UNIQUE,
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL', 'BUY_TO_COVER', 'SELL_SHORT')),
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            price_type TEXT NOT NULL DEFAULT 'MARKET',
            limit_price REAL,
            stop_price REAL,
            order_term TEXT NOT NULL DEFAULT 'GOOD_FOR_DAY',
            market_session TEXT NOT NULL DEFAULT 'REGULAR',
            purpose TEXT NOT NULL,
            position_id INTEGER REFERENCES positions (id),
            session_date TEXT NOT NULL,
            status TEXT NOT NULL,
            broker_order_id TEXT,
            preview_id TEXT,
            filled_qty INTEGER NOT NULL DEFAULT 0,
            avg_fill_price REAL,
            message TEXT,
            run_id INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX orders_one_live_exit ON orders (position_id, purpose)
            WHERE purpose LIKE 'EXIT%' AND status NOT IN ('cancelled', 'rejected');
        CREATE UNIQUE INDEX orders_one_entry_per_session ON orders (broker, account, symbol, session_date)
            WHERE purpose LIKE 'ENTRY%' AND status NOT IN ('cancelled', 'rejected');
        CREATE INDEX orders_status ON orders (status);
        CREATE TABLE fills (
            id INTEGER PRIMARY KEY,
            order_id INTEGER NOT NULL REFERENCES orders (id),
            fill_key TEXT NOT NULL UNIQUE,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            price REAL NOT NULL,
            commission REAL NOT NULL DEFAULT 0,
            session_date TEXT NOT NULL,
            filled_at TEXT NOT NULL
        );
        CREATE TABLE partial_exits (
            id INTEGER PRIMARY KEY,
            position_id INTEGER NOT NULL REFERENCES positions (id),
            order_id INTEGER REFERENCES orders (id),
            reason TEXT NOT NULL,
            session_date TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            price REAL NOT NULL,
            realized_pnl REAL NOT NULL
        );
        CREATE TABLE refusals (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs (id),
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            session_date TEXT NOT NULL,
            symbol TEXT NOT NULL,
            action TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            as_of TEXT,
            session_date TEXT,
            mode TEXT NOT NULL,
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            outcome TEXT,
            counts TEXT,
            error TEXT,
            equity REAL,
            cash REAL
        );
        CREATE TABLE paper_accounts (
            account TEXT PRIMARY KEY,
            starting_cash REAL NOT NULL,
            commission REAL NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE paper_orders (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            client_order_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            price_type TEXT NOT NULL,
            limit_price REAL,
            status TEXT NOT NULL,
            fill_price REAL,
            commission REAL NOT NULL DEFAULT 0,
            message TEXT,
            session_date TEXT,
            placed_at TEXT NOT NULL,
            UNIQUE (account, client_order_id)
        );
        """,
    )
    alphabet = string.ascii_uppercase + string.digits
    tag = "".join(secrets.choice(alphabet) for _ in range(6))
    db.execute("INSERT INTO meta (key, value) VALUES ('order_tag', ?)", (tag,))


def m002_strategy_tag(db: sqlite3.Connection) -> None:
    """Positions record their strategy and a free-form tag: `kind` loses its B1/B2 check (it is
    the strategy's position tag; B1/B2 for Rajat Alpha) and `strategy` names the strategy
    (existing rows: rajat_alpha). SQLite cannot drop a CHECK, so the table is rebuilt with
    every row and id kept (SQLite's rebuild procedure: `db.migrate` turns foreign keys off for
    it and runs the foreign key check before commit)."""
    cols = [r[1] for r in db.execute("PRAGMA table_info(positions)")]
    _script(
        db,
        """
        CREATE TABLE positions_new (
            id INTEGER PRIMARY KEY,
            symbol TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'open', 'closed', 'cancelled')),
            entry_date TEXT,
            entry_price REAL,
            original_qty INTEGER NOT NULL DEFAULT 0,
            remaining_qty INTEGER NOT NULL DEFAULT 0,
            stop_loss REAL,
            targets_hit INTEGER NOT NULL DEFAULT 0,
            exit_date TEXT,
            exit_price REAL,
            exit_reason TEXT,
            realized_pnl REAL NOT NULL DEFAULT 0,
            score REAL,
            pattern TEXT,
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            strategy TEXT NOT NULL DEFAULT 'rajat_alpha'
        )
        """,
    )
    names = ", ".join(cols)
    db.execute(f"INSERT INTO positions_new ({names}) SELECT {names} FROM positions")
    _script(
        db,
        """
        DROP TABLE positions;
        ALTER TABLE positions_new RENAME TO positions;
        CREATE INDEX positions_status ON positions (broker, account, status)
        """,
    )


m002_strategy_tag.rebuilds_tables = True  # type: ignore[attr-defined]


def m003_backtest_results(db: sqlite3.Connection) -> None:
    """Stored backtest results (`etrade backtest list/show`): parameters, data range,
    statistics and trades as the JSON document the backtest printed."""
    _script(
        db,
        """
        CREATE TABLE backtest_results (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            start_date TEXT NOT NULL,
            end_date TEXT NOT NULL,
            symbols INTEGER NOT NULL,
            trades INTEGER NOT NULL,
            return_pct REAL,
            document TEXT NOT NULL
        )
        """,
    )


def m004_signal_proposals(db: sqlite3.Connection) -> None:
    """Proposals of a proposing strategy (the `http` signal service) with their outcome and the
    journal row each became, and the rewards outbox: one row per reward to deliver, kept until
    the service accepts it (`idempotency_key` is sent with every attempt)."""
    _script(
        db,
        """
        CREATE TABLE proposals (
            id INTEGER PRIMARY KEY,
            proposal_id TEXT NOT NULL,
            strategy TEXT NOT NULL,
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            session_date TEXT NOT NULL,
            run_id INTEGER REFERENCES runs (id),
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('ordered', 'refused', 'rejected')),
            reason TEXT,
            client_order_id TEXT,
            order_id INTEGER REFERENCES orders (id),
            position_id INTEGER REFERENCES positions (id),
            stop_loss REAL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX proposals_order ON proposals (order_id) WHERE order_id IS NOT NULL;
        CREATE INDEX proposals_position ON proposals (position_id);
        CREATE TABLE rewards (
            id INTEGER PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            proposal_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('fill', 'close')),
            fill_id INTEGER REFERENCES fills (id),
            position_id INTEGER REFERENCES positions (id),
            body TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX rewards_pending ON rewards (broker, account, status)
        """,
    )


def m005_runs_last_session(db: sqlite3.Connection) -> None:
    """Index the completed runs by account and session: `last_session` and `equity_curve` read
    the index instead of scanning `runs`, which gains a row every cycle (issue 13)."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS runs_completed ON runs (broker, account, session_date) "
        "WHERE outcome = 'ok' AND mode != 'dry-run'"
    )


def m006_fill_keys_per_account(db: sqlite3.Connection) -> None:
    """Fill keys unique per (broker, account), not across the whole book.

    E*TRADE `orderId`s are unique only within an account (and environment), so `{orderId}:{qty}`
    keys of two accounts can be equal; a book-wide UNIQUE made the second fill a silent no-op.
    Existing rows take their broker and account from their journal order; the table is rebuilt
    with every row and id kept (foreign keys off, checked before commit: rewards refer to fills)."""
    _script(
        db,
        """
        CREATE TABLE fills_new (
            id INTEGER PRIMARY KEY,
            order_id INTEGER NOT NULL REFERENCES orders (id),
            broker TEXT NOT NULL,
            account TEXT NOT NULL,
            fill_key TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            price REAL NOT NULL,
            commission REAL NOT NULL DEFAULT 0,
            session_date TEXT NOT NULL,
            filled_at TEXT NOT NULL,
            UNIQUE (broker, account, fill_key)
        );
        INSERT INTO fills_new (id, order_id, broker, account, fill_key, quantity, price,
            commission, session_date, filled_at)
            SELECT f.id, f.order_id, o.broker, o.account, f.fill_key, f.quantity, f.price,
                f.commission, f.session_date, f.filled_at
            FROM fills f JOIN orders o ON o.id = f.order_id;
        DROP TABLE fills;
        ALTER TABLE fills_new RENAME TO fills;
        CREATE INDEX fills_order ON fills (order_id)
        """,
    )


m006_fill_keys_per_account.rebuilds_tables = True  # type: ignore[attr-defined]


def m007_resting_orders(db: sqlite3.Connection) -> None:
    """Resting orders (issue 16): `orders.replaces` links an order that changes another (E*TRADE
    cancels the old `orderId` and creates a new one; brokers without a change do cancel + new)
    to the journal row it replaces. A replacement not yet at the broker (intent, previewed,
    unknown) does not count as a second live exit of its position; at most one live
    replacement per order. Paper orders keep their stop price, `orderTerm` and the session of
    a later fill (resting STOP/LIMIT orders fill at a later bar); the OPEN ones are indexed
    (every run sweeps them, `Store.paper_stamp` counts them). Idempotent: columns and
    indexes a development build already made (this migration was named `m005_resting_orders`
    and `m006_resting_orders` there, and earlier names before that) are kept."""

    def add(table: str, column: str, decl: str) -> None:
        if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    add("orders", "replaces", "INTEGER REFERENCES orders (id)")
    add("paper_orders", "stop_price", "REAL")
    add("paper_orders", "order_term", "TEXT NOT NULL DEFAULT 'GOOD_FOR_DAY'")
    add("paper_orders", "filled_session", "TEXT")
    _script(
        db,
        """
        DROP INDEX IF EXISTS orders_one_live_exit;
        CREATE UNIQUE INDEX orders_one_live_exit ON orders (position_id, purpose)
            WHERE purpose LIKE 'EXIT%' AND status NOT IN ('cancelled', 'rejected')
            AND NOT (replaces IS NOT NULL AND status IN ('intent', 'previewed', 'unknown'));
        DROP INDEX IF EXISTS orders_one_live_change;
        CREATE UNIQUE INDEX orders_one_live_change ON orders (replaces)
            WHERE replaces IS NOT NULL AND status NOT IN ('cancelled', 'rejected');
        CREATE INDEX IF NOT EXISTS paper_orders_open ON paper_orders (account, id)
            WHERE status = 'OPEN'
        """,
    )


#: (name, function) in order; append only
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("m001_initial", m001_initial),
    ("m002_strategy_tag", m002_strategy_tag),
    ("m003_backtest_results", m003_backtest_results),
    ("m004_signal_proposals", m004_signal_proposals),
    ("m005_runs_last_session", m005_runs_last_session),
    ("m006_fill_keys_per_account", m006_fill_keys_per_account),
    ("m007_resting_orders", m007_resting_orders),
]

#: journal purpose of the resting protective stop of a position (`[risk] protective_stop`);
#: its fills are booked as an exit with reason BROKER_STOP
BROKER_STOP = "EXIT_BROKER_STOP"
#: journal purpose of an `etrade order change` of an order the journal does not have (placed
#: elsewhere): like any change, it is never re-sent as a new order after a lost reply
MANUAL_CHANGE = "MANUAL_CHANGE"
#: statuses of a replacement that has not reached the broker yet
_UNSENT = ("intent", "previewed", "unknown")


#: `Store.history` kinds: (SELECT ... FROM ..., session-date, symbol and broker columns)
HISTORY: dict[str, tuple[str, str, str, str]] = {
    "orders": (
        "SELECT id, session_date, broker, account, symbol, side, quantity, price_type, "
        "limit_price, stop_price, purpose, status, filled_qty, avg_fill_price, client_order_id, "
        "broker_order_id, position_id, run_id, message, created_at, updated_at FROM orders",
        "session_date",
        "symbol",
        "broker",
    ),
    "fills": (
        "SELECT f.id, f.session_date, o.broker, o.account, o.symbol, o.side, f.quantity, "
        "f.price, f.commission, o.purpose, o.client_order_id, f.order_id, f.filled_at "
        "FROM fills f JOIN orders o ON o.id = f.order_id",
        "f.session_date",
        "o.symbol",
        "o.broker",
    ),
    "runs": (
        "SELECT id, coalesce(session_date, as_of) AS session_date, broker, account, mode, "
        "outcome, counts, error, equity, cash, as_of, started_at, ended_at FROM runs",
        "coalesce(session_date, as_of, substr(started_at, 1, 10))",
        "",
        "broker",
    ),
    "refusals": (
        "SELECT id, session_date, broker, account, symbol, action, reason, run_id, created_at "
        "FROM refusals",
        "session_date",
        "symbol",
        "broker",
    ),
}


@dataclass(frozen=True)
class Position:
    """A row of `positions`. Prices USD, quantities shares, dates session dates (YYYY-MM-DD)."""

    id: int
    symbol: str
    kind: str
    broker: str
    account: str
    status: str
    entry_date: str | None
    entry_price: float | None
    original_qty: int
    remaining_qty: int
    stop_loss: float | None
    targets_hit: int
    exit_date: str | None
    exit_price: float | None
    exit_reason: str | None
    realized_pnl: float
    score: float | None
    pattern: str | None
    opened_at: str
    closed_at: str | None
    strategy: str = "rajat_alpha"

    @property
    def tag(self) -> str:
        """The strategy's position tag (`kind` column; B1/B2 for Rajat Alpha)."""
        return self.kind


def unrealized(pos: Position, price: float | None) -> tuple[float | None, float | None]:
    """Unrealized P&L of the remaining shares at `price`: (USD, percent as 5.0 for 5 %)."""
    if price is None or pos.entry_price is None or not pos.entry_price:
        return None, None
    usd = (price - pos.entry_price) * pos.remaining_qty
    return usd, (price / pos.entry_price - 1) * 100.0


@dataclass(frozen=True)
class OrderRow:
    """A row of the order journal `orders`."""

    id: int
    client_order_id: str
    broker: str
    account: str
    symbol: str
    side: str
    quantity: int
    price_type: str
    limit_price: float | None
    stop_price: float | None
    order_term: str
    market_session: str
    purpose: str
    position_id: int | None
    session_date: str
    status: str
    broker_order_id: str | None
    preview_id: str | None
    filled_qty: int
    avg_fill_price: float | None
    message: str | None
    run_id: int | None
    created_at: str
    updated_at: str
    #: the journal row this order changed (replaced), or None
    replaces: int | None = None


_R = TypeVar("_R")
#: (dataclass, columns) pairs whose columns are exactly the dataclass's fields
_EXACT_ROWS: set[tuple[type, tuple[str, ...]]] = set()


def _row_as(cls: type[_R], row: sqlite3.Row) -> _R:
    """`cls(**dict(row))` for a frozen dataclass of plain fields (`Position`, `OrderRow`),
    built without `dict(row)` (a lookup by name per column) and the frozen `__init__`'s
    `object.__setattr__` per field when the row's columns are exactly its fields: a third of
    the time of a cycle that reads a few positions and orders. Other rows go through
    `__init__` (defaults, TypeError for an unknown column)."""
    keys = tuple(row.keys())
    if (cls, keys) not in _EXACT_ROWS:
        if set(keys) != set(cls.__dataclass_fields__):  # type: ignore[attr-defined]
            return cls(**dict(zip(keys, row)))
        _EXACT_ROWS.add((cls, keys))
    obj = object.__new__(cls)
    obj.__dict__.update(zip(keys, row))
    return obj


class Store:
    """The position book: open with `Store(path)` (created and migrated as needed).

    Raises:
        ConfigError: the folder cannot be created. BusyError, ReadOnlyError, CorruptError,
            DiskFullError, StorageError: the file cannot be used (see `db.translate`); the same
            errors from any method that reads or writes.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the database folder {self.path.parent}: {exc}"
                ) from None
        #: read results by query key, with the `version` they were read at
        self._cache: dict[tuple[Any, ...], tuple[tuple[int, int], Any]] = {}
        #: rows of `runs` this connection wrote, and rolled-back write blocks: see `version`
        self._runs_changes = 0
        self._rollbacks = 0
        #: `PRAGMA data_version` inside a `batch` (no other connection can commit meanwhile)
        self._batch_data_version: int | None = None
        #: runs this object started and has not finished: id -> (mode, broker, account)
        self._open_runs: dict[int, tuple[str, str, str]] = {}
        #: runs started inside a `batch` whose row is not written yet: id -> the columns
        #: `start_run` would have inserted; the whole rows of those finished since, to insert
        #: together (see `start_run`); and the id the next one gets
        self._unwritten_runs: dict[int, tuple[str, str | None, str, str, str]] = {}
        self._finished_runs: list[tuple[Any, ...]] = []
        #: the latest session those finished rows complete, by (broker, account)
        self._kept_last: dict[tuple[str, str], str] = {}
        self._next_run_id: int | None = None
        self._order_tag: str | None = None  # the `meta` order_tag (see `new_order`)
        #: `last_session` by (broker, account), with the `_runs_version` it is valid at
        self._last_sessions: dict[tuple[str, str], tuple[tuple[int, int], str | None]] = {}
        self.db = dbutil.connect(path, "the position book")
        #: one cursor for the runs rows a batch writes (two a backtest session)
        self._runs_cursor = dbutil.cursor(self.db)
        try:
            self.migrate()
        except sqlite3.Error as exc:  # a migration that fails on this file: rolled back
            self.db.close()
            raise DataError(f"{self.path}: not a usable SQLite database ({exc})") from None
        except BaseException:
            self.db.close()
            raise

    @classmethod
    def fresh(cls, path: Path) -> Store:
        """A new, empty book at `path` (which must not exist yet), copied with SQLite's backup
        API from a migrated in-memory template made once per process. Backtests open a fresh
        book for every run (a sweep: dozens per process); running every migration costs about
        8 ms, the copy about 1 ms. The template is an ordinary `Store(":memory:")`, so the copy
        is what migrating would give; no file is left behind.

        Raises:
            the errors of `Store()`; FileExistsError: `path` exists.
        """
        global _TEMPLATE
        if path.exists():
            raise FileExistsError(path)
        if _TEMPLATE is None:
            _TEMPLATE = cls(":memory:")
        path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(path)
        try:
            target.execute("PRAGMA synchronous=OFF")  # a new file: nothing to lose if cut short
            _TEMPLATE.db.backup(target)
        finally:
            target.close()
        return cls(path)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception); a
        savepoint inside a `batch`."""
        try:
            with dbutil.transaction(self.db) as db:
                yield db
        except BaseException:
            self._rollbacks += 1  # what was read inside the block may be gone: see `version`
            raise

    @contextmanager
    def batch(self) -> Iterator[sqlite3.Connection]:
        """One transaction around many `tx` blocks, committed once at the end (backtests: one
        commit per backtest instead of several per session). Rolled back entirely on error.

        While it is open this connection holds the write lock, so no other connection can
        commit: `version` reads `PRAGMA data_version` once instead of at every call, and the
        `runs` rows of the runs started inside it are kept and inserted together (`start_run`)."""
        try:
            with dbutil.batch(self.db) as db:
                self._batch_data_version = self._data_version()
                yield db
                self._write_runs()
        except BaseException:
            self._rollbacks += 1
            raise
        finally:
            self._batch_data_version = None
            self._unwritten_runs.clear()
            self._finished_runs.clear()
            self._kept_last.clear()
            self._next_run_id = None

    def migrate(self) -> list[str]:
        """Apply pending `MIGRATIONS` in order, each in its own transaction; return their names."""
        return dbutil.migrate(self.db, MIGRATIONS)

    def applied_migrations(self) -> list[str]:
        """Names of the applied migrations, oldest first."""
        return [r[0] for r in self.db.execute("SELECT name FROM migrations ORDER BY rowid")]

    def meta(self, key: str) -> str | None:
        """A value of the `meta` table."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def version(self) -> tuple[int, int]:
        """Changes when anything of the book but the `runs` log changes: rows written by this
        connection (`total_changes`, less the `runs` rows `start_run` and `finish_run` wrote;
        plus one per rolled-back write block) and commits by other connections
        (`PRAGMA data_version`). What is cached by it (`positions`, the open orders, the paper
        broker's totals) never reads `runs`, so a cycle's own runs row keeps it valid."""
        return self.db.total_changes - self._runs_changes + self._rollbacks, self._data_version()

    def _runs_version(self) -> tuple[int, int]:
        """Like `version`, the `runs` rows included."""
        return self.db.total_changes + self._rollbacks, self._data_version()

    def _data_version(self) -> int:
        """`PRAGMA data_version`; inside a `batch` the value read when it began (no other
        connection can commit meanwhile)."""
        dv = self._batch_data_version
        if dv is None:
            dv = int(self.db.execute("PRAGMA data_version").fetchone()[0])
        return dv

    def _cached(self, key: tuple[Any, ...], read: Callable[..., Any], *args: Any) -> Any:
        """`read(*args)`, or its result from an earlier call with the same `key` when the book
        has not changed since (`version`). Callers copy mutable results before returning them.
        (`read` is a method and its arguments, not a closure: a cycle makes thousands of these
        calls and nearly all of them are hits.)"""
        version = self.version()
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = read(*args)
        self._cache[key] = (version, value)
        return value

    def _write_one(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        """Run one write statement in a transaction of its own; inside an open transaction (a
        `batch`, a caller's `tx` block) the statement alone: SQLite applies a statement all or
        nothing, so the savepoint a `tx` block would put around it would change nothing."""
        if self.db.in_transaction:
            return self.db.execute(sql, args)
        with self.tx() as db:
            return db.execute(sql, args)

    def _query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        """Run a read query (private: every query the rest of the code needs is a named method).
        A query of `runs` sees the rows of runs started in this batch (`start_run`)."""
        if (self._unwritten_runs or self._finished_runs) and "runs" in sql:
            self._write_runs()
        return self.db.execute(sql, args).fetchall()

    # -- positions --------------------------------------------------------------------------

    def positions(
        self, broker: str, account: str, statuses: tuple[str, ...] = ("open",)
    ) -> list[Position]:
        """Positions of a broker account in the given statuses, oldest first (FIFO).

        Re-read only when the book changed since the last read (`version`): a cycle asks
        for the open positions several times and usually writes nothing in between."""

        key = ("positions", broker, account, statuses)
        return list(self._cached(key, self._read_positions, broker, account, statuses))

    def _read_positions(
        self, broker: str, account: str, statuses: tuple[str, ...]
    ) -> list[Position]:
        rows = self._in_statuses("positions", broker, account, statuses, "entry_date, id")
        return [_row_as(Position, r) for r in rows]

    def _in_statuses(
        self, table: str, broker: str, account: str, statuses: tuple[str, ...], order_by: str
    ) -> list[sqlite3.Row]:
        """Rows of `table` ("positions" or "orders") of a broker account in `statuses`."""
        marks = ",".join("?" * len(statuses))
        return self._query(
            f"SELECT * FROM {table} WHERE broker = ? AND account = ? AND status IN ({marks}) "
            f"ORDER BY {order_by}",
            broker,
            account,
            *statuses,
        )

    def new_position(
        self,
        db: sqlite3.Connection,
        *,
        symbol: str,
        tag: str,
        broker: str,
        account: str,
        strategy: str,
        score: float | None = None,
        pattern: str | None = None,
    ) -> int:
        """Insert a `pending` position (filled by its entry order); returns its id."""
        cur = db.execute(
            "INSERT INTO positions (symbol, kind, broker, account, status, score, pattern, "
            "opened_at, strategy) VALUES (?,?,?,?, 'pending', ?,?,?,?)",
            (symbol, tag, broker, account, score, pattern, utcnow(), strategy),
        )
        return int(cur.lastrowid or 0)

    def pending_exit_qty(self, position_id: int) -> int:
        """Shares of `position_id` being sold by strategy exit orders still live (intent ..
        partial). The resting protective stop (`BROKER_STOP`) is not counted: it is reduced or
        cancelled before any strategy exit is sent. Re-read only when the book changed
        (`version`): every cycle asks for every open position."""

        return int(
            self._cached(("pending_exit_qty", position_id), self._read_pending_exit, position_id)
        )

    def _read_pending_exit(self, position_id: int) -> int:
        row = self._query(
            "SELECT coalesce(sum(quantity - filled_qty), 0) FROM orders WHERE "
            "position_id = ? AND purpose LIKE 'EXIT%' AND purpose != ? AND status IN "
            "('intent','previewed','placed','unknown','partially_filled')",
            position_id,
            BROKER_STOP,
        )
        return int(row[0][0])

    def resting_stops(self, broker: str, account: str) -> list[OrderRow]:
        """Live journal rows of resting protective stops (`BROKER_STOP`) of a broker account,
        oldest first; a replacement not yet at the broker is included (see `replaces`).
        Re-read only when the book changed (`version`): every cycle asks."""

        key = ("resting_stops", broker, account)
        return list(self._cached(key, self._read_resting_stops, broker, account))

    def _read_resting_stops(self, broker: str, account: str) -> list[OrderRow]:
        marks = ",".join("?" * len(LIVE_STATUSES))
        rows = self._query(
            f"SELECT * FROM orders WHERE broker = ? AND account = ? AND purpose = ? AND "
            f"status IN ({marks}) ORDER BY id",
            broker,
            account,
            BROKER_STOP,
            *LIVE_STATUSES,
        )
        return [_row_as(OrderRow, r) for r in rows]

    def resting_stop(self, position_id: int) -> OrderRow | None:
        """The resting protective stop of a position as the broker has it: its live
        `BROKER_STOP` row that is not a replacement still on its way; None if there is none."""
        marks = ",".join("?" * len(LIVE_STATUSES))
        row = self.db.execute(
            f"SELECT * FROM orders WHERE position_id = ? AND purpose = ? AND status IN ({marks})"
            " AND NOT (replaces IS NOT NULL AND status IN (?,?,?)) ORDER BY id DESC LIMIT 1",
            (position_id, BROKER_STOP, *LIVE_STATUSES, *_UNSENT),
        ).fetchone()
        return _row_as(OrderRow, row) if row else None

    def pending_replacement(self, order_id: int) -> OrderRow | None:
        """The live journal row that changes (replaces) order `order_id`, or None."""
        row = self.db.execute(
            "SELECT * FROM orders WHERE replaces = ? AND status NOT IN ('cancelled', "
            "'rejected', 'filled') ORDER BY id DESC LIMIT 1",
            (order_id,),
        ).fetchone()
        return _row_as(OrderRow, row) if row else None

    # -- the paper broker's resting orders ----------------------------------------------------

    def paper_resting(self, account: str) -> list[sqlite3.Row]:
        """OPEN paper orders of `account` (resting STOP/LIMIT orders), oldest first. Re-read
        only when the book changed (`version`): every paper cycle asks."""

        return list(
            self._cached(
                ("paper_resting", account),
                self._query,
                "SELECT * FROM paper_orders WHERE account = ? AND status = 'OPEN' ORDER BY id",
                account,
            )
        )

    def paper_settle(
        self,
        order_id: int,
        status: str,
        *,
        fill_price: float | None = None,
        commission: float = 0.0,
        message: str = "",
        filled_session: str | None = None,
    ) -> bool:
        """Final state of a resting paper order: EXECUTED at `fill_price` (USD) in session
        `filled_session`, or EXPIRED/CANCELLED with a message; only an OPEN order changes.
        True when it did."""
        cur = self._write_one(
            "UPDATE paper_orders SET status = ?, fill_price = ?, commission = ?, message = ?,"
            " filled_session = ? WHERE id = ? AND status = 'OPEN'",
            (status, fill_price, commission, message, filled_session, order_id),
        )
        return cur.rowcount == 1

    def exits_by_reason(self, broker: str, account: str, reason: str) -> list[sqlite3.Row]:
        """Exit fills of one reason (e.g. BROKER_STOP), oldest first: rows of (symbol,
        session_date, quantity, price USD, realized_pnl USD)."""
        return self._query(
            "SELECT p.symbol, e.session_date, e.quantity, e.price, e.realized_pnl FROM "
            "partial_exits e JOIN positions p ON p.id = e.position_id WHERE p.broker = ? AND "
            "p.account = ? AND e.reason = ? ORDER BY e.id",
            broker,
            account,
            reason,
        )

    def exit_purposes(self, position_id: int) -> list[str]:
        """Purposes (EXIT_<reason>) of the exit orders of `position_id` that were not cancelled
        or rejected, oldest first."""
        rows = self._query(
            "SELECT purpose FROM orders WHERE position_id = ? AND purpose LIKE 'EXIT%' AND "
            "status NOT IN ('cancelled', 'rejected') ORDER BY id",
            position_id,
        )
        return [r[0] for r in rows]

    def realized_for_order(self, order_id: int) -> float | None:
        """Realized P&L (USD) booked by the fills of exit order `order_id`; None if none."""
        row = self._query(
            "SELECT sum(realized_pnl) FROM partial_exits WHERE order_id = ?", order_id
        )
        return None if row[0][0] is None else float(row[0][0])

    def realized_on(self, broker: str, account: str, day: str) -> float:
        """Realized P&L (USD) of the exits booked at session `day` (YYYY-MM-DD).

        Every cycle asks (the daily-loss kill switch): the sessions that have exits are read
        once per change of the book (`version`), and only those sessions are summed."""

        if day not in self._cached(
            ("exit_days", broker, account), self._exit_days, broker, account
        ):
            return 0.0

        def total() -> float:
            row = self._query(
                "SELECT coalesce(sum(e.realized_pnl), 0) FROM partial_exits e JOIN positions p"
                " ON p.id = e.position_id WHERE p.broker = ? AND p.account = ? AND "
                "e.session_date = ?",
                broker,
                account,
                day,
            )
            return float(row[0][0])

        return float(self._cached(("realized_on", broker, account, day), total))

    def _exit_days(self, broker: str, account: str) -> frozenset[str]:
        rows = self._query(
            "SELECT DISTINCT e.session_date FROM partial_exits e JOIN positions p"
            " ON p.id = e.position_id WHERE p.broker = ? AND p.account = ?",
            broker,
            account,
        )
        return frozenset(r[0] for r in rows)

    def add_refusal(
        self,
        db: sqlite3.Connection,
        *,
        run_id: int | None,
        broker: str,
        account: str,
        session_date: str,
        symbol: str,
        action: str,
        reason: str,
    ) -> None:
        """Record a risk refusal (an entry the risk checks or a policy blocked)."""
        if run_id in self._unwritten_runs:
            self._write_runs()  # its foreign key needs the runs row
        db.execute(
            "INSERT INTO refusals (run_id, broker, account, session_date, symbol, action, "
            "reason, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (run_id, broker, account, session_date, symbol, action, reason, utcnow()),
        )

    def position(self, position_id: int) -> Position:
        """One position by id (KeyError if absent)."""
        row = self.db.execute("SELECT * FROM positions WHERE id = ?", (position_id,)).fetchone()
        if row is None:
            raise KeyError(position_id)
        return _row_as(Position, row)

    def change_order(self, order_id: int, **values: Any) -> None:
        """`set_order` in a transaction of its own (one statement: see `_write_one`)."""
        values["updated_at"] = utcnow()
        cols = ", ".join(f"{k} = ?" for k in values)
        self._write_one(f"UPDATE orders SET {cols} WHERE id = ?", (*values.values(), order_id))

    def change_position(self, position_id: int, **values: Any) -> None:
        """`update_position` in a transaction of its own (one statement: see `_write_one`)."""
        cols = ", ".join(f"{k} = ?" for k in values)
        self._write_one(
            f"UPDATE positions SET {cols} WHERE id = ?", (*values.values(), position_id)
        )

    def update_position(self, db: sqlite3.Connection, position_id: int, **values: Any) -> None:
        """Set columns of a position inside the caller's transaction."""
        cols = ", ".join(f"{k} = ?" for k in values)
        db.execute(f"UPDATE positions SET {cols} WHERE id = ?", (*values.values(), position_id))

    # -- the order journal ------------------------------------------------------------------

    def new_order(self, db: sqlite3.Connection, **values: Any) -> OrderRow:
        """Journal an order intent inside the caller's transaction; assigns its `clientOrderId`.

        The `clientOrderId` is the database's random 6-character tag followed by the journal row
        id (zero-padded to 8 digits): 14 alphanumerics, unique per database and so per account
        (E*TRADE: "20 or less alphanumeric characters ... unique within this account"). A
        caller may pass its own `client_order_id` (a proposal's derived one): the column's
        UNIQUE constraint then refuses a second order with it.

        Raises:
            sqlite3.IntegrityError: a live order for the same exit, or an entry in the same
                symbol and session, already exists (the duplicate guard).
        """
        now = utcnow()
        given = "client_order_id" in values
        values = {
            "status": "intent",
            "created_at": now,
            "updated_at": now,
            "client_order_id": "pending-" + secrets.token_hex(8),
            **values,
        }
        cols = ", ".join(values)
        cur = db.execute(
            f"INSERT INTO orders ({cols}) VALUES ({','.join('?' * len(values))})",
            tuple(values.values()),
        )
        if not given:
            if self._order_tag is None:  # written once by the first migration, never changed
                self._order_tag = self.meta("order_tag")
            coid = f"{self._order_tag}{cur.lastrowid:08d}"
            db.execute("UPDATE orders SET client_order_id = ? WHERE id = ?", (coid, cur.lastrowid))
        return self.order_by_id(int(cur.lastrowid or 0), db)

    def order_by_id(self, order_id: int, db: sqlite3.Connection | None = None) -> OrderRow:
        """One journal row by id."""
        row = (db or self.db).execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return _row_as(OrderRow, row)

    def order_by_coid(self, client_order_id: str) -> OrderRow | None:
        """One journal row by `clientOrderId`, or None."""
        row = self.db.execute(
            "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return _row_as(OrderRow, row) if row else None

    def set_order(self, db: sqlite3.Connection, order_id: int, **values: Any) -> None:
        """Update journal columns inside the caller's transaction (stamps `updated_at`)."""
        values["updated_at"] = utcnow()
        cols = ", ".join(f"{k} = ?" for k in values)
        db.execute(f"UPDATE orders SET {cols} WHERE id = ?", (*values.values(), order_id))

    def live_orders(self, broker: str, account: str) -> list[OrderRow]:
        """Journal rows not yet final (intent, previewed, placed, unknown, partially filled).
        Re-read only when the book changed (`version`): a cycle asks at its start and end."""

        key = ("live_orders", broker, account)
        return list(self._cached(key, self._read_live_orders, broker, account))

    def _read_live_orders(self, broker: str, account: str) -> list[OrderRow]:
        rows = self._in_statuses("orders", broker, account, LIVE_STATUSES, "id")
        return [_row_as(OrderRow, r) for r in rows]

    def broker_order_ids(self, broker: str, account: str) -> set[str]:
        """The broker order ids the journal already owns for this account (a lost-reply lookup
        by fingerprint must not claim one of them)."""
        rows = self._query(
            "SELECT broker_order_id FROM orders WHERE broker = ? AND account = ? AND "
            "broker_order_id IS NOT NULL",
            broker,
            account,
        )
        return {str(r[0]) for r in rows}

    def orders(
        self, broker: str | None = None, account: str | None = None, session_date: str | None = None
    ) -> list[OrderRow]:
        """Journal rows, optionally filtered, oldest first."""
        sql, args = "SELECT * FROM orders WHERE 1=1", []
        for col, val in (("broker", broker), ("account", account), ("session_date", session_date)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        return [_row_as(OrderRow, r) for r in self._query(sql + " ORDER BY id", *args)]

    def order_by_broker_id(
        self, broker: str, account: str, broker_order_id: str
    ) -> OrderRow | None:
        """The latest journal row of a broker account carrying this broker order id, or None."""
        row = self.db.execute(
            "SELECT * FROM orders WHERE broker = ? AND account = ? AND broker_order_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (broker, account, broker_order_id),
        ).fetchone()
        return _row_as(OrderRow, row) if row else None

    # -- fills and exits --------------------------------------------------------------------

    def fill_owner(self, db: sqlite3.Connection, order: OrderRow, fill_key: str) -> int | None:
        """The journal order id that already booked this execution of `order`'s broker account
        (inside the caller's transaction), or None when it is new."""
        row = db.execute(
            "SELECT order_id FROM fills WHERE broker = ? AND account = ? AND fill_key = ?",
            (order.broker, order.account, fill_key),
        ).fetchone()
        return int(row[0]) if row else None

    def add_fill(
        self,
        db: sqlite3.Connection,
        order: OrderRow,
        fill_key: str,
        quantity: int,
        price: float,
        commission: float,
        session_date: str,
        filled_at: str,
    ) -> int:
        """Book one execution of `order` inside the caller's transaction; returns the fill id.

        `quantity` shares at `price` USD, `commission` USD; `session_date` the exchange session
        (US/Eastern date) of the execution, `filled_at` its UTC ISO-8601 time.

        Raises:
            sqlite3.IntegrityError: this (broker, account, fill_key) is already booked. Never
                ignored: the caller's transaction rolls back.
        """
        cur = db.execute(
            "INSERT INTO fills (order_id, broker, account, fill_key, quantity, price, commission,"
            " session_date, filled_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                order.id,
                order.broker,
                order.account,
                fill_key,
                quantity,
                price,
                commission,
                session_date,
                filled_at,
            ),
        )
        return int(cur.lastrowid or 0)

    def add_partial_exit(
        self,
        db: sqlite3.Connection,
        position_id: int,
        order_id: int,
        reason: str,
        session_date: str,
        quantity: int,
        price: float,
        realized_pnl: float,
    ) -> None:
        """Record an exit (all or part of a position) inside the caller's transaction."""
        db.execute(
            "INSERT INTO partial_exits (position_id, order_id, reason, session_date, quantity,"
            " price, realized_pnl) VALUES (?,?,?,?,?,?,?)",
            (position_id, order_id, reason, session_date, quantity, price, realized_pnl),
        )

    def fills_of_order(self, order_id: int) -> list[sqlite3.Row]:
        """Fills booked for one journal order, oldest first (rows of `fills`)."""
        return self._query("SELECT * FROM fills WHERE order_id = ? ORDER BY id", order_id)

    # -- books ------------------------------------------------------------------------------

    def books(self) -> list[tuple[str, str, int]]:
        """(broker, account, open or pending positions) of every book kept in this database,
        from positions, journal and runs; ordered by broker and account."""
        rows = self._query(
            "SELECT broker, account, sum(live) FROM ("
            " SELECT broker, account, status IN ('open', 'pending') AS live FROM positions"
            " UNION ALL SELECT broker, account, 0 FROM orders"
            " UNION ALL SELECT broker, account, 0 FROM runs WHERE mode != 'dry-run'"
            ") GROUP BY broker, account ORDER BY broker, account"
        )
        return [(r[0], r[1], int(r[2] or 0)) for r in rows]

    def paper_starting_cash(self, account: str) -> float | None:
        """Starting cash (USD) of a paper account, None when it does not exist."""
        rows = self._query("SELECT starting_cash FROM paper_accounts WHERE account = ?", account)
        return float(rows[0][0]) if rows else None

    # -- history (`etrade history`) -----------------------------------------------------------

    def history(
        self,
        kind: str,
        *,
        since: str | None = None,
        symbol: str | None = None,
        broker: str | None = None,
    ) -> list[dict[str, Any]]:
        """Journal rows of one kind for `etrade history`, oldest first, as dicts.

        Args:
            kind: one of `HISTORY` ("orders", "fills", "runs", "refusals").
            since: session date YYYY-MM-DD (US/Eastern market date); rows from it on.
            symbol: only this symbol (not for runs). broker: only this broker's rows.

        Prices and money are USD as stored (unrounded); `*_at` are UTC ISO timestamps.

        Raises:
            KeyError: an unknown kind.
        """
        select, date_col, symbol_col, broker_col = HISTORY[kind]
        sql, args = select + " WHERE 1=1", []
        for col, op, val in (
            (date_col, ">=", since),
            (symbol_col, "=", symbol),
            (broker_col, "=", broker),
        ):
            if val is not None and col:
                sql += f" AND {col} {op} ?"
                args.append(val)
        rows = [dict(r) for r in self._query(sql + " ORDER BY 1", *args)]
        for r in rows:
            if isinstance(r.get("counts"), str):  # runs: stored as JSON text
                r["counts"] = json.loads(r["counts"])
        return rows

    def history_columns(self, kind: str) -> list[str]:
        """The column names `history(kind)` returns, in order (a CSV header with no rows)."""
        cur = self.db.execute(HISTORY[kind][0] + " LIMIT 0")
        return [d[0] for d in cur.description]

    # -- backup and paper reset (`etrade paper reset`) -----------------------------------------

    def backup_to(self, dest: Path) -> None:
        """Copy the whole book to a new file `dest` with SQLite's online backup (consistent
        even in WAL mode while others read).

        Raises:
            InputError: `dest` exists already.
        """
        if dest.exists():
            raise InputError(f"backup file {dest} exists already")
        self._write_runs()
        target = sqlite3.connect(dest)
        try:
            self.db.backup(target)
        finally:
            target.close()

    def reset_paper(self, account: str, starting_cash: float, commission: float) -> dict[str, int]:
        """Start paper account `account` over in one transaction: delete its positions, partial
        exits, orders, fills, refusals, runs, signal-service proposals and rewards and simulated
        broker orders, and open it again with
        `starting_cash` and `commission` (USD). Rows of other brokers are kept.

        Returns the number of rows deleted per table.
        """
        mine = "broker = 'paper' AND account = ?"
        steps = [
            ("rewards", mine),
            ("proposals", mine),
            ("fills", f"order_id IN (SELECT id FROM orders WHERE {mine})"),
            ("partial_exits", f"position_id IN (SELECT id FROM positions WHERE {mine})"),
            ("refusals", mine),
            ("orders", mine),
            ("positions", mine),
            ("runs", mine),
            ("paper_orders", "account = ?"),
            ("paper_accounts", "account = ?"),
        ]
        deleted: dict[str, int] = {}
        self._write_runs()
        with self.tx() as db:
            for table, where in steps:
                deleted[table] = db.execute(
                    f"DELETE FROM {table} WHERE {where}", (account,)
                ).rowcount
            db.execute(
                "INSERT INTO paper_accounts VALUES (?, ?, ?, ?)",
                (account, starting_cash, commission, utcnow()),
            )
        return deleted

    # -- proposals and the rewards outbox (a proposing strategy: the signal service) --------

    def add_proposal(self, db: sqlite3.Connection, **values: Any) -> int:
        """Record a proposal and its outcome (`ordered`, `refused` by the local checks,
        `rejected` by the proposer's review) inside the caller's transaction; returns its row id.
        `values`: the `proposals` columns; `body` is the proposal as JSON text."""
        values = {"created_at": utcnow(), **values}
        if values.get("run_id") in self._unwritten_runs:
            self._write_runs()  # its foreign key needs the runs row
        cur = db.execute(
            f"INSERT INTO proposals ({', '.join(values)}) VALUES ({','.join('?' * len(values))})",
            tuple(values.values()),
        )
        return int(cur.lastrowid or 0)

    def proposals(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Recorded proposals (of one run when `run_id` is given), oldest first."""
        sql = "SELECT * FROM proposals" + (" WHERE run_id = ?" if run_id is not None else "")
        args = () if run_id is None else (run_id,)
        return [dict(r) for r in self._query(sql + " ORDER BY id", *args)]

    def proposal_stop_loss(self, position_id: int) -> float | None:
        """The stop (USD) the opening proposal of `position_id` asked for, or None."""
        row = self.db.execute(
            "SELECT stop_loss FROM proposals WHERE position_id = ? AND side = 'BUY' AND "
            "outcome = 'ordered' AND stop_loss IS NOT NULL ORDER BY id LIMIT 1",
            (position_id,),
        ).fetchone()
        return None if row is None else float(row[0])

    def unrewarded_fills(self, broker: str, account: str) -> list[dict[str, Any]]:
        """Fills of orders that came from proposals and have no reward row yet: fill_id,
        proposal_id, symbol, side, quantity, price (USD), filled_at (UTC), realized_pnl (USD,
        exits only, else None)."""
        rows = self._query(
            "SELECT f.id AS fill_id, pr.proposal_id, o.symbol, o.side, f.quantity, f.price, "
            "f.filled_at, (SELECT e.realized_pnl FROM partial_exits e WHERE e.order_id = o.id "
            "AND e.quantity = f.quantity AND e.price = f.price ORDER BY e.id LIMIT 1) "
            "AS realized_pnl FROM fills f JOIN orders o ON o.id = f.order_id "
            "JOIN proposals pr ON pr.order_id = o.id WHERE o.broker = ? AND o.account = ? AND "
            "NOT EXISTS (SELECT 1 FROM rewards r WHERE r.kind = 'fill' AND r.fill_id = f.id) "
            "ORDER BY f.id",
            broker,
            account,
        )
        return [dict(r) for r in rows]

    def unrewarded_closes(self, broker: str, account: str) -> list[tuple[str, Position]]:
        """(opening proposal id, position) of closed positions opened by a proposal that have
        no close reward yet, oldest first."""
        rows = self._query(
            "SELECT pr.proposal_id AS opened_by, p.* FROM positions p JOIN proposals pr ON "
            "pr.position_id = p.id AND pr.side = 'BUY' AND pr.outcome = 'ordered' WHERE "
            "p.broker = ? AND p.account = ? AND p.status = 'closed' AND NOT EXISTS (SELECT 1 "
            "FROM rewards r WHERE r.kind = 'close' AND r.position_id = p.id) ORDER BY p.id",
            broker,
            account,
        )
        out = []
        for r in rows:
            d = dict(r)
            out.append((str(d.pop("opened_by")), Position(**d)))
        return out

    def add_reward(self, db: sqlite3.Connection, **values: Any) -> None:
        """Queue a reward (`pending`) inside the caller's transaction; a second one with the same
        `idempotency_key` is ignored. `values`: the `rewards` columns; `body` is JSON text."""
        values = {"status": "pending", "created_at": utcnow(), **values}
        db.execute(
            f"INSERT OR IGNORE INTO rewards ({', '.join(values)}) VALUES "
            f"({','.join('?' * len(values))})",
            tuple(values.values()),
        )

    def rewards(self, broker: str, account: str, status: str | None = None) -> list[dict[str, Any]]:
        """Rewards of a broker account (in `status` when given), oldest first."""
        sql = "SELECT * FROM rewards WHERE broker = ? AND account = ?"
        args: list[Any] = [broker, account]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        return [dict(r) for r in self._query(sql + " ORDER BY id", *args)]

    def reward_attempted(self, reward_id: int, error: str | None) -> None:
        """Record a delivery attempt: `sent` when `error` is None, else kept pending with it."""
        with self.tx() as db:
            if error is None:
                db.execute(
                    "UPDATE rewards SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
                    "last_error = NULL WHERE id = ?",
                    (utcnow(), reward_id),
                )
            else:
                db.execute(
                    "UPDATE rewards SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                    (error[:500], reward_id),
                )

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, mode: str, broker: str, account: str, as_of: str | None) -> int:
        """Insert a `runs` row for a run that is starting; returns its id.

        Inside a `batch` (a backtest: one transaction, so no row is visible to anyone else or
        durable before the commit anyway) the row is kept in memory and written whole once
        finished, together with the other finished rows (one `executemany`), instead of an
        INSERT and an UPDATE per session; its id is the one SQLite would have given (max + 1:
        the batch holds the write lock). The kept rows are written, those not finished as
        started, when a row must refer to one of them (refusals, proposals), before `runs` is
        read through this object, and at the end of the batch: nothing ever sees one missing."""
        started = (utcnow(), as_of, mode, broker, account)
        if self._batch_data_version is not None:
            if self._next_run_id is None:
                self._next_run_id = int(self._query("SELECT coalesce(max(id), 0) FROM runs")[0][0])
            self._next_run_id += 1
            run_id = self._next_run_id
            self._unwritten_runs[run_id] = started
        else:
            run_id = self._runs_write(
                "INSERT INTO runs (started_at, as_of, mode, broker, account) VALUES (?,?,?,?,?)",
                started,
                _keep_last,
            )
        self._open_runs[run_id] = (mode, broker, account)
        return run_id

    def _write_runs(self) -> None:
        """Write the runs rows a batch kept (see `start_run`): the finished ones whole, the
        others as `start_run` would have inserted them. The `last_session` known before stays
        (it already counts the finished rows)."""
        if self._finished_runs:
            rows, self._finished_runs = self._finished_runs, []
            self._kept_last.clear()
            self._runs_write(_RUN_ROW, rows, _keep_last, many=True)
        for rid, started in list(self._unwritten_runs.items()):
            del self._unwritten_runs[rid]
            self._runs_write(
                "INSERT INTO runs (id, started_at, as_of, mode, broker, account) "
                "VALUES (?,?,?,?,?,?)",
                (rid, *started),
                _keep_last,
            )

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        *,
        session_date: str | None = None,
        counts: dict[str, Any] | None = None,
        error: str | None = None,
        equity: float | None = None,
        cash: float | None = None,
    ) -> None:
        """Close a `runs` row with its outcome, counts and the account's equity and cash (USD)."""
        started = self._open_runs.pop(run_id, None)
        ended = (utcnow(), outcome, session_date, _counts_json(counts), error, equity, cash)
        unwritten = self._unwritten_runs.pop(run_id, None)
        if unwritten is not None:  # started in this batch: kept, written whole later
            self._finished_runs.append((run_id, *unwritten, *ended))
            if outcome == "ok" and session_date and unwritten[2] != "dry-run":
                # it completes a traded session: its account's last session moves (the
                # `last_session` query's rule), known before the row is written
                book = (unwritten[3], unwritten[4])
                kept = self._kept_last.get(book)
                self._kept_last[book] = session_date if kept is None else max(kept, session_date)
                hit = self._last_sessions.get(book)
                if hit is not None and hit[0] == self._runs_version():
                    self._last_sessions[book] = (hit[0], max(hit[1] or session_date, session_date))
            return

        def last(book: tuple[str, str], day: str | None) -> str | None:
            # the row was started here (not completed): it moves its own account's last
            # session when it completes a traded session (the `last_session` query's rule)
            assert started is not None
            mode, *owner = started
            if list(book) != owner or outcome != "ok" or mode == "dry-run" or not session_date:
                return day
            return max(day or session_date, session_date)

        self._runs_write(
            "UPDATE runs SET ended_at = ?, outcome = ?, session_date = ?, counts = ?, "
            "error = ?, equity = ?, cash = ? WHERE id = ?",
            (*ended, run_id),
            None if started is None else last,
        )

    def _runs_write(
        self,
        sql: str,
        args: Any,
        last: _LastSession | None = None,
        *,
        many: bool = False,
    ) -> int:
        """One statement on `runs` (`many`: run once per row of `args`) in its own transaction;
        inside a `batch` the statement alone, which SQLite applies all or nothing, instead of a
        savepoint around it. The rows it wrote do not count in `version`. Returns the last
        inserted row id.

        `last(broker_account, session)` is the `last_session` of a broker account after the
        write given the one before it; a `last_session` known before the write is carried
        over through it (None: forgotten, read again when asked)."""
        db = self.db
        before = db.total_changes
        valid = self._runs_version() if self._last_sessions else None
        if db.in_transaction:
            cur = (self._runs_cursor.executemany if many else self._runs_cursor.execute)(sql, args)
        else:
            with self.tx() as tx:
                cur = (tx.executemany if many else tx.execute)(sql, args)
        self._runs_changes += db.total_changes - before
        if last is not None and valid is not None:
            now = self._runs_version()
            for key, (at, day) in list(self._last_sessions.items()):
                if at == valid:
                    self._last_sessions[key] = (now, last(key, day))
        return int(cur.lastrowid or 0)

    def last_session(self, broker: str, account: str) -> str | None:
        """The latest session a completed run of this broker account traded, or None.

        Every cycle asks: read once, then kept up to date by the runs this object finishes
        (re-read when anything else wrote to the database)."""
        now = self._runs_version()
        hit = self._last_sessions.get((broker, account))
        if hit is not None and hit[0] == now:
            return hit[1]
        row = self.db.execute(
            "SELECT max(session_date) FROM runs WHERE broker = ? AND account = ? AND outcome = 'ok'"
            " AND mode != 'dry-run'",
            (broker, account),
        ).fetchone()
        last = row[0] if row else None
        kept = self._kept_last.get((broker, account))  # the batch's rows not written yet
        if kept is not None and (last is None or kept > last):
            last = kept
        self._last_sessions[(broker, account)] = (now, last)
        return last

    def fills_on(self, broker: str, account: str, session_date: str) -> list[sqlite3.Row]:
        """Fills of one session, oldest first: rows of (side, quantity, symbol, price USD,
        purpose, kind) where kind is the position's B1/B2 (None for an order without one)."""
        return self._query(
            "SELECT o.side, f.quantity, o.symbol, f.price, o.purpose, p.kind FROM fills f "
            "JOIN orders o ON o.id = f.order_id LEFT JOIN positions p ON p.id = o.position_id "
            "WHERE o.broker = ? AND o.account = ? AND f.session_date = ? ORDER BY f.id",
            broker,
            account,
            session_date,
        )

    def equity_curve(self, broker: str, account: str) -> list[tuple[str, float, float]]:
        """(session_date, equity USD, cash USD) of the last completed run of each session."""
        rows = self._query(
            "SELECT session_date, equity, cash FROM runs WHERE id IN (SELECT max(id) FROM runs "
            "WHERE broker = ? AND account = ? AND outcome = 'ok' AND mode != 'dry-run' AND "
            "equity IS NOT NULL GROUP BY session_date) ORDER BY session_date",
            broker,
            account,
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the `meta` table (e.g. `kind = backtest`)."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @staticmethod
    def kind_of(path: Path) -> str | None:
        """The `meta.kind` of an existing database file read-only ("backtest" for a backtest's
        book), or None (no such key, or not an SQLite database)."""
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row = con.execute("SELECT value FROM meta WHERE key = 'kind'").fetchone()
            finally:
                con.close()
        except sqlite3.DatabaseError:
            return None
        return str(row[0]) if row else None

    # -- reports ----------------------------------------------------------------------------

    def exit_fills(
        self, broker: str, account: str, since: str | None = None
    ) -> list[dict[str, Any]]:
        """Every exit fill (`partial_exits`) of a broker account on or after `since`, oldest
        first: position_id, symbol, kind (B1/B2), session_date, reason, quantity, price USD,
        realized_pnl USD (after the exit order's commission)."""
        rows = self._query(
            "SELECT e.position_id, p.symbol, p.kind, e.session_date, e.reason, e.quantity,"
            " e.price, e.realized_pnl FROM partial_exits e JOIN positions p ON p.id ="
            " e.position_id WHERE p.broker = ? AND p.account = ? AND e.session_date >= ?"
            " ORDER BY e.session_date, e.id",
            broker,
            account,
            since or "",
        )
        return [dict(r) for r in rows]

    def commissions_paid(self, broker: str, account: str, since: str | None = None) -> float:
        """Commissions of every recorded fill of a broker account on or after `since`, USD."""
        row = self.db.execute(
            "SELECT coalesce(sum(f.commission), 0) FROM fills f JOIN orders o ON o.id = f.order_id"
            " WHERE o.broker = ? AND o.account = ? AND f.session_date >= ?",
            (broker, account, since or ""),
        ).fetchone()
        return float(row[0])

    # -- stored backtest results ------------------------------------------------------------

    def save_backtest_result(self, doc: dict[str, Any]) -> int:
        """Keep a backtest's JSON document (see `backtest.BacktestResult.to_dict`); its id.

        Raises:
            TypeError: `doc` holds a value JSON cannot (orjson.JSONEncodeError)."""
        import orjson

        stats = doc.get("stats") or {}
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO backtest_results (created_at, start_date, end_date, symbols, trades,"
                " return_pct, document) VALUES (?,?,?,?,?,?,?)",
                (
                    utcnow(),
                    doc["start"],
                    doc["end"],
                    doc["symbols"],
                    stats.get("trades") or 0,
                    stats.get("return_pct"),
                    orjson.dumps(doc).decode(),  # ~1 ms for a 6,558-session curve
                ),
            )
        return int(cur.lastrowid or 0)

    def backtest_results(self) -> list[dict[str, Any]]:
        """Stored backtests, newest first: id, created_at (UTC), start_date, end_date, symbols,
        trades, return_pct (percent)."""
        rows = self._query(
            "SELECT id, created_at, start_date, end_date, symbols, trades, return_pct"
            " FROM backtest_results ORDER BY id DESC"
        )
        return [dict(r) for r in rows]

    def backtest_result(self, result_id: int | None = None) -> dict[str, Any] | None:
        """The stored document of backtest `result_id` (the latest if None), or None."""
        if result_id is None:
            row = self.db.execute(
                "SELECT id, document FROM backtest_results ORDER BY id DESC LIMIT 1"
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT id, document FROM backtest_results WHERE id = ?", (result_id,)
            ).fetchone()
        if row is None:
            return None
        return {**json.loads(row[1]), "id": row[0]}

    def symbol_history(self, symbol: str) -> tuple[list[Position], list[dict[str, Any]]]:
        """Filled positions in `symbol` (any broker account, oldest first) and their exit fills
        (rows shaped as `exit_fills`), for charts."""
        rows = self._query(
            "SELECT * FROM positions WHERE symbol = ? AND entry_date IS NOT NULL"
            " ORDER BY entry_date, id",
            symbol,
        )
        fills = self._query(
            "SELECT e.position_id, p.symbol, p.kind, e.session_date, e.reason, e.quantity,"
            " e.price, e.realized_pnl FROM partial_exits e JOIN positions p ON p.id ="
            " e.position_id WHERE p.symbol = ? ORDER BY e.session_date, e.id",
            symbol,
        )
        return [_row_as(Position, r) for r in rows], [dict(r) for r in fills]

    # -- the paper broker's account (brokers/paper.py issues no SQL of its own) ---------------

    def paper_account(
        self, account: str, starting_cash: float, commission: float
    ) -> tuple[float, float]:
        """Create the paper account if new; return its (starting cash, commission per order), USD.
        Only a new account writes: a read-only book can still be shown."""
        select = "SELECT starting_cash, commission FROM paper_accounts WHERE account = ?"
        row = self.db.execute(select, (account,)).fetchone()
        if row is None:
            with self.tx() as db:
                db.execute(
                    "INSERT OR IGNORE INTO paper_accounts VALUES (?, ?, ?, ?)",
                    (account, starting_cash, commission, utcnow()),
                )
            row = self.db.execute(select, (account,)).fetchone()
        return float(row[0]), float(row[1])

    def paper_stamp(self) -> tuple[int, int]:
        """(id of the newest paper order of any account (0 when none), number of OPEN paper
        orders): a cheap version stamp of the paper orders' fills (index lookups, not a scan).
        An insert changes the first; a resting order filled, cancelled or expired (the only
        updates: nothing re-opens an order) lowers the second."""
        last = self.db.execute("SELECT max(id) FROM paper_orders").fetchone()[0]
        resting = self.db.execute(
            "SELECT count(*) FROM paper_orders WHERE status = 'OPEN'"
        ).fetchone()[0]
        return int(last or 0), int(resting)

    def paper_fills(self, account: str, status: str) -> list[sqlite3.Row]:
        """(symbol, side, quantity, fill_price, commission) of the account's orders in `status`,
        oldest first: what the paper broker sums into cash and holdings."""
        return self._query(
            "SELECT symbol, side, quantity, fill_price, commission FROM paper_orders "
            "WHERE account = ? AND status = ? ORDER BY id",
            account,
            status,
        )

    def add_paper_order(self, **values: Any) -> sqlite3.Row:
        """Insert a paper order (columns of `paper_orders`) in one transaction; return its row."""
        values.setdefault("placed_at", utcnow())
        cols = ", ".join(values)
        sql = f"INSERT INTO paper_orders ({cols}) VALUES ({','.join('?' * len(values))})"
        read = "SELECT * FROM paper_orders WHERE id = ?"
        cur = self._write_one(sql, tuple(values.values()))
        return self.db.execute(read, (cur.lastrowid,)).fetchone()

    def paper_order(
        self, account: str, *, client_order_id: str | None = None, order_id: int | None = None
    ) -> sqlite3.Row | None:
        """One paper order by `clientOrderId` or by id, or None."""
        if client_order_id is not None:
            return self.db.execute(
                "SELECT * FROM paper_orders WHERE account = ? AND client_order_id = ?",
                (account, client_order_id),
            ).fetchone()
        return self.db.execute(
            "SELECT * FROM paper_orders WHERE account = ? AND id = ?", (account, order_id)
        ).fetchone()

    def paper_orders_in(self, account: str, status: str) -> list[sqlite3.Row]:
        """Paper orders of the account in `status`, oldest first."""
        return self._query(
            "SELECT * FROM paper_orders WHERE account = ? AND status = ? ORDER BY id",
            account,
            status,
        )

    def set_paper_status(self, order_id: int, status: str) -> bool:
        """End one OPEN paper order (a cancel) in one transaction; True when it was OPEN."""
        cur = self._write_one(
            "UPDATE paper_orders SET status = ? WHERE id = ? AND status = 'OPEN'",
            (status, order_id),
        )
        return cur.rowcount == 1
