"""`etrade optimize`: parameter parsing, grids, shared evaluations, same results on every
backend and worker count, walk-forward folds, optuna, heatmap, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etrade_cli.config import RiskConfig
from etrade_cli.errors import InputError
from etrade_cli.marketdata.csv import read_bars_csv
from etrade_cli.optimize import Sweep, grid, optimize, parse_param, ranked, signal_key
from etrade_cli.strategy.rajat_alpha import RajatAlpha, StrategyParams

DATA = Path(__file__).parent / "data"
BASE = RajatAlpha(StrategyParams())


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("max_loss_pct=0.01:0.03:0.005", (0.01, 0.015, 0.02, 0.025, 0.03)),
        ("tes_days_b1=10,21,30", (10, 21, 30)),
        ("tes_days_b1=5:9:2", (5, 7, 9)),
        ("pullback_require_dip=true,false", (True, False)),
        ("stalling_filter=range,off", ("range", "off")),
    ],
)
def test_parse_param(text: str, values: tuple):
    spec = parse_param(text, BASE)
    assert spec.values == values
    assert all(type(v) is type(values[0]) for v in spec.values)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_los_pct=0.01,0.02", "did you mean 'max_loss_pct'"),
        ("max_loss_pct", "NAME=LO:HI:STEP"),
        ("max_loss_pct=0.03:0.01:0.01", "LO <= HI"),
        ("tes_days_b1=ten", "not a valid int"),
        ("max_loss_pct=0,0.02", "must be > 0.0"),
        ("stalling_filter=sometimes", "must be one of range, off"),
    ],
)
def test_parse_param_errors(text: str, message: str):
    with pytest.raises(InputError, match=message):
        parse_param(text, BASE)


def test_grid_and_signal_keys():
    specs = [parse_param("pullback_days=3,4", BASE), parse_param("tes_days_b1=10,21,30", BASE)]
    combos = grid(specs)
    assert len(combos) == 6 and combos[1] == {"pullback_days": 3, "tes_days_b1": 21}
    keys = {signal_key(RajatAlpha(StrategyParams(**c))) for c in combos}
    assert len(keys) == 2  # tes_days_b1 is an exit parameter: it shares the evaluation


@pytest.fixture(scope="module")
def sweep() -> Sweep:
    bars, _ = read_bars_csv(DATA / "NFLX_daily_2018-2022.csv")
    more, _ = read_bars_csv(DATA / "MSFT_daily_2015-2021.csv")
    specs = [parse_param("tes_days_b1=10,21", BASE), parse_param("pullback_days=3,4", BASE)]
    return Sweep([*bars.values(), *more.values()], BASE, RiskConfig(), specs, metric="return")


def _scores(res) -> list[tuple]:
    return [(tuple(t.params.items()), t.score, t.trades, t.end_equity) for t in res.trials]


def test_same_results_on_loky_1_and_2_workers_and_a_dask_local_cluster(sweep: Sweep):
    one = optimize(sweep, backend="loky", workers=1)
    two = optimize(sweep, backend="loky", workers=2)
    dask = optimize(sweep, backend="dask", workers=2)
    assert one.combinations == 4 and one.evaluations == 2
    assert _scores(one) == _scores(two) == _scores(dask)
    assert sum(t.trades for t in one.trials) > 0  # the sweep traded: the comparison means something
    assert [t.score for t in one.trials] == sorted((t.score for t in one.trials), reverse=True)


def loky_workers() -> set[int]:
    """PIDs of this process's live loky workers."""
    import psutil

    out = set()
    for child in psutil.Process().children():
        try:
            if "LokyProcess" in " ".join(child.cmdline()) and child.is_running():
                out.add(child.pid)
        except psutil.Error:  # gone, or a zombie about to be reaped
            pass
    return out


def test_run_shared_yields_in_task_order_from_both_sides_and_raises_when_due():
    import math
    import os

    from etrade_cli import pool

    tasks = [(math.factorial, (n,)) for n in range(40)]
    assert list(pool.run_shared(tasks, 1)) == [math.factorial(n) for n in range(40)]
    pids = list(pool.run_shared([(os.getpid, ())] * 40, 1))
    assert os.getpid() in pids  # this process ran some of them
    bad = [(math.sqrt, (4.0,)), (math.sqrt, (-1.0,)), *[(math.sqrt, (9.0,))] * 10]
    got = pool.run_shared(bad, 1)
    assert next(got) == 2.0
    with pytest.raises(ValueError):
        next(got)


def test_workers_started_early_are_the_ones_the_sweep_uses(sweep: Sweep):
    import os
    import tempfile

    from etrade_cli import optimize as opt

    def leftovers() -> set[str]:
        return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("etrade-optimize-")}

    before = leftovers()
    opt.start_workers("loky", 2)
    assert opt._starting  # started, not waited for
    started = loky_workers()
    res = optimize(sweep, backend="loky", workers=2)
    assert not opt._starting  # the sweep waited for them: nothing is left to fail at exit
    # this process is one of the 2 workers: one loky process, and the sweep started no other
    assert len(started) == 1 and loky_workers() == started
    assert res.trials and leftovers() == before  # the evaluation files are gone
    assert not opt._MARKETS  # and this process keeps no view of the sweep's evaluations


