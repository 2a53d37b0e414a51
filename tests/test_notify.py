"""Events and notifications: apprise `json://` posts to a real HTTP server on 127.0.0.1, a dead
port for failures, the login reminder, the daily summary and the cron recipe."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from etrade_cli.errors import ExitStatus


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("Content-Length") or 0)
        self.server.posts.append(json.loads(self.rfile.read(n)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    """A JSON webhook on 127.0.0.1; `.posts` holds the received apprise payloads."""
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.posts = []  # type: ignore[attr-defined]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    server.url = f"json://127.0.0.1:{server.server_port}/hook"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused
    return f"json://127.0.0.1:{port}/hook"


def _config(work: Path, *lines: str) -> None:
    (work / "config.toml").write_text("\n".join(lines) + "\n")


def _types(posts) -> list[str]:
    return [p["message"].rsplit("[", 1)[1].rstrip("]") for p in posts]


def test_paper_run_once_posts_the_fill_to_the_webhook(cli, hermetic, hook):
    _config(hermetic, "[notify]", f'urls = ["{hook.url}"]')
    r = cli("run-once", "--as-of", "2010-07-22")
    assert r.exit_code == 0, r.output
    filled = [p for p in hook.posts if p["message"].endswith("[order.filled]")]
    assert len(filled) == 1
    assert filled[0]["title"].startswith("Filled: BUY 39 IBM @ 127.47 (B1)")
    assert filled[0]["type"] == "success"
    assert "order.placed" in _types(hook.posts)


def test_a_failed_run_posts_run_failed_and_keeps_its_exit_code(cli, hermetic, hook):
    (hermetic / "bad.csv").write_text("Date,Symbol,Open\nxx,yy,zz\n")
    _config(hermetic, "[notify]", f'urls = ["{hook.url}"]', "[data]", 'csv_paths = ["bad.csv"]')
    r = cli("run-once")
    assert r.exit_code == ExitStatus.ERROR
    assert "missing column" in r.stderr
    assert _types(hook.posts) == ["run.failed"]
    assert hook.posts[0]["title"] == "etrade run-once failed (exit 1)"
    assert "missing column" in hook.posts[0]["message"]


def test_env_urls_are_used_when_the_config_itself_is_broken(cli, hermetic, hook, monkeypatch):
    monkeypatch.setenv("ETRADE_NOTIFY_URLS", hook.url)
    _config(hermetic, "[risk]", "max_ticket_usd = -1")
    r = cli("run-once")
    assert r.exit_code == ExitStatus.CONFIG
    assert _types(hook.posts) == ["run.failed"] and "(exit 3)" in hook.posts[0]["title"]


def test_a_dead_url_leaves_the_run_unchanged_with_one_warning(cli, hermetic):
    _config(hermetic, "[notify]", f'urls = ["{_dead_url()}"]')
    r = cli("run-once", "--as-of", "2010-07-22", "--json")
    assert r.exit_code == 0
    assert [e["status"] for e in json.loads(r.stdout)["entries"]] == ["filled"]
    warnings = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and "not sent to json://127.0.0.1" in warnings[0]


def test_only_chosen_events_are_sent(cli, hermetic, hook):
    _config(hermetic, "[notify]", f'urls = ["{hook.url}"]', 'events = ["run.finished"]')
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0
    assert _types(hook.posts) == ["run.finished"]


def test_unknown_event_name_is_a_config_error(cli, hermetic):
    _config(hermetic, "[notify]", 'events = ["order.filed"]')
    r = cli("config", "check")
    assert r.exit_code == ExitStatus.CONFIG and "did you mean 'order.filled'" in r.stderr


def test_urls_are_masked_in_config_show(cli, hermetic):
    _config(hermetic, "[notify]", 'urls = ["tgram://123456:ABCsecretTOKEN/987"]')
    r = cli("config", "show", "--json")
    assert json.loads(r.stdout)["notify"]["urls"] == ["tgram://****"]
    assert "ABCsecret" not in r.stdout


def test_notify_test_reports_each_url(cli, hermetic, hook):
    dead = _dead_url()
    _config(hermetic, "[notify]", f'urls = ["{hook.url}", "{dead}"]')
    r = cli("notify", "test", "--json")
    assert r.exit_code == ExitStatus.API
    rows = json.loads(r.stdout)
    assert [x["ok"] for x in rows] == [True, False]
    assert "Connection error" in rows[1]["error"]
    assert hook.posts[0]["title"] == "etrade-cli test notification"


def test_notify_test_without_urls_is_a_config_error(cli):
    r = cli("notify", "test")
    assert r.exit_code == ExitStatus.CONFIG and "[notify] urls" in r.stderr


def test_notify_summary_sends_fills_and_positions(cli, hermetic, hook):
    _config(hermetic, "[notify]", f'urls = ["{hook.url}"]', 'events = ["summary.daily"]')
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0
    r = cli("notify", "summary", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["day"] == "2010-07-22" and doc["fills"] == [["BUY", 39, "IBM", 127.47, "B1"]]
    assert [p[0] for p in doc["positions"]] == ["IBM"]
    assert _types(hook.posts) == ["summary.daily"]
    body = hook.posts[0]["message"]
    assert "BUY 39 IBM @ 127.47 B1" in body and max(len(x) for x in body.splitlines()) < 80


def _token_cfg(hermetic: Path, url: str) -> None:
    _config(hermetic, "[notify]", f'urls = ["{url}"]')


def test_auth_check_expired_token_exits_4_and_posts_the_reminder(cli, hermetic, hook, etrade_login):
    _token_cfg(hermetic, hook.url)
    etrade_login(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    r = cli("auth", "check", "--notify")
    assert r.exit_code == ExitStatus.AUTH
    assert _types(hook.posts) == ["token.expired"]
    assert "run `etrade auth login`" in hook.posts[0]["message"]
    assert "log in before" in hook.posts[0]["message"].lower()


def test_auth_check_valid_token_exits_0_and_sends_nothing(cli, hermetic, hook, etrade_login):
    _token_cfg(hermetic, hook.url)
    r = cli("auth", "check", "--notify")
    assert r.exit_code == 0, r.output
    assert hook.posts == []


def test_auth_check_missing_token_without_notify(cli, etrade_login, hermetic):
    cli("auth", "logout")
    r = cli("auth", "check", "--json")
    assert r.exit_code == ExitStatus.AUTH and json.loads(r.stdout)["status"] == "missing"


class _Cal:
    """Weekday sessions closing 16:00 ET."""

    def session_close(self, day):
        from etrade_cli.schedule import ET

        if day.weekday() >= 5:
            return None
        return dt.datetime.combine(day, dt.time(16), ET).astimezone(dt.timezone.utc)


@pytest.mark.parametrize(
    ("issued", "now", "ok", "status"),
    [
        # Friday 2026-11-20: issued 08:00 ET, checked 09:00 ET -> good through 16:00 ET
        ("2026-11-20T13:00:00+00:00", "2026-11-20T14:00:00+00:00", True, "valid"),
        # issued Thursday: expired at midnight ET
        ("2026-11-19T13:00:00+00:00", "2026-11-20T14:00:00+00:00", False, "expired"),
        # Friday 17:00 ET: no window left today; a token from today is valid now
        ("2026-11-20T21:30:00+00:00", "2026-11-20T22:00:00+00:00", True, "valid"),
        # Saturday: Friday's token expired; the reminder names Monday's window
        ("2026-11-20T21:30:00+00:00", "2026-11-21T15:00:00+00:00", False, "expired"),
    ],
)
def test_check_token_against_the_next_buy_window(etrade_login, issued, now, ok, status):
    from etrade_cli.config import load_config
    from etrade_cli.notify.reminder import check_token

    t = dt.datetime.fromisoformat(issued)
    etrade_login(t, t)
    res = check_token(load_config(), dt.datetime.fromisoformat(now), calendar=_Cal())
    assert (res.ok, res.status) == (ok, status)
    if not ok:
        assert res.event().type == "token.expired"
        assert res.window_start == dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.timezone.utc) or (
            res.window_start == dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.timezone.utc)
        )


def test_check_token_expiring_before_the_horizon(etrade_login):
    from etrade_cli.config import load_config
    from etrade_cli.notify.reminder import check_token

    t = dt.datetime.fromisoformat("2026-11-20T13:00:00+00:00")  # Friday 08:00 ET
    etrade_login(t, t)
    now = dt.datetime.fromisoformat("2026-11-21T03:00:00+00:00")  # 22:00 ET
    res = check_token(load_config(), now, dt.timedelta(hours=3), calendar=_Cal())
    assert (res.ok, res.status) == (False, "expiring")
    assert res.event().type == "token.expiring" and "expires at 2026-11-21 00:00 ET" in (
        res.event().body
    )


def test_emit_survives_a_broken_subscriber(capsys):
    from etrade_cli.events import RunStarted, emit

    seen = []

    def broken(event):
        raise RuntimeError("boom")

    emit([broken, seen.append], RunStarted("run-once", "paper", "paper"))
    assert len(seen) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "boom" in err[0] and err[0].startswith("warning:")


def test_repeats_are_suppressed_and_token_reminders_once_a_day(tmp_path, hook):
    from etrade_cli.config import NotifyConfig
    from etrade_cli.events import RiskRefused, TokenExpired
    from etrade_cli.notify import AppriseNotifier

    clock = [dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.timezone.utc)]
    n = AppriseNotifier(
        NotifyConfig(urls=(hook.url,), repeat_minutes=60),
        tmp_path / "sent.json",
        now=lambda: clock[0],
        retry_delay_s=0,
    )
    refusal = RiskRefused("IBM", "B1", "max_orders_per_day (20) reached")
    n(refusal)
    n(refusal)
    clock[0] += dt.timedelta(minutes=61)
    n(refusal)
    token = TokenExpired("sandbox", "expired")
    n(token)
    clock[0] += dt.timedelta(hours=3)
    n(token)
    assert _types(hook.posts) == ["risk.refused", "risk.refused", "token.expired"]


def test_quiet_hours_hold_info_but_not_failures(tmp_path, hook):
    from etrade_cli.config import NotifyConfig
    from etrade_cli.events import OrderFilled, RunFailed
    from etrade_cli.notify import AppriseNotifier

    n = AppriseNotifier(
        NotifyConfig(urls=(hook.url,), quiet_hours="00:00-23:59"), None, retry_delay_s=0
    )
    n(OrderFilled("IBM", "BUY", 1, "B1", "X1", 10.0))
    n(RunFailed("run-once", 1, "bad"))
    assert _types(hook.posts) == ["run.failed"]


def test_engine_emits_fills_and_run_events_to_subscribers(cli, hermetic):
    """The event seam without apprise: a subscriber list on Deps sees the cycle's events."""
    import numpy as np

    from etrade_cli.config import load_config, universe
    from etrade_cli.engine import run_once
    from etrade_cli.services import engine_deps, make_broker, open_store

    cfg = load_config()
    store = open_store(cfg)
    deps = engine_deps(cfg, store, make_broker(cfg, store), universe(cfg))
    seen = []
    deps.subscribers.append(seen.append)
    run_once(deps, np.datetime64("2010-07-22"))
    store.close()
    types = [e.type for e in seen]
    assert types[0] == "run.started" and types[-1] == "run.finished"
    filled = [e for e in seen if e.type == "order.filled"]
    assert [(e.symbol, e.side, e.quantity, e.tag) for e in filled] == [("IBM", "BUY", 39, "B1")]


