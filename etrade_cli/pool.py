"""Local worker processes for `etrade optimize` (loky), kept apart from the sweep so that the CLI
can start them before it imports numpy and the strategy: this module imports neither.

With `--workers N` this process is one of the N: `start_workers` starts N-1 loky processes at
once (their start-up overlaps whatever this process does next), and `run_shared` runs a list of
tasks on them and here together, results in task order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import InputError

Tasks = Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]
#: run(tasks, scatter=()) -> results in task order; `scatter`: objects the tasks share (Dask
#: sends them to each worker once; loky ignores it)
Runner = Callable[..., Iterator[Any]]

#: the start-up tasks `start_workers` submitted (futures of `_warm_worker`): `run_shared` gives a
#: worker tasks once its start-up is done
_starting: list[Any] = []
#: seconds an idle loky worker lives on between sweeps of one process (tests, notebooks)
IDLE_TIMEOUT = 300


def _joblib() -> Any:
    try:
        import joblib
    except ImportError:
        raise InputError(
            'etrade optimize needs joblib: pip install "etrade-cli[optimize]"'
        ) from None
    return joblib


def _loky() -> Any:
    """The loky package (joblib's process pool, standalone: its workers and resource tracker
    start without importing joblib and numpy first), or the copy bundled in joblib."""
    try:
        import loky
    except ImportError:
        _joblib()
        from joblib.externals import loky
    return loky


#: the loky executor `_pool` handed out last (stopped by `worker_pool`)
_POOL: list[Any] = []


def _pool(helpers: int) -> Any:
    """loky's reusable executor with `helpers` worker processes (the same one every call in
    this process, resized if needed)."""
    pool = _loky().get_reusable_executor(max_workers=helpers, timeout=IDLE_TIMEOUT)
    _POOL[:] = [pool]
    return pool


def start_workers(backend: str, workers: int) -> None:
    """Start the loky processes of a `workers`-wide sweep now, without waiting: their start-up
    and imports then overlap whatever the caller does next (loading bars). This process is
    one of the `workers` (it runs tasks too, see `run_shared`), so `workers` - 1 are started.
    Nothing to do for one worker (all in-process) or Dask.

    Raises:
        InputError: neither loky nor joblib is installed.
    """
    if backend != "loky" or workers < 2 or _starting:
        return
    pool = _pool(workers - 1)
    _starting.extend(pool.submit(_warm_worker) for _ in range(workers - 1))


@contextmanager
def worker_pool(backend: str, workers: int) -> Iterator[None]:
    """Loky workers for one block of a process that exits after it (the CLI: read the config,
    load the data, run the sweep): started at once (`start_workers`), so that their start-up
    overlaps the block, and stopped at its end, even on an error. Stopping kills the workers
    (a start-up still running included) instead of letting each one wind its interpreter down
    at exit: they hold nothing to save."""
    start_workers(backend, workers)
    try:
        yield
    finally:
        _starting.clear()
        if backend == "loky" and workers > 1:  # (not a pool some other code started)
            while _POOL:  # the executor the sweep ran on
                # waited for (a few ms): its queues and locks are released now, in order, not
                # raced by the interpreter's exit (which made loky's resource tracker warn
                # about "leaked semlock objects" on stderr now and then)
                _POOL.pop().shutdown(wait=True, kill_workers=True)


def run_shared(tasks: Tasks, helpers: int) -> Iterator[Any]:
    """Run [(fn, args), ...] on `helpers` loky processes AND in this process, yielding the
    results in task order (so they do not depend on who ran what).

    This process takes tasks from the front of the list, the workers from the back, each worker
    from the moment its start-up is done (`start_workers`; two tasks in flight per worker, to
    hide the hand-over, one when few are left); they meet in the middle, so neither waits for
    the other by more than a task, and each side mostly runs tasks of the same evaluation. A
    task's exception (wherever it ran) is raised when its result is due; the tasks not yet
    handed out are then dropped and the running ones waited for.

    Raises:
        InputError: neither loky nor joblib is installed. Any exception of a task.
    """
    import collections
    import functools
    import threading
    from concurrent.futures import Future

    pool = _pool(helpers)
    if not _starting:
        _starting.extend(pool.submit(_warm_worker) for _ in range(helpers))
    todo = collections.deque(range(len(tasks)))
    done: dict[int, Future] = {}
    running: set[Future] = set()
    ready = threading.Condition()
    workers = [0]  # workers whose start-up is done

    def top_up() -> None:
        sent = []
        with ready:
            depth = 2 if len(todo) > 2 * helpers else 1
            while todo and len(running) < depth * workers[0]:
                i = todo.pop()
                fn, args = tasks[i]
                future = pool.submit(fn, *args)
                running.add(future)
                sent.append((i, future))
        for i, future in sent:
            future.add_done_callback(functools.partial(finished, i))

    def finished(i: int, future: Future) -> None:
        with ready:
            running.discard(future)
            done[i] = future
            ready.notify_all()
        top_up()  # (in loky's thread: the worker gets its next task at once)

    def worker_ready(_: Future) -> None:
        with ready:
            workers[0] += 1
        top_up()

    def run_here(i: int) -> None:
        fn, args = tasks[i]
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # raised when due, as a worker's would be
            future.set_exception(exc)
        done[i] = future

    try:
        for warm in list(_starting)[:helpers]:
            warm.add_done_callback(worker_ready)
        for i in range(len(tasks)):
            while i not in done:
                with ready:
                    j = todo.popleft() if todo else None
                    if j is None:
                        ready.wait_for(functools.partial(done.__contains__, i))
                        continue
                run_here(j)
            yield done.pop(i).result()
    finally:
        with ready:
            todo.clear()
            ready.wait_for(lambda: not running)


def _warm_worker() -> int:
    """Import what a backtest needs, so a fresh worker is ready before its first task."""
    import os

    import filelock  # noqa: F401  (the backtest's lock)

    from . import backtest, market, optimize  # noqa: F401  (optimize: the tasks' module)

    return os.getpid()