def test_the_cli_worker_pool_stops_its_workers_at_the_end(sweep: Sweep):
    import time

    from etrade_cli import optimize as opt

    with opt.worker_pool("loky", 2):
        res = optimize(sweep, backend="loky", workers=2)
        used = loky_workers()
    assert res.trials and len(used) >= 1
    deadline = time.monotonic() + 20
    while used & loky_workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not used & loky_workers()


def test_a_process_builds_one_market_view_per_shared_evaluation(sweep: Sweep, tmp_path: Path):
    import pickle

    from etrade_cli import optimize as opt

    ev = BASE.evaluate(list(sweep.bars), None)
    path = tmp_path / "ev.pickle"
    path.write_bytes(pickle.dumps(ev))
    tradable = tuple(b.symbol for b in sweep.bars)
    try:
        first = opt._market(opt.Shared("s1:0", str(path)), None, tradable)
        assert opt._market(opt.Shared("s1:0", str(path)), None, tradable) is first
        assert (
            first.sessions.tolist()
            == opt._market(opt.Shared("s1:1"), ev, tradable).sessions.tolist()
        )
        opt._market(opt.Shared("s2:0"), ev, tradable)  # a new sweep drops the earlier one's views
        assert set(opt._MARKETS) == {"s2:0"}
    finally:
        opt._MARKETS.clear()


def test_each_trial_equals_a_plain_backtest(sweep: Sweep):
    from etrade_cli.backtest import run_backtest

    res = optimize(sweep, backend="loky", workers=1)
    best = res.trials[0]
    plain = run_backtest(
        sweep.bars, RajatAlpha(StrategyParams(**best.params)), RiskConfig(), cash=100_000.0
    )
    assert best.end_equity == plain.stats["equity_final"]
    assert best.trades == len(plain.trades)


def test_walk_forward_folds_report_out_of_sample(sweep: Sweep):
    res = optimize(sweep, folds=2, backend="loky", workers=1)
    assert len(res.folds) == 2
    for f in res.folds:
        assert f.in_sample[1] < f.out_of_sample[0]
        assert f.best in grid(sweep.specs)
    assert res.folds[0].out_of_sample == res.folds[1].in_sample


def test_optuna_search_is_reproducible(sweep: Sweep):
    a = optimize(sweep, search="optuna", trials=6, backend="loky", workers=1)
    b = optimize(sweep, search="optuna", trials=6, backend="loky", workers=2)
    assert _scores(a) == _scores(b) and 1 <= len(a.trials) <= 4


def test_ranked_puts_undefined_last():
    from etrade_cli.optimize import Trial

    trials = [Trial({"a": i}, 0.0, s, None, None, 0.0, 0, 0.0, s) for i, s in
              enumerate([None, 1.0, 2.0, 1.0])]  # fmt: skip
    assert [t.params["a"] for t in ranked(trials)] == [2, 1, 3, 0]


def test_cli_optimize_json_and_heatmap(cli, hermetic: Path):
    (hermetic / "config.toml").write_text(
        f"[data]\ncsv_paths = ['{DATA / 'NFLX_daily_2018-2022.csv'}']\n"
    )
    r = cli("optimize", "--symbols", "NFLX", "--param", "tes_days_b1=10,21",
            "--param", "max_positions_b1=1,2", "--workers", "1", "--heatmap",
            "tes_days_b1,max_positions_b1", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["combinations"] == 4 and doc["evaluations"] == 1 and len(doc["trials"]) == 4
    png = Path(doc["heatmap"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "nope=1,2"], "not a [strategy] parameter"),
        (["--param", "tes_days_b1=10,21", "--metric", "alpha"], "--metric 'alpha'"),
        (["--param", "tes_days_b1=10,21", "--heatmap", "tes_days_b1"], "two swept parameter"),
        (["--param", "tes_days_b1=10,21", "--scheduler", "tcp://x:8786"], "needs --backend dask"),
    ],
)
def test_cli_optimize_errors(cli, args: list[str], message: str):
    r = cli("optimize", "--symbols", "AAPL", *args)
    assert r.exit_code == 1, r.output
    assert message in r.output and "Traceback" not in r.output


def test_cli_error_after_the_workers_started_leaves_no_worker_running(cli):
    import time

    from etrade_cli import optimize as opt

    r = cli("optimize", "--symbols", "AAPL", "--param", "tes_days_b1=10,21", "--metric", "alpha",
            "--workers", "2")  # fmt: skip
    assert r.exit_code == 1 and "--metric 'alpha'" in r.output
    assert not opt._starting  # forgotten: nothing is left to wait for at exit
    deadline = time.monotonic() + 20
    while loky_workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not loky_workers()  # the worker started for the sweep was stopped


def test_cli_workers_beyond_1024_is_a_usage_error_not_an_overflow(cli):
    r = cli("optimize", "--symbols", "AAPL", "--param", "tes_days_b1=10,21", "-j", "9" * 20)
    assert r.exit_code == 2 and "less than or equal to 1024" in r.stderr
    assert "internal error" not in r.output and "Traceback" not in r.output