def test_crontab_converts_eastern_times_to_local(cli):
    from zoneinfo import ZoneInfo

    from etrade_cli.schedule import crontab_jobs

    jobs = crontab_jobs(
        "/x/etrade",
        (900, 960),
        broker="etrade",
        today=dt.date(2026, 11, 20),
        every_min=30,
        local=ZoneInfo("Europe/Berlin"),
    )
    assert [j.line() for j in jobs] == [
        "0 15 * * 1-5 /x/etrade auth check --notify",
        "0,30 21 * * 1-5 /x/etrade run-once --broker etrade",
        "30 22 * * 1-5 /x/etrade notify summary --broker etrade",
    ]
    tokyo = crontab_jobs(
        "e",
        (900, 960),
        broker=None,
        today=dt.date(2026, 11, 20),
        every_min=60,
        local=ZoneInfo("Asia/Tokyo"),
    )
    assert tokyo[0].when == "0 5 * * 2-6"


def test_schedule_prints_absolute_paths(cli, hermetic):
    _config(hermetic, "[broker]", 'name = "paper"')
    r = cli("schedule", "--crontab", "--broker", "etrade")
    assert r.exit_code == 0, r.output
    lines = [x for x in r.stdout.splitlines() if x and not x.startswith("#")]
    assert len(lines) >= 3 and all(x.split()[5].startswith("/") for x in lines)
    assert any("auth check --notify" in x for x in lines)
    assert all(f"--config {hermetic / 'config.toml'}" in x for x in lines)


