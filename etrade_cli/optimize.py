"""Parameter sweeps of the strategy (`etrade optimize`): a grid or an optuna search, walk-forward
folds, each backtest run in parallel through joblib (loky on local cores, or a Dask cluster).

Every backtest is the ordinary `backtest.run_backtest` (the same engine as live trading). The
strategy is evaluated once per distinct set of signal parameters (`SIGNAL_KEYS`, spec §2-§3) and
that `Evaluation` is shared by every combination of the other parameters (sizing, positions,
exits). On loky this process is one of the `workers`: the other ones (loky processes) start
while the config and bars load (`start_workers`), and all of them take tasks from one list
(`run_shared`): the distinct sets are evaluated in parallel from the bars written once to a
file, each evaluation written to a file the other processes read once; a Dask cluster gets the
bars and evaluations scattered once; one worker runs everything in-process. Each process keeps one `MarketView` per evaluation for
all its backtests (`_market`). Results do not depend on the backend or the number of workers:
each backtest is deterministic and results come back in task order; the optuna search asks for
trials in batches of a fixed size (`OPTUNA_BATCH`), not one per worker.

Walk-forward (`folds` = K): the sessions are cut into K+1 consecutive spans of equal length;
fold i optimizes on span i (in-sample) and reports the best combination's result on span i+1
(out-of-sample). The indicators use only bars up to each session (spec §1), so evaluating the
whole history once leaks nothing from later spans into an earlier one.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import pickle
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import RiskConfig
from .errors import ConfigError, InputError
from .pool import (  # noqa: F401  (start_workers, worker_pool: the CLI's; _starting: tests')
    Runner,
    Tasks,
    _joblib,
    _starting,
    run_shared,
    start_workers,
    worker_pool,
)
from .strategy.base import Strategy
from .values import Bars

#: Rajat Alpha's parameters that change its verdicts (spec §2-§3, read by its `signals`); every
#: other one only changes sizing, positions and exits. Other strategies: every parameter counts.
SIGNAL_KEYS = (
    "min_listing_days", "ma_touch_threshold_pct", "pullback_days", "pullback_require_dip",
    "stalling_filter", "stalling_days", "stalling_range_pct", "rs_mode", "rs_benchmark",
)  # fmt: skip
METRICS = ("sharpe", "sortino", "calmar", "return")
BACKENDS = ("loky", "dask")
#: optuna trials asked for at a time (fixed, so results do not depend on the number of workers)
OPTUNA_BATCH = 8
#: tasks per worker for each shared evaluation: small tasks keep every worker busy to the end
TASKS_PER_WORKER = 16


@dataclass(frozen=True)
class ParamSpec:
    """One `--param`: a name of `[strategy]` and its values (a list, or a range lo:hi:step with
    both ends included). `low`, `high`, `step` are set for ranges (optuna samples them)."""

    name: str
    values: tuple[Any, ...]
    low: float | None = None
    high: float | None = None
    step: float | None = None


@dataclass
class Trial:
    """One combination's backtest: its parameters and metrics. Percent values as 5.0 for 5 %;
    `score` is the chosen metric (None when undefined, e.g. no trades)."""

    params: dict[str, Any]
    return_pct: float
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown_pct: float
    trades: int
    end_equity: float
    score: float | None = None


@dataclass
class Fold:
    """A walk-forward fold: spans as (first, last) session dates; the best in-sample combination,
    its in-sample score and its out-of-sample `result`."""

    index: int
    in_sample: tuple[str, str]
    out_of_sample: tuple[str, str]
    best: dict[str, Any]
    in_sample_score: float | None
    result: Trial


@dataclass
class OptimizeResult:
    """What a sweep found. `trials` best first (whole span, or the last fold's in-sample run)."""

    metric: str
    search: str
    backend: str
    workers: int
    start: str
    end: str
    combinations: int
    evaluations: int
    trials: list[Trial]
    folds: list[Fold] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


# --- parameters --------------------------------------------------------------------------------


def parse_param(text: str, strategy: Strategy) -> ParamSpec:
    """Parse `name=lo:hi:step` (an inclusive range) or `name=v1,v2,...` into a `ParamSpec`;
    each value is checked like the same key of `[strategy]` in the config (type, bounds).

    Raises:
        InputError: unknown name (with "did you mean"), bad number, empty or invalid range.
    """
    import difflib

    base = strategy.params
    name, sep, body = text.partition("=")
    name = name.strip()
    known = {f.name: f for f in dataclasses.fields(base)} if dataclasses.is_dataclass(base) else {}
    if not sep or not body.strip():
        raise InputError(f"--param {text!r}: expected NAME=LO:HI:STEP or NAME=V1,V2,...")
    if name not in known or name in ("targets", "target_fractions", "buy_window"):
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"--param {name!r}: not a [strategy] parameter that can be swept{hint}")
    kind = type(getattr(base, name)) if getattr(base, name) is not None else float
    if ":" in body:
        return _range_spec(strategy, name, body, kind, text)
    values = tuple(_convert(name, v.strip(), kind) for v in body.split(",") if v.strip())
    for v in values:
        _check(strategy, name, v)
    return ParamSpec(name, tuple(dict.fromkeys(values)))


