"""`etrade optimize`: sweep strategy parameters over backtests, in parallel (joblib/Dask)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import (
    JSON_OPT,
    Format,
    emit_json,
    err,
    out,
    parse_date,
    parse_symbols,
    progress_bar,
    state,
)


def register(app: typer.Typer) -> None:
    """Add `optimize` to `app`."""
    app.command("optimize")(optimize_cmd)


def optimize_cmd(
    ctx: typer.Context,
    param: list[str] = typer.Option(  # noqa: B008
        ...,
        "--param",
        "-p",
        help="NAME=LO:HI:STEP (inclusive) or NAME=V1,V2,... of a [strategy] key; repeat.",
    ),
    watchlist: Path = typer.Option(  # noqa: B008
        None,
        "--watchlist",
        "-w",
        dir_okay=False,
        help="Watchlist file (default: the configured one).",
    ),
    symbols: list[str] = typer.Option(  # noqa: B008
        None, "--symbols", "-s", help="Symbols to trade (repeat or comma-separate)."
    ),
    start: str = typer.Option(None, "--start", help="First session, YYYY-MM-DD."),
    end: str = typer.Option(None, "--end", help="Last session, YYYY-MM-DD."),
    metric: str = typer.Option("sharpe", "--metric", help="sharpe, sortino, calmar or return."),
    search: str = typer.Option("grid", "--search", help="grid (every combination) or optuna."),
    trials: int = typer.Option(50, "--trials", min=1, help="Optuna trials per search."),
    folds: int = typer.Option(
        0, "--folds", min=0, help="Walk-forward folds: optimize on each span, test on the next."
    ),
    backend: str = typer.Option("loky", "--backend", help="loky (local cores) or dask."),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address tcp://HOST:8786 (default: a LocalCluster).",
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        "-j",
        min=1,
        max=1024,
        help="Parallel workers (on loky this process is one), 1 to 1024 (default: CPU count).",
    ),
    cash: float = typer.Option(None, "--cash", min=1.0, help="Starting cash, USD."),
    top: int = typer.Option(10, "--top", min=1, help="Combinations to show."),
    heatmap: str = typer.Option(
        None, "--heatmap", help="A,B: write a PNG of the metric over two swept parameters."
    ),
    heatmap_file: Path = typer.Option(  # noqa: B008
        None, "--heatmap-file", dir_okay=False, help="Where to write it (default heatmap-A-B.png)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the optuna sampler."),
    as_json: bool = JSON_OPT,
) -> None:
    """Backtest every combination of the --param values (or an optuna search) in parallel and
    rank them by --metric; --folds K reports walk-forward out-of-sample results.

    Each backtest is the ordinary `etrade backtest` replay; the strategy is evaluated once per
    distinct set of signal parameters and shared by the exit and sizing combinations.
    """
    import os

    from ..errors import InputError
    from ..pool import worker_pool  # (imports no numpy: the workers start before it loads)

    if scheduler and backend != "dask":
        raise InputError("--scheduler needs --backend dask")
    if heatmap and folds:
        raise InputError("--heatmap is for a sweep without --folds")
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if first and last and first > last:
        raise InputError("--start is after --end")
    n = workers or os.cpu_count() or 1
    fmt = Format.json if as_json else Format.table
    with worker_pool(backend, n):  # the workers start up while the config and the bars load
        import numpy as np

        from ..config import universe
        from ..optimize import Sweep, optimize, parse_param
        from ..services import bar_provider, benchmark_bars, make_strategy

        cfg = state(ctx).config()
        strategy = make_strategy(cfg)
        specs = [parse_param(p, strategy) for p in param]
        if len({s.name for s in specs}) != len(specs):
            raise InputError("each --param name may be given once")
        axes = [a.strip() for a in heatmap.split(",")] if heatmap else []
        if heatmap and (len(axes) != 2 or not set(axes) <= {s.name for s in specs}):
            raise InputError("--heatmap takes two swept parameter names: A,B")
        wanted = parse_symbols(symbols) if symbols else universe(cfg, watchlist)
        provider = bar_provider(cfg)
        bars, missing = provider.get(wanted, strict=bool(symbols))
        if missing:
            err.print(f"warning: no data for {len(missing)} symbol(s)", markup=False)
        sweep = Sweep(
            bars, strategy, cfg.risk, specs, metric, cash or cfg.broker.paper_cash,
            cfg.broker.commission_usd, np.datetime64(first) if first else None,
            np.datetime64(last) if last else None, benchmark_bars(cfg, provider, strategy), seed,
        )  # fmt: skip
        with progress_bar(fmt, "Optimizing") as bar:
            res = optimize(
                sweep, search=search, trials=trials, folds=folds, backend=backend, workers=n,
                scheduler=scheduler, on_progress=bar.advance if bar else None,
            )  # fmt: skip
    png = None
    if axes:
        from ..optimize import heatmap as write_heatmap

        png = write_heatmap(
            res, axes[0], axes[1], heatmap_file or Path(f"heatmap-{axes[0]}-{axes[1]}.png")
        )
    if as_json:
        doc = res.to_dict()
        doc["heatmap"] = str(png) if png else None
        emit_json(doc)
        return
    from .. import views  # (tables only: --json does without)

    for part in views.optimize_renderables(res, top):
        out.print(part)
    if png:
        out.print(f"Heatmap written to {png}", markup=False)