def test_run_once_without_a_valid_token_sends_the_reminder_once_a_day(
    cli, hermetic, hook, etrade_login
):
    import responses

    _token_cfg(hermetic, hook.url)
    etrade_login(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add_passthru(f"http://127.0.0.1:{hook.server_port}")
        for _ in range(2):
            r = cli("run-once", "--broker", "etrade")
            assert r.exit_code == ExitStatus.AUTH, r.output
    assert _types(hook.posts) == ["token.expired"]
    assert "etrade auth login" in hook.posts[0]["message"]


def test_engine_events_for_an_exit_the_kill_switch_and_a_refusal(tmp_path):
    from etrade_cli.config import RiskConfig
    from etrade_cli.engine import run_once
    from tests.fakes import day, fake_market, make_deps

    prices = {"AAA": [100.0, 50.0], "BBB": [100.0, 100.0]}
    deps = make_deps(
        tmp_path,
        fake_market(prices, {("AAA", 0): 5, ("BBB", 1): 4}),
        risk=RiskConfig(max_daily_loss_usd=100),
    )
    run_once(deps, day(0))
    seen = []
    deps.subscribers.append(seen.append)
    run_once(deps, day(1))
    by_type = {e.type: e for e in seen}
    assert by_type["exit.decided"].reason == "SL"
    fill = by_type["order.filled"]
    assert (fill.symbol, fill.side, fill.tag) == ("AAA", "SELL", "B1 SL")
    assert fill.pnl == pytest.approx(-500)
    assert "Realized P&L -500.00" in fill.body
    assert by_type["kill_switch"].reason.startswith("kill switch")
    assert by_type["risk.refused"].symbol == "BBB"


def test_engine_emits_a_reconcile_mismatch(tmp_path):
    from etrade_cli.brokers.base import OrderRequest
    from etrade_cli.engine import run_once
    from tests.fakes import day, fake_market, make_deps

    deps = make_deps(tmp_path, fake_market({"AAA": [100.0, 80.0]}, {("AAA", 0): 5}))
    run_once(deps, day(0))
    deps.broker.place(OrderRequest("MANUAL2", "AAA", "SELL", 10), None)
    seen = []
    deps.subscribers.append(seen.append)
    run_once(deps, day(1))
    (mismatch,) = [e for e in seen if e.type == "reconcile.mismatch"]
    assert mismatch.level == "failure" and "the book holds 10 shares" in mismatch.body


def test_a_rejected_order_is_an_event(tmp_path, monkeypatch):
    from etrade_cli.engine import run_once
    from etrade_cli.errors import OrderRejectedError
    from tests.fakes import day, fake_market, make_deps

    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))

    def refuse(_req):
        raise OrderRejectedError("insufficient buying power")

    monkeypatch.setattr(deps.broker, "preview", refuse)
    seen = []
    deps.subscribers.append(seen.append)
    run_once(deps, day(0))
    (rejected,) = [e for e in seen if e.type == "order.rejected"]
    assert (rejected.symbol, rejected.side, rejected.tag) == ("AAA", "BUY", "B1")
    assert "insufficient buying power" in rejected.body


def test_a_mismatch_exit_8_is_notified_once_as_a_mismatch(cli, hermetic, hook):
    from etrade_cli.config import load_config
    from tests.test_seams import _sell_by_hand

    _config(hermetic, "[notify]", f'urls = ["{hook.url}"]', 'events = ["all"]')
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0
    _sell_by_hand(load_config().db_path, "IBM", 39)
    hook.posts.clear()
    r = cli("run-once", "--as-of", "2010-07-23")
    assert r.exit_code == ExitStatus.RECONCILE
    types = _types(hook.posts)
    assert types.count("reconcile.mismatch") == 1 and "run.failed" not in types
    (mismatch,) = [p for p in hook.posts if p["message"].endswith("[reconcile.mismatch]")]
    assert "IBM: the book holds 39 shares, the broker 0" in mismatch["message"]