def _range_spec(strategy: Strategy, name: str, body: str, kind: type, text: str) -> ParamSpec:
    parts = body.split(":")
    if len(parts) != 3 or kind not in (int, float):
        raise InputError(f"--param {text!r}: a range is LO:HI:STEP of a numeric parameter")
    lo, hi, step = (_convert(name, p.strip(), kind) for p in parts)
    if step <= 0 or hi < lo:
        raise InputError(f"--param {text!r}: need LO <= HI and STEP > 0")
    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    values = tuple(kind(round(lo + i * step, 10)) for i in range(n))
    for v in values:
        _check(strategy, name, v)
    return ParamSpec(name, values, float(lo), float(values[-1]), float(step))


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        return kind(raw)
    except ValueError:
        raise InputError(f"--param {name}: {raw!r} is not a valid {kind.__name__}") from None


def _check(strategy: Strategy, name: str, value: Any) -> None:
    """Validate one value exactly as the config file would (type and bounds)."""
    from .config import build_config

    try:
        build_config({"strategy": {"name": strategy.name, name: value}})
    except ConfigError as exc:
        raise InputError(f"--param {name}: {str(exc).split('] ', 1)[-1]}") from None


def grid(specs: Sequence[ParamSpec]) -> list[dict[str, Any]]:
    """Every combination of the specs' values, in the order given (the last varies fastest)."""
    names = [s.name for s in specs]
    return [dict(zip(names, combo)) for combo in itertools.product(*(s.values for s in specs))]


def apply(base: Strategy, combo: dict[str, Any]) -> Strategy:
    """A copy of the strategy `base` whose parameters carry the combination's values.

    Raises:
        InputError: the combination breaks a cross-field rule (spec §8 for Rajat Alpha).
    """
    import copy

    params = dataclasses.replace(base.params, **combo)
    for key, problem in getattr(params, "problems", list)():
        raise InputError(f"combination {combo}: {key} {problem}")
    strategy = copy.copy(base)
    strategy.params = params
    return strategy


def signal_key(strategy: Strategy) -> tuple[Any, ...]:
    """The parameter values that decide the strategy's verdicts: equal keys share one
    evaluation (`SIGNAL_KEYS` for Rajat Alpha; every parameter for other strategies)."""
    params = strategy.params
    names = SIGNAL_KEYS if strategy.name == "rajat_alpha" else _field_names(params)
    return tuple(getattr(params, k) for k in names)


def _field_names(params: Any) -> tuple[str, ...]:
    if dataclasses.is_dataclass(params):
        return tuple(f.name for f in dataclasses.fields(params))
    return ()


# --- metrics -----------------------------------------------------------------------------------


