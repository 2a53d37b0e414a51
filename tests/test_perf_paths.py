"""Issue 13's speed paths change no result: the backtest trades exactly as the code before it,
the paper broker's running totals equal its orders' sums, the batch transaction rolls back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from etrade_cli.brokers.base import OrderRequest
from etrade_cli.brokers.paper import PaperBroker
from etrade_cli.store import Store

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))


def test_backtest_trades_and_equity_match_the_pre_issue_13_reference(cli, hermetic: Path):
    from compare_reference import differences

    files = [DATA / f for f in ("AMZN_daily_1997-2020.csv", "MSFT_daily_2015-2021.csv",
                                "NFLX_daily_2018-2022.csv")]  # fmt: skip
    (hermetic / "config.toml").write_text(
        "[data]\ncsv_paths = [" + ", ".join(f"'{f}'" for f in files) + "]\n"
    )
    r = cli("backtest", "--symbols", "AMZN,MSFT,NFLX", "--json")
    assert r.exit_code == 0, r.output
    reference = json.loads((DATA / "backtest_reference.json").read_text())
    result = json.loads(r.stdout)
    assert len(result["trades"]) == len(reference["trades"]) == 92
    assert differences(result, reference) == []


def _order(coid: str, symbol: str, side: str, qty: int) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol=symbol, side=side, quantity=qty)


def test_paper_running_totals_equal_a_fresh_read_and_follow_other_writers(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    prices = {"AAA": 10.25, "BBB": 33.1}
    b = PaperBroker(store, "paper", 10_000.0, 1.5, prices=prices.get)
    for i, (sym, side, qty) in enumerate(
        [("AAA", "BUY", 100), ("BBB", "BUY", 30), ("AAA", "SELL", 40), ("BBB", "SELL", 30)]
    ):
        req = _order(f"C{i}", sym, side, qty)
        assert b.place(req, b.preview(req)).status == "EXECUTED"
    fresh = PaperBroker(store, "paper", prices=prices.get)  # reads the orders from the store
    assert b.positions() == fresh.positions() and [p.quantity for p in b.positions()] == [60]
    assert b.account_values() == fresh.account_values()
    cash = 10_000.0 - 100 * 10.25 - 30 * 33.1 + 40 * 10.25 + 30 * 33.1 - 4 * 1.5
    assert b.account_values().cash == pytest.approx(cash)
    # another writer (a second broker object on the same book) places an order: both see it
    req = _order("OTHER", "AAA", "SELL", 60)
    fresh.place(req, fresh.preview(req))
    assert b.positions() == [] and b.account_values().cash == fresh.account_values().cash


def test_batch_is_one_transaction_rolled_back_whole(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    with pytest.raises(RuntimeError), store.batch():
        for _ in range(3):
            store.start_run("backtest", "paper", "paper", None)
        with pytest.raises(ValueError), store.tx():  # an inner block is a savepoint
            store.db.execute("INSERT INTO meta VALUES ('x', 'y')")
            raise ValueError
        assert store.meta("x") is None and len(store._query("SELECT id FROM runs")) == 3
        raise RuntimeError
    assert store._query("SELECT id FROM runs") == []


def test_last_session_reads_the_index(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    plan = store._query(
        "EXPLAIN QUERY PLAN SELECT max(session_date) FROM runs WHERE broker = 'paper' AND "
        "account = 'paper' AND outcome = 'ok' AND mode != 'dry-run'"
    )
    assert any("runs_completed" in r[3] for r in plan), [tuple(r) for r in plan]


@pytest.mark.parametrize("n", [1, 2, 10, 21])
def test_htf_ema_by_column_equals_the_row_pass_bit_for_bit(n: int, monkeypatch):
    from etrade_cli.strategy import indicators as ind

    rng = np.random.default_rng(n)
    rows = 900
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (rows, 3)), axis=0))
    close[:300, 1] = np.nan  # a shorter symbol: front padding
    close[:, 2] = np.nan  # a column without bars
    dates = np.datetime64("2001-01-02") + np.sort(rng.choice(rows * 2, rows, replace=False))
    dates = np.repeat(dates.astype("datetime64[D]")[:, None], 3, axis=1)
    for ids in (ind.week_ids(dates), ind.month_ids(dates)):
        fast = ind.htf_ema(close, ids, n)
        monkeypatch.setattr(ind, "_front_padded", lambda c: False)
        slow = ind.htf_ema(close, ids, n)
        monkeypatch.undo()
        assert np.array_equal(fast, slow, equal_nan=True)
        assert np.isfinite(fast[-1, :2]).all()


def test_last_closes_equals_last_close_everywhere():
    from etrade_cli.market import MarketView
    from etrade_cli.marketdata.csv import read_bars_csv
    from etrade_cli.strategy.rajat_alpha import RajatAlpha

    bars = [*read_bars_csv(DATA / "MSFT_daily_2015-2021.csv")[0].values(),
            *read_bars_csv(DATA / "NFLX_daily_2018-2022.csv")[0].values()]  # fmt: skip
    m = MarketView.from_bars(bars, RajatAlpha())
    days = [np.datetime64("2014-01-02"), *m.sessions[::97], np.datetime64("2030-01-01")]
    symbols = ["MSFT", "NFLX", "NOPE"]
    got = m.last_closes(symbols, days)
    want = [[m.last_close(s, d) if s in m.col else None for s in symbols] for d in days]
    assert np.array_equal(got, np.array(want, dtype=float), equal_nan=True)
    assert np.isnan(got[0]).all() and np.isfinite(got[-1, :2]).all()


def test_market_lookups_by_date_text_equal_the_searches():
    """`MarketView` answers the cycle's questions (is it a session, the close, the last close,
    sessions held, the signals) by dicts keyed by the date's text; the answers are those of
    the searches over the dates, for sessions, days between them, days outside the data and
    dates of another unit."""
    from etrade_cli.market import MarketView
    from etrade_cli.marketdata.csv import read_bars_csv
    from etrade_cli.strategy.rajat_alpha import RajatAlpha

    bars = [*read_bars_csv(DATA / "MSFT_daily_2015-2021.csv")[0].values(),
            *read_bars_csv(DATA / "NFLX_daily_2018-2022.csv")[0].values()]  # fmt: skip
    m = MarketView.from_bars(bars, RajatAlpha())
    p, s = m.ev.panel, m.sessions
    by_date = m.ev.signals_by_date()

    def row(sym: str, d: np.datetime64) -> int:
        return p.row_at(m.col[sym], d) if sym in m.col else -1

    def close(sym: str, d: np.datetime64) -> float | None:
        r = row(sym, d)
        return float(p.close[r, m.col[sym]]) if r >= 0 and p.dates[r, m.col[sym]] == d else None

    def last_close(sym: str, d: np.datetime64) -> float | None:
        r = row(sym, d)
        return float(p.close[r, m.col[sym]]) if r >= 0 else None

    extra = np.arange(np.datetime64("2018-12-20"), np.datetime64("2019-01-10"))  # holidays
    days = [np.datetime64("2014-01-02"), *s[::41], *extra, s[-1], np.datetime64("2030-01-01"),
            np.datetime64("2019-01-03T00:00:00"), np.datetime64("2019-01-05T12:00")]  # fmt: skip
    for d in days:
        i = int(np.searchsorted(s, d, side="right")) - 1
        session = s[i] if i >= 0 else None
        assert m.locate(d) == (session, session is not None and bool(session == d)), d
        for sym in ("MSFT", "NFLX", "NOPE"):
            assert m.close(sym, d) == close(sym, d) and m.last_close(sym, d) == last_close(sym, d)
        want = [m.ev.signal(c, r) for c, r in by_date.get(d, [])]
        assert [(x.symbol, x.date) for x in m.signals(d)] == [(x.symbol, x.date) for x in want]
        for entry in ("2018-12-24", "2018-12-25", "2019-01-02", "2014-06-02"):
            held = int(np.searchsorted(s, d, side="right")) - int(
                np.searchsorted(s, np.datetime64(entry), side="right")
            )
            assert m.bars_held(entry, d) == max(0, held), (entry, d)
    assert sum(len(m.signals(d)) for d in s) == sum(map(len, by_date.values())) > 0
