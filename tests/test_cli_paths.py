"""`etrade paths`, `config show` with the files in use, and `etrade paper reset`."""

from __future__ import annotations

import json
from pathlib import Path

from etrade_cli.errors import ExitStatus


def test_paths_lists_every_file_in_use(cli, hermetic: Path):
    home = hermetic.parent / "home"
    doc = json.loads(cli("paths", "--json").stdout)
    assert set(doc) >= {
        "config_file", "config_dir", "data_dir", "book", "bar_cache", "token_store", "lock_file"
    }  # fmt: skip
    assert doc["book"]["path"] == str(home / "etrade.db") and not doc["book"]["exists"]
    assert doc["bar_cache"]["path"] == str(home / "bars.db")
    assert doc["lock_file"]["path"] == str(home / "etrade.db.lock")
    assert doc["config_file"]["path"] is None
    cfg = hermetic / "config.toml"
    cfg.write_text('[paths]\ndb = "mine.db"\n')
    doc = json.loads(cli("paths", "--json").stdout)
    assert doc["config_file"]["path"] == str(cfg) and doc["book"]["path"] == str(
        hermetic / "mine.db"
    )
    doc = json.loads(cli("paths", "--db", "other.db", "--json").stdout)
    assert doc["book"]["path"] == str(hermetic / "other.db")
    r = cli("paths")
    assert r.exit_code == 0 and "book" in r.stdout and "mine.db" in r.stdout


def test_config_show_names_the_files_in_use(cli, hermetic: Path):
    r = cli("config", "show")
    assert f"book = {hermetic.parent / 'home' / 'etrade.db'}" in r.stdout
    assert "bar_cache" in json.loads(cli("config", "show", "--json").stdout)["in_use"]


def _orders(cli) -> list:
    return json.loads(cli("--db", "p.db", "history", "orders", "--json").stdout)


def test_paper_reset_starts_over_and_keeps_a_backup(cli, hermetic: Path):
    for day in ("2010-07-22", "2010-08-17"):
        assert cli("--db", "p.db", "run-once", "--as-of", day).exit_code == 0
    assert len(_orders(cli)) == 2
    r = cli("--db", "p.db", "paper", "reset")  # no --yes, no answer: nothing changes
    assert r.exit_code != 0 and len(_orders(cli)) == 2
    r = cli("--db", "p.db", "paper", "reset", "--cash", "5000", "--yes", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    backup = Path(doc["backup"])
    assert doc["cash"] == 5000 and backup.exists() and backup.parent == hermetic
    assert _orders(cli) == []
    assert json.loads(cli("--db", backup.name, "history", "--json").stdout)  # the old journal
    assert json.loads(cli("--db", "p.db", "positions", "--json").stdout)["positions"] == []
    r = cli("--db", "p.db", "run-once", "--as-of", "2010-07-22", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["equity"] == 5000
    # the book can start from an earlier session again
    r = cli("--db", "p.db", "paper", "reset", "--yes", input="")
    assert r.exit_code == 0 and "100,000.00 USD" in r.stderr


def test_paper_reset_answers_the_prompt(cli, hermetic: Path):
    assert cli("--db", "q.db", "run-once", "--as-of", "2010-07-22").exit_code == 0
    r = cli("--db", "q.db", "paper", "reset", input="y\n")
    assert r.exit_code == 0 and "old book is in" in r.stderr


def test_paper_reset_refuses_while_a_run_holds_the_lock(cli, hermetic: Path):
    from filelock import FileLock

    assert cli("--db", "l.db", "run-once", "--as-of", "2010-07-22").exit_code == 0
    with FileLock(str(hermetic / "l.db.lock")):
        r = cli("--db", "l.db", "paper", "reset", "--yes")
    assert r.exit_code == ExitStatus.BUSY


def test_reset_paper_clears_every_paper_row_and_keeps_other_brokers(hermetic: Path):
    from etrade_cli.store import Store

    store = Store(hermetic / "s.db")
    with store.tx() as db:
        for broker in ("paper", "etrade"):
            run = db.execute(
                "INSERT INTO runs (started_at, mode, broker, account) VALUES ('t', 'run-once', ?, "
                "'paper')",
                (broker,),
            ).lastrowid
            order = store.new_order(
                db, client_order_id=f"C{broker}", broker=broker, account="paper", symbol="IBM",
                side="BUY", quantity=1, purpose="ENTRY_B1", session_date="2010-07-22",
                status="filled", run_id=run,
            )  # fmt: skip
            store.add_fill(db, order, f"F{broker}", 1, 10.0, 0.0, "2010-07-22", "t")
            store.add_proposal(
                db, proposal_id="p1", strategy="http", broker=broker, account="paper",
                session_date="2010-07-22", run_id=run, symbol="IBM", side="BUY",
                outcome="ordered", order_id=order.id, body="{}",
            )  # fmt: skip
    deleted = store.reset_paper("paper", 5000.0, 0.0)
    assert deleted["orders"] == deleted["fills"] == deleted["proposals"] == deleted["runs"] == 1
    assert [o["broker"] for o in store.history("orders")] == ["etrade"]
    assert len(store.history("fills")) == 1 and len(store.proposals()) == 1
    store.close()