def trial_of(result: Any, combo: dict[str, Any], metric: str) -> Trial:
    """A combination's metrics, read from the backtest's own statistics (`stats.statistics`:
    Sharpe and Sortino of daily returns, Calmar = CAGR / |max drawdown|); non-finite -> None."""
    s = result.stats

    def num(key: str) -> float | None:
        v = s.get(key)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    t = Trial(
        params=combo,
        return_pct=num("return_pct") or 0.0,
        sharpe=num("sharpe"),
        sortino=num("sortino"),
        calmar=num("calmar"),
        max_drawdown_pct=num("max_drawdown_pct") or 0.0,
        trades=len(result.trades),
        end_equity=num("equity_final") or result.starting_cash,
    )
    t.score = metric_value(t, metric)
    return t


def metric_value(t: Trial, metric: str) -> float | None:
    """The trial's value of `metric` (one of `METRICS`)."""
    return t.return_pct if metric == "return" else getattr(t, metric)


def ranked(trials: Sequence[Trial]) -> list[Trial]:
    """Best first; undefined scores last; ties keep their order (deterministic)."""
    order = sorted(
        range(len(trials)),
        key=lambda i: (trials[i].score is None, -(trials[i].score or 0.0), i),
    )
    return [trials[i] for i in order]


# --- one backtest (runs in a worker) -----------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What a worker needs for a batch of backtests, besides their shared evaluation."""

    tradable: tuple[str, ...]
    risk: RiskConfig
    cash: float
    commission: float
    start: np.datetime64 | None
    end: np.datetime64 | None


@dataclass(frozen=True)
class Shared:
    """Names an evaluation shared by many tasks. `token` is unique to one sweep and one set of
    signal parameters; `path` is its pickle file (loky workers read it once each), or None when
    the evaluation itself travels with the task (in-process, or scattered to Dask)."""

    token: str
    path: str | None = None


#: this process's `MarketView` per `Shared.token`, of the current sweep only
_MARKETS: dict[str, Any] = {}
#: the (bars, benchmark) this process wrote to a file for `evaluate_task`, by path (the sweep's)
_SOURCES: dict[str, tuple[list[Bars], Bars | None]] = {}
#: `run_backtest`'s memo per `Shared.token` (ready dates, warm-up), of the current sweep only
_MEMOS: dict[str, dict[Any, Any]] = {}


def _market(shared: Shared, evaluation: Any, tradable: tuple[str, ...]) -> Any:
    """The `MarketView` of a shared evaluation, built once per process and sweep (its session
    list and signal index then serve every backtest the process runs for that evaluation)."""
    view = _MARKETS.get(shared.token)
    if view is not None:
        return view
    from .market import MarketView

    if evaluation is None and shared.path is not None:
        with open(shared.path, "rb") as fh:
            evaluation = pickle.load(fh)
    sweep_id = shared.token.split(":", 1)[0]
    for token in [t for t in _MARKETS if not t.startswith(sweep_id + ":")]:
        del _MARKETS[token]  # an earlier sweep's: not needed again
    for token in [t for t in _MEMOS if not t.startswith(sweep_id + ":")]:
        del _MEMOS[token]
    view = _MARKETS[shared.token] = MarketView(evaluation, tradable)
    return view


def run_jobs(
    shared: Shared,
    evaluation: Any,
    job: Job,
    items: Sequence[tuple[Strategy, dict[str, Any]]],
    metric: str,
) -> list[Trial]:
    """Backtest each (strategy, combination) on the shared evaluation (`evaluation`, or None
    to read `shared.path`), in order (a top-level function: picklable)."""
    from .backtest import run_backtest

    market = _market(shared, evaluation, job.tradable)
    out = []
    for strategy, combo in items:
        res = run_backtest(
            (),
            strategy,
            job.risk,
            cash=job.cash,
            commission=job.commission,
            start=job.start,
            end=job.end,
            market=market,
            memo=_MEMOS.setdefault(shared.token, {}),
        )
        out.append(trial_of(res, combo, metric))
    return out


