"""The `http` strategy end to end: `etrade run-once` (paper broker, bundled data) against a real
HTTP server on 127.0.0.1 playing the signal service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from etrade_cli.engine.proposals import proposal_coid
from etrade_cli.errors import ExitStatus
from etrade_cli.store import Store
from tests.signal_server import FakeService, closed_port_url

TOKEN = "sig-t0ken-value-QwErTy-1234"
D1, D2 = "2010-08-19", "2010-08-20"  # IBM closes 128.90 then 127.50 in the bundled sample
IBM_D1, IBM_D2 = 128.90, 127.50


@pytest.fixture
def service() -> Iterator[FakeService]:
    s = FakeService().start()
    yield s
    s.stop()


def configure(work: Path, url: str, *, validate: bool = True, timeout_s: float = 2.0) -> None:
    (work / "watchlist.txt").write_text("AAPL\nIBM\nMSFT\nKO\n")
    (work / "config.toml").write_text(
        f"""
[strategy]
name = "http"

[signals]
url = "{url}"
token = "{TOKEN}"
timeout_s = {timeout_s}
validate = {str(validate).lower()}
"""
    )


def book(work: Path) -> Store:
    return Store(work.parent / "home" / "etrade.db")


def buy(pid: str = "p-1", **extra) -> dict:
    return {"id": pid, "symbol": "IBM", "side": "BUY", "quantity": 10, "stop_loss": 128.0, **extra}


def run(cli, *args: str):
    r = cli("run-once", "--json", *args)
    doc = json.loads(r.stdout) if r.stdout.strip() else None
    return r, doc


def test_propose_check_validate_order_fill_reward(cli, hermetic: Path, service: FakeService):
    configure(hermetic, service.url)
    service.proposals = [buy(tag="momentum", reason="bandit arm 3")]
    r, doc = run(cli, "--as-of", D1)
    assert r.exit_code == 0, r.output
    coid = proposal_coid("paper", "paper", "p-1")
    assert len(coid) == 20 and coid.isalnum()
    assert [
        (e["symbol"], e["kind"], e["quantity"], e["status"], e["client_order_id"])
        for e in doc["entries"]
    ] == [("IBM", "momentum", 10, "filled", coid)]
    assert doc["entries"][0]["price"] == pytest.approx(IBM_D1)
    assert [p["outcome"] for p in doc["proposals"]] == ["ordered"]
    # the service was asked with the contract's body and the bearer token
    ((_, _, headers, body),) = service.calls("/propose")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body["session"] == D1 and body["as_of"].endswith("+00:00")
    assert body["account"] == {"equity": 100_000.0, "cash": 100_000.0}
    assert body["positions"] == [] and body["universe"] == ["AAPL", "IBM", "KO", "MSFT"]
    ((_, _, _, vbody),) = service.calls("/validate")
    assert vbody["proposal"]["id"] == "p-1"
    assert vbody["sizing"] == {
        "quantity": 10,
        "price": IBM_D1,
        "notional_usd": 1289.0,
        "client_order_id": coid,
    }
    # one reward, after the fill was recorded, with an idempotency key
    ((_, _, rheaders, reward),) = service.calls("/reward")
    assert reward["kind"] == "fill" and reward["proposal_id"] == "p-1"
    assert reward["fill"]["symbol"] == "IBM" and reward["fill"]["side"] == "BUY"
    assert reward["fill"]["quantity"] == 10 and reward["fill"]["price"] == pytest.approx(IBM_D1)
    assert reward["realized_pnl_usd"] is None
    assert rheaders["Idempotency-Key"] == reward["idempotency_key"]
    st = book(hermetic)
    (pos,) = st.positions("paper", "paper")
    assert (pos.kind, pos.strategy, pos.stop_loss) == ("momentum", "http", 128.0)
    (order,) = st.orders()
    assert order.client_order_id == coid and order.purpose == "ENTRY_momentum"
    assert [r["status"] for r in st.rewards("paper", "paper")] == ["sent"]
    assert TOKEN not in r.output


def test_a_duplicate_proposal_id_is_never_ordered_twice(cli, hermetic: Path, service: FakeService):
    configure(hermetic, service.url)
    service.proposals = [buy(stop_loss=100.0)]
    assert run(cli, "--as-of", D1)[0].exit_code == 0
    service.proposals = [buy(stop_loss=100.0), buy("p-2", symbol="KO", stop_loss=None)]
    r, doc = run(cli, "--as-of", D2)
    assert r.exit_code == 0, r.output
    outcomes = {p["id"]: p["outcome"] for p in doc["proposals"]}
    assert outcomes == {"p-1": "duplicate", "p-2": "ordered"}
    assert [e["symbol"] for e in doc["entries"]] == ["KO"]
    st = book(hermetic)
    assert [o.symbol for o in st.orders()] == ["IBM", "KO"]
    assert len(service.calls("/validate")) == 2  # the duplicate is not even validated
    assert len(service.accepted) == 2  # one reward per fill, none for the duplicate


def test_a_validate_rejection_is_recorded_and_orders_nothing(cli, hermetic, service):
    configure(hermetic, service.url)
    service.proposals = [buy()]
    service.verdict = {"approved": False, "reason": "sector exposure above 20 %"}
    r, doc = run(cli, "--as-of", D1)
    assert r.exit_code == 0, r.output
    assert doc["entries"] == [] and doc["proposals"][0]["outcome"] == "rejected"
    assert doc["refusals"] == [
        {"symbol": "IBM", "action": "BUY p-1", "reason": "validate: sector exposure above 20 %"}
    ]
    st = book(hermetic)
    assert st.orders() == []
    (row,) = st._query("SELECT symbol, reason FROM refusals")
    assert tuple(row) == ("IBM", "validate: sector exposure above 20 %")
    (prop,) = st.proposals()
    assert (prop["outcome"], prop["order_id"]) == ("rejected", None)
    assert service.calls("/reward") == []


def test_validate_off_sends_no_validate_call(cli, hermetic, service):
    configure(hermetic, service.url, validate=False)
    service.proposals = [buy()]
    assert run(cli, "--as-of", D1)[0].exit_code == 0
    assert service.calls("/validate") == [] and len(service.accepted) == 1


def test_service_down_gives_no_entries_but_exits_still_run(cli, hermetic, service):
    configure(hermetic, service.url)
    service.proposals = [buy()]  # stop 128.00; IBM closes 127.50 the next session
    assert run(cli, "--as-of", D1)[0].exit_code == 0
    configure(hermetic, closed_port_url())
    r, doc = run(cli, "--as-of", D2)
    assert r.exit_code == ExitStatus.API
    assert doc["entries"] == []
    assert [(e["symbol"], e["reason"], e["status"]) for e in doc["exits"]] == [
        ("IBM", "SL", "filled")
    ]
    assert doc["exits"][0]["pnl"] == pytest.approx((IBM_D2 - IBM_D1) * 10)
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "signal service: propose: /propose: cannot reach" in errors[0]
    assert "rewards" not in errors[0] or "kept" in errors[0]
    # the close reward of the position waits in the outbox for the service
    pending = book(hermetic).rewards("paper", "paper", "pending")
    assert [r["kind"] for r in pending] == ["close"]


def test_sell_proposal_closes_the_position_and_rewards_fill_and_close(cli, hermetic, service):
    configure(hermetic, service.url)
    service.proposals = [buy(stop_loss=120.0)]
    assert run(cli, "--as-of", D1)[0].exit_code == 0
    service.proposals = [{"id": "p-9", "symbol": "IBM", "side": "SELL", "reason": "take it"}]
    r, doc = run(cli, "--as-of", D2)
    assert r.exit_code == 0, r.output
    assert [(e["symbol"], e["reason"], e["quantity"], e["status"]) for e in doc["exits"]] == [
        ("IBM", "SIGNAL", 10, "filled")
    ]
    pnl = round((IBM_D2 - IBM_D1) * 10, 2)
    kinds = {(b["kind"], b["proposal_id"]): b for b in service.accepted.values()}
    assert set(kinds) == {("fill", "p-1"), ("fill", "p-9"), ("close", "p-1")}
    assert kinds[("fill", "p-9")]["realized_pnl_usd"] == pytest.approx(pnl)
    assert kinds[("fill", "p-9")]["fill"]["side"] == "SELL"
    close = kinds[("close", "p-1")]
    assert close["realized_pnl_usd"] == pytest.approx(pnl)
    assert close["position"]["exit_reason"] == "SIGNAL"
    (pos,) = book(hermetic).positions("paper", "paper", ("closed",))
    assert pos.exit_reason == "SIGNAL" and pos.remaining_qty == 0


def test_a_failed_reward_is_resent_on_the_next_run_exactly_once(cli, hermetic, service):
    configure(hermetic, service.url)
    service.proposals = [buy(stop_loss=100.0)]
    service.reward_failures = 1
    r, doc = run(cli, "--as-of", D1)
    assert r.exit_code == ExitStatus.API
    assert [e["status"] for e in doc["entries"]] == ["filled"]  # the trade itself is done
    assert "reward: /reward: HTTP 503" in r.stderr and "kept for the next run" in r.stderr
    st = book(hermetic)
    (row,) = st.rewards("paper", "paper")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert service.accepted == {}
    service.proposals = []
    r, _ = run(cli, "--as-of", D2)
    assert r.exit_code == 0, r.output
    keys = [c[3]["idempotency_key"] for c in service.calls("/reward")]
    assert keys == [row["idempotency_key"]] * 2  # the failed attempt and the one re-send
    assert list(service.accepted) == [row["idempotency_key"]]
    (row,) = st.rewards("paper", "paper")
    assert (row["status"], row["attempts"]) == ("sent", 2)
    r, _ = run(cli, "--as-of", D2)  # a later run sends nothing again
    assert len(service.calls("/reward")) == 2


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"<html>oops</html>", "/propose: answer is not JSON"),
        (b'{"proposals": [], "extra": 1}', "unknown field 'extra'"),
        (json.dumps({"proposals": [buy(quantity=-5)]}).encode(), "quantity: must be > 0"),
        (json.dumps({"proposals": [buy(symbol="ZZZZ")]}).encode(), "unknown symbol 'ZZZZ'"),
        (json.dumps({"proposals": [buy(color="red")]}).encode(), "unknown field 'color'"),
        (json.dumps({"proposals": [buy(), buy()]}).encode(), "'p-1' is repeated"),
        (json.dumps({"proposals": [buy(id="x" * 65)]}).encode(), "longer than 64"),
    ],
)
def test_garbage_answers_give_no_entries_and_exit_5(cli, hermetic, service, answer, problem):
    configure(hermetic, service.url)
    service.raw_propose = answer
    r, doc = run(cli, "--as-of", D1)
    assert r.exit_code == ExitStatus.API, r.output
    assert doc["entries"] == [] and doc["proposals"] == []
    assert problem in r.stderr and r.stderr.count("\n") == 1
    assert book(hermetic).orders() == []


def test_a_slow_service_times_out(cli, hermetic, service):
    configure(hermetic, service.url, timeout_s=0.2)
    service.proposals, service.delay_s = [buy()], 1.0
    r, doc = run(cli, "--as-of", D1)
    assert r.exit_code == ExitStatus.API
    assert "no answer within 0.2 s" in r.stderr and doc["entries"] == []


def test_table_output_and_dry_run(cli, hermetic, service):
    configure(hermetic, service.url)
    service.proposals = [buy(), buy("p-2", symbol="KO", quantity=2.5)]
    r = cli("run-once", "--as-of", D1, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "p-2" in r.stdout and "whole shares" in r.stdout
    assert book(hermetic).orders() == [] and service.calls("/reward") == []


def test_the_token_is_masked_in_config_show_and_never_logged(cli, hermetic, service):
    configure(hermetic, service.url)
    service.proposals = [buy()]
    r = cli("config", "show", "--json")
    assert json.loads(r.stdout)["signals"]["token"].startswith("****") and TOKEN not in r.stdout
    r = cli("--debug", "run-once", "--as-of", D1)
    assert r.exit_code == 0 and TOKEN not in r.output and TOKEN not in r.stderr


def test_http_strategy_without_url_is_a_config_error(cli, hermetic):
    (hermetic / "config.toml").write_text('[strategy]\nname = "http"\n')
    r = cli("run-once")
    assert r.exit_code == ExitStatus.CONFIG and "[signals] url" in r.stderr


def test_backtest_refuses_a_service_that_cannot_replay(cli, hermetic, service):
    configure(hermetic, service.url)
    r = cli("backtest", "--strategy", "http")
    assert r.exit_code == ExitStatus.USAGE
    assert "cannot be backtested" in r.stderr and "past_sessions" in r.stderr
    configure(hermetic, closed_port_url())
    assert cli("backtest", "--strategy", "http").exit_code == ExitStatus.USAGE
    (hermetic / "config.toml").unlink()
    r = cli("backtest", "--strategy", "http")
    assert r.exit_code == ExitStatus.USAGE and "[signals] url" in r.stderr


def test_backtest_replays_a_service_that_takes_past_sessions(cli, hermetic, service):
    configure(hermetic, service.url, validate=False)
    service.capabilities = {"past_sessions": True}
    service.proposals = lambda body: (
        [buy(f"bt-{body['session']}", stop_loss=100.0)] if body["session"] == "2010-08-16" else []
    )
    r = cli("backtest", "--strategy", "http", "--start", "2010-08-16", "--end", D2, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["sessions"] == 4
    assert [(t["symbol"], t["shares"]) for t in doc["trades"]] == [("IBM", 10)]
    sessions = [c[3]["session"] for c in service.calls("/propose")]
    assert sessions == ["2010-08-16", "2010-08-17", D1, D2]


def test_strategy_option_overrides_the_configured_one(cli, hermetic, service):
    configure(hermetic, service.url)
    r = cli("run-once", "--as-of", D1, "--strategy", "rajat_alpha", "--json")
    assert r.exit_code == 0, r.output
    assert service.requests == []


def test_the_example_service_proposes_rajat_b1_signals_and_logs_rewards(cli, hermetic, tmp_path):
    import importlib.util
    import threading

    path = Path(__file__).parents[1] / "examples" / "signal_service" / "server.py"
    spec = importlib.util.spec_from_file_location("example_signal_service", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rewards = tmp_path / "rewards.jsonl"
    server = mod.make_server(mod.RajatB1Service(rewards), port=0, token=TOKEN)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        (hermetic / "config.toml").write_text(
            f'[strategy]\nname = "http"\n[signals]\nurl = "{url}"\ntoken = "{TOKEN}"\n'
            "validate = true\n"
        )
        r, doc = run(cli, "--as-of", D2)
        assert r.exit_code == 0, r.output
        # the same B1s as `etrade run-once` with Rajat Alpha itself on this session
        assert [(e["symbol"], e["kind"], e["status"]) for e in doc["entries"]] == [
            ("ED", "B1", "filled"),
            ("AEP", "B1", "filled"),
        ]
        logged = [json.loads(line) for line in rewards.read_text().splitlines()]
        assert [(x["kind"], x["fill"]["symbol"]) for x in logged] == [
            ("fill", "ED"),
            ("fill", "AEP"),
        ]
        (hermetic / "config.toml").write_text(
            f'[strategy]\nname = "http"\n[signals]\nurl = "{url}"\ntoken = "wrong-token"\n'
        )
        r, _ = run(cli, "--as-of", D2)
        assert r.exit_code == ExitStatus.API and "HTTP 401" in r.stderr
    finally:
        server.shutdown()
        server.server_close()
