"""`etrade history`: the journal of the book for every broker, as a user runs it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from etrade_cli.errors import ExitStatus

SESSIONS = ["2010-07-22", "2010-07-23", "2010-08-16", "2010-08-17", "2010-08-20"]


@pytest.fixture
def traded(cli, hermetic: Path) -> Path:
    """A paper book after a few run-once sessions (entries in IBM and BA)."""
    for day in SESSIONS:
        r = cli("--db", "h.db", "run-once", "--as-of", day)
        assert r.exit_code == 0, r.output
    return hermetic / "h.db"


def test_history_orders_json_lists_the_paper_orders(cli, traded):
    r = cli("history", "orders", "--db", "h.db", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(o["session_date"], o["symbol"], o["side"]) for o in rows] == [
        ("2010-07-22", "IBM", "BUY"),
        ("2010-08-17", "BA", "BUY"),
    ]
    assert all(o["broker"] == "paper" and o["status"] == "filled" for o in rows)
    assert all(o["client_order_id"] for o in rows)


def test_history_filters_and_kinds(cli, traded):
    fills = json.loads(cli("--db", "h.db", "history", "fills", "--json").stdout)
    assert [(f["symbol"], f["quantity"]) for f in fills] == [("IBM", 39), ("BA", 75)]
    assert (
        json.loads(cli("--db", "h.db", "history", "--since", "2010-08-01", "--json").stdout)[0][
            "symbol"
        ]
        == "BA"
    )
    only = json.loads(cli("--db", "h.db", "history", "--symbol", "ibm", "--json").stdout)
    assert [o["symbol"] for o in only] == ["IBM"]
    runs = json.loads(cli("--db", "h.db", "history", "runs", "--json").stdout)
    assert [r["session_date"] for r in runs] == SESSIONS
    assert runs[0]["counts"]["entries"] == 1 and runs[0]["equity"] == pytest.approx(100000)
    assert json.loads(cli("--db", "h.db", "history", "--broker", "etrade", "--json").stdout) == []


def test_history_table_and_csv(cli, traded):
    r = cli("--db", "h.db", "history")
    assert r.exit_code == 0 and "Orders in" in r.stdout and "IBM" in r.stdout
    rows = list(
        csv.DictReader(io.StringIO(cli("--db", "h.db", "history", "fills", "--csv").stdout))
    )
    assert len(rows) == 2 and rows[0]["price"] and rows[0]["client_order_id"]
    empty = cli("--db", "h.db", "history", "refusals", "--csv")
    assert empty.stdout.startswith("id,session_date,broker,account,symbol,action,reason")


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--db", "nope.db", "history"], ExitStatus.ERROR, "no position book at nope.db"),
        (["history", "trades"], ExitStatus.USAGE, "'trades' is not one of 'orders'"),
        (["history", "runs", "--symbol", "IBM"], ExitStatus.USAGE, "--symbol does not apply"),
        (["history", "--since", "2010-13-01"], ExitStatus.ERROR, "bad --since"),
    ],
)
def test_history_errors(cli, args, code, message):
    r = cli(*args)
    assert r.exit_code == code and message in r.stderr, r.output


def test_history_of_a_book_never_written(cli, hermetic):
    r = cli("history", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