def evaluate_job(bars: Sequence[Bars], strategy: Strategy, benchmark: Bars | None) -> Any:
    """The strategy's `Evaluation` of `bars` (spec §1-§3) for one set of signal parameters."""
    return strategy.evaluate(list(bars), benchmark)


def evaluate_task(
    shared: Shared, source: str, strategy: Strategy, tradable: tuple[str, ...]
) -> np.datetime64 | None:
    """On loky: evaluate the (bars, benchmark) pickled at `source` (this process's own copy when
    it wrote the file, `_SOURCES`), write the evaluation to `shared.path` for the other
    processes, keep its `MarketView` for this process's backtests, and return its first session
    after warm-up (`ready_start`)."""
    assert shared.path is not None
    if source in _SOURCES:
        bars, benchmark = _SOURCES[source]
    else:
        with open(source, "rb") as fh:
            bars, benchmark = pickle.load(fh)
    evaluation = strategy.evaluate(bars, benchmark)
    _dump(evaluation, Path(shared.path))
    return ready_start(_market(shared, evaluation, tradable), strategy.warmup_bars)


# --- the executor ------------------------------------------------------------------------------


@contextmanager
def executor(
    backend: str, workers: int, scheduler: str | None = None, shared: Sequence[Any] = ()
) -> Iterator[Runner]:
    """A function running [(fn, args), ...] in parallel, yielding results in task order.
    `loky`: this process and `workers` - 1 local loky processes (loky's reusable executor,
    those of `start_workers` when started), see `pool.run_shared`; one worker: all here.
    `dask`: joblib's Dask backend on the scheduler at `scheduler` (tcp://HOST:8786), or a
    `LocalCluster` of `workers` processes; `shared` objects are scattered to it once.

    Raises:
        InputError: unknown backend, or joblib or dask.distributed not installed.
    """
    if backend == "loky":

        def run_loky(tasks: Tasks, scatter: Sequence[Any] = ()) -> Iterator[Any]:
            if workers < 2:
                return (fn(*args) for fn, args in tasks)
            return run_shared(tasks, workers - 1)

        yield run_loky
        return
    if backend != "dask":
        raise InputError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    joblib = _joblib()
    with _dask_client(scheduler, workers):

        def run_dask(tasks: Tasks, scatter: Sequence[Any] = ()) -> Iterator[Any]:
            objects = [*shared, *scatter]
            with joblib.parallel_config(backend="dask", scatter=objects or None):
                par = joblib.Parallel(n_jobs=-1, return_as="generator")
                return iter(list(par(joblib.delayed(fn)(*args) for fn, args in tasks)))

        yield run_dask


@contextmanager
def _dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            '--backend dask needs dask.distributed: pip install "etrade-cli[optimize]"'
        ) from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# --- the sweep ---------------------------------------------------------------------------------


@dataclass
class Sweep:
    """The fixed inputs of a sweep. Money USD; dates `datetime64[D]` session dates."""

    bars: Sequence[Bars]
    base: Strategy
    risk: RiskConfig
    specs: Sequence[ParamSpec]
    metric: str = "sharpe"
    cash: float = 100_000.0
    commission: float = 0.0
    start: np.datetime64 | None = None
    end: np.datetime64 | None = None
    benchmark: Bars | None = None
    seed: int = 0


def optimize(
    sweep: Sweep,
    *,
    search: str = "grid",
    trials: int = 50,
    folds: int = 0,
    backend: str = "loky",
    workers: int = 1,
    scheduler: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> OptimizeResult:
    """Run the sweep: every combination (`grid`) or `trials` sampled ones (`optuna`), on the
    whole span, or walk-forward over `folds` folds (see the module doc).

    Raises:
        InputError: unknown metric or search, a combination breaking spec §8, too few sessions
            for the folds, optuna/joblib/dask missing.
    """
    if sweep.metric not in METRICS:
        raise InputError(f"--metric {sweep.metric!r}: choose one of {', '.join(METRICS)}")
    if search not in ("grid", "optuna"):
        raise InputError(f"--search {search!r}: choose grid or optuna")
    combos = grid(sweep.specs)
    distinct: dict[tuple[Any, ...], Strategy] = {}
    for combo in combos:  # every combination is checked before any work starts
        strategy = apply(sweep.base, combo)
        distinct.setdefault(signal_key(strategy), strategy)
    start_workers(backend, workers)  # (a no-op when the caller started them already)
    tradable = tuple(b.symbol for b in sweep.bars)
    with (
        tempfile.TemporaryDirectory(prefix="etrade-optimize-") as tmp,
        executor(backend, workers, scheduler) as run,
    ):
        try:
            shares, starts = _evaluate(sweep, distinct, tradable, backend, workers, run, Path(tmp))
            start = sweep.start or max((d for d in starts if d is not None), default=None)
            spans = _spans(_sessions(sweep, start), folds)
            ctx = _Context(sweep, run, shares, tradable, search, trials, workers, on_progress)
            found, fold_list = _searches(ctx, combos, spans, folds)
        finally:
            _MARKETS.clear()  # this process's views of the sweep's evaluations
            _MEMOS.clear()
            _SOURCES.clear()
            _starting.clear()  # the next sweep hands its workers a start-up task again
    whole = (spans[0][0], spans[-1][1])
    return _result(sweep, search, backend, workers, whole, len(combos), ctx, found, fold_list)


def _evaluate(
    sweep: Sweep,
    strategies: dict[tuple[Any, ...], Strategy],
    tradable: tuple[str, ...],
    backend: str,
    workers: int,
    run: Runner,
    tmp: Path,
) -> tuple[dict[tuple[Any, ...], tuple[Shared, Any]], list[np.datetime64 | None]]:
    """Evaluate each distinct strategy once. Returns, per signal key, how tasks get that
    evaluation, (Shared, the evaluation itself) in-process and on Dask (scattered), or (Shared
    naming its file, None) on loky workers; and each evaluation's first session after warm-up.

    Loky workers evaluate in parallel from the bars written once to `tmp`, each writing its
    evaluation to a file the other workers read once (neither bars nor evaluations go through
    the task queue); Dask workers get the bars scattered once; one worker runs in-process."""
    sweep_id = uuid.uuid4().hex
    keys = list(strategies)
    tokens = [f"{sweep_id}:{i}" for i in range(len(keys))]
    if backend == "loky" and workers > 1:
        source = tmp / "bars.pickle"
        _SOURCES[str(source)] = (list(sweep.bars), sweep.benchmark)
        _dump(_SOURCES[str(source)], source)
        files = [Shared(t, str(tmp / f"evaluation-{i}.pickle")) for i, t in enumerate(tokens)]
        tasks = [(evaluate_task, (sh, str(source), strategies[k], tradable))
                 for sh, k in zip(files, keys)]  # fmt: skip
        starts = list(run(tasks))
        return {k: (sh, None) for k, sh in zip(keys, files)}, starts
    bars = list(sweep.bars)
    if backend == "dask":
        jobs = [(evaluate_job, (bars, strategies[k], sweep.benchmark)) for k in keys]
        evaluations = list(run(jobs, [bars]))
    else:
        evaluations = [strategies[k].evaluate(bars, sweep.benchmark) for k in keys]
    shares = {k: (Shared(t), ev) for k, t, ev in zip(keys, tokens, evaluations)}
    starts = [
        ready_start(_market(Shared(t), ev, tradable), strategies[k].warmup_bars)
        for k, t, ev in zip(keys, tokens, evaluations)
    ]
    return shares, starts


def _dump(obj: Any, path: Path) -> None:
    """Pickle `obj` to `path` atomically (a reader never sees half a file)."""
    part = path.with_suffix(".part")
    with open(part, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    part.replace(path)


def _searches(
    ctx: _Context, combos: list[dict[str, Any]], spans: list[Any], folds: int
) -> tuple[list[Trial], list[Fold]]:
    """The whole-span search, or the walk-forward: per fold the in-sample search and the best
    combination's out-of-sample run. Returns (the last search's ranked trials, the folds)."""
    if not folds:
        return ctx.search(combos, *spans[0]), []
    fold_list: list[Fold] = []
    last: list[Trial] = []
    for i in range(folds):
        (a, b), (c, d) = spans[i], spans[i + 1]
        last = ctx.search(combos, a, b)
        best = last[0]
        oos = ctx.run([best.params], c, d)[0]
        fold_list.append(Fold(i + 1, (str(a), str(b)), (str(c), str(d)), best.params,
                              best.score, oos))  # fmt: skip
    return last, fold_list


def ready_start(market: Any, warmup_bars: int) -> np.datetime64 | None:
    """The first session at which some tradable symbol of the view is warmed up (as `etrade
    backtest` picks its default start); None when none ever is. A sweep starts at the latest of
    these over its distinct evaluations, so every combination shares one window."""
    from .backtest import ready_dates

    dates = [np.datetime64(d) for d in ready_dates(market, warmup_bars).values() if d is not None]
    return min(dates) if dates else None


def _sessions(sweep: Sweep, start: np.datetime64 | None) -> np.ndarray:
    dates = np.unique(np.concatenate([b.dates for b in sweep.bars])) if sweep.bars else np.array([])
    if start is not None:
        dates = dates[dates >= start]
    if sweep.end is not None:
        dates = dates[dates <= sweep.end]
    if not len(dates):
        raise InputError("no sessions in the chosen range")
    return dates


def _spans(sessions: np.ndarray, folds: int) -> list[tuple[np.datetime64, np.datetime64]]:
    """The whole range, or `folds`+1 consecutive spans of (nearly) equal length."""
    if not folds:
        return [(sessions[0], sessions[-1])]
    if folds < 1 or len(sessions) < 2 * (folds + 1):
        raise InputError(f"--folds {folds}: {len(sessions)} sessions are too few")
    cuts = np.array_split(sessions, folds + 1)
    return [(c[0], c[-1]) for c in cuts]


class _Context:
    """The parts of a sweep shared by its searches (runner, evaluations, progress)."""

    def __init__(self, sweep: Sweep, run: Runner, shares: dict, tradable: tuple[str, ...],
                 search: str, trials: int, workers: int,
                 on_progress: Callable[[int], None] | None):  # fmt: skip
        self.sweep, self._run, self.shares, self.tradable = sweep, run, shares, tradable
        self.search_kind, self.trials, self.on_progress = search, trials, on_progress
        self.workers = max(1, workers)

    def run(self, combos: Sequence[dict[str, Any]], start: Any, end: Any) -> list[Trial]:
        """Backtest the combinations over [start, end], in parallel; results in order.

        Combinations sharing an evaluation go in batches (`TASKS_PER_WORKER` per worker), each
        batch one task; how they are batched changes nothing in the results."""
        s = self.sweep
        groups: dict[tuple[Any, ...], list[tuple[int, Strategy, dict[str, Any]]]] = {}
        for i, combo in enumerate(combos):
            strategy = apply(s.base, combo)
            groups.setdefault(signal_key(strategy), []).append((i, strategy, combo))
        tasks, order = [], []
        job = Job(self.tradable, s.risk, s.cash, s.commission, start, end)
        for key, members in groups.items():
            shared, ev = self.shares[key]
            parts = min(len(members), TASKS_PER_WORKER * self.workers)
            for part in np.array_split(np.arange(len(members)), parts):
                batch = [members[k] for k in part.tolist()]
                order.append([i for i, _, _ in batch])
                items = [(st, c) for _, st, c in batch]
                tasks.append((run_jobs, (shared, ev, job, items, s.metric)))
        out: list[Trial | None] = [None] * len(combos)
        scatter = [ev for _, ev in self.shares.values() if ev is not None]
        for idx, trials in zip(order, self._run(tasks, scatter)):
            for i, t in zip(idx, trials):
                out[i] = t
            if self.on_progress:
                self.on_progress(len(idx))
        return [t for t in out if t is not None]

    def search(self, combos: list[dict[str, Any]], start: Any, end: Any) -> list[Trial]:
        """Ranked trials of a grid (every combination) or an optuna search over [start, end]."""
        if self.search_kind == "grid":
            return ranked(self.run(combos, start, end))
        return ranked(self._optuna(start, end))

    def _optuna(self, start: Any, end: Any) -> list[Trial]:
        try:
            import optuna
        except ImportError:
            raise InputError(
                '--search optuna needs optuna: pip install "etrade-cli[optimize]"'
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=self.sweep.seed)
        )
        done: dict[tuple[Any, ...], Trial] = {}
        left = self.trials
        while left > 0:
            batch = [study.ask() for _ in range(min(OPTUNA_BATCH, left))]
            combos = [_suggest(t, self.sweep.specs) for t in batch]
            new = [c for c in dict.fromkeys(tuple(c.items()) for c in combos) if c not in done]
            for key, trial in zip(new, self.run([dict(k) for k in new], start, end)):
                done[key] = trial
            for t, c in zip(batch, combos):
                score = done[tuple(c.items())].score
                study.tell(t, score if score is not None else float("-inf"))
            left -= len(batch)
        return list(done.values())


def _suggest(trial: Any, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """One optuna trial's combination: ranges sampled on their step, lists as categories."""
    out: dict[str, Any] = {}
    for s in specs:
        if s.low is not None and s.high is not None and s.step is not None:
            if isinstance(s.values[0], int):
                out[s.name] = trial.suggest_int(s.name, int(s.low), int(s.high), step=int(s.step))
            else:
                v = trial.suggest_float(s.name, s.low, s.high, step=s.step)
                out[s.name] = min(s.values, key=lambda x: abs(x - v))  # the grid's own value
        else:
            out[s.name] = trial.suggest_categorical(s.name, list(s.values))
    return out


def _result(sweep: Sweep, search: str, backend: str, workers: int, span: tuple[Any, Any],
            combinations: int, ctx: _Context, trials: list[Trial], folds: list[Fold]) -> OptimizeResult:  # fmt: skip
    return OptimizeResult(
        metric=sweep.metric,
        search=search,
        backend=backend,
        workers=workers,
        start=str(span[0]),
        end=str(span[1]),
        combinations=combinations,
        evaluations=len(ctx.shares),
        trials=trials,
        folds=folds,
    )


def heatmap(result: OptimizeResult, x: str, y: str, path: Path) -> Path:
    """Write a PNG of the metric over two swept parameters (the best value over the others).

    Raises:
        InputError: `x` or `y` is not a swept parameter.
    """
    names = list(result.trials[0].params) if result.trials else []
    for n in (x, y):
        if n not in names:
            raise InputError(f"--heatmap {n!r}: not a swept parameter ({', '.join(names)})")
    xs = sorted({t.params[x] for t in result.trials})
    ys = sorted({t.params[y] for t in result.trials})
    grid_ = np.full((len(ys), len(xs)), np.nan)
    for t in result.trials:
        if t.score is None:
            continue
        i, j = ys.index(t.params[y]), xs.index(t.params[x])
        grid_[i, j] = t.score if np.isnan(grid_[i, j]) else max(grid_[i, j], t.score)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.8 * len(ys) + 2))
    im = ax.imshow(grid_, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    for i in range(len(ys)):
        for j in range(len(xs)):
            if not np.isnan(grid_[i, j]):
                ax.text(j, i, f"{grid_[i, j]:.2f}", ha="center", va="center", color="white")
    fig.colorbar(im, ax=ax, label=result.metric)
    ax.set_title(f"best {result.metric}, {result.start} .. {result.end}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
