"""The `scan` job: evaluate the strategy over a universe at one session and classify the signals.

Library code (no printing): the CLI calls `scan()` and renders the `ScanResult`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import DataError
from .strategy.base import Book, Decision, Evaluation, Signal, Strategy, classify_all
from .strategy.panel import Panel
from .values import Bars

#: reason given to a symbol that has bars, but none at the scanned session
NO_BAR = "no_bar"
#: reason given to a symbol with no data at all
NO_DATA = "no_data"
#: symbols evaluated together by `scan` (with and without a progress bar)
SCAN_CHUNK, SCAN_CHUNK_PROGRESS = 1024, 128


@dataclass
class ScanResult:
    """What a scan found.

    Attributes:
        session: the session evaluated (`datetime64[D]`): the latest date in the data on or
            before the requested as-of date.
        decisions: signals classified B1/B2/OPP/SKIP, in spec §4 order.
        verdicts: every symbol's `Signal` at the session (rejected ones carry their reason).
        missing: symbols with no data at all. stale: symbols with no bar at the session.
    """

    session: np.datetime64
    decisions: list[Decision]
    verdicts: list[Signal]
    missing: list[str] = field(default_factory=list)
    stale: list[Signal] = field(default_factory=list)
    #: the strategy's score part names, in display order
    part_names: tuple[str, ...] = ()

    def rejection_counts(self) -> Counter[str]:
        """Rejected symbols per reason (first failing filter, `no_bar`, `no_data`)."""
        counts = Counter(v.reason for v in self.verdicts if v.reason)
        counts[NO_BAR] += len(self.stale)
        counts[NO_DATA] += len(self.missing)
        return +counts

    @property
    def universe_size(self) -> int:
        """Symbols asked for."""
        return len(self.verdicts) + len(self.stale) + len(self.missing)


def evaluate_bars(
    bars: Sequence[Bars],
    strategy: Strategy,
    benchmark: Bars | None = None,
    chunk: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Evaluate `bars` with `strategy`; with `chunk`, in column batches reporting progress.

    Chunking only changes how the work is split (each column is independent), not the result.
    """
    if not chunk or len(bars) <= chunk:
        ev = strategy.evaluate(list(bars), benchmark)
        if on_progress:
            on_progress(len(bars))
        return ev
    parts = []
    for i in range(0, len(bars), chunk):
        parts.append(strategy.evaluate(list(bars[i : i + chunk]), benchmark))
        if on_progress:
            on_progress(min(chunk, len(bars) - i))
    return merge_evaluations(parts)


def merge_evaluations(parts: list[Evaluation]) -> Evaluation:
    """Join evaluations of disjoint symbol sets column-wise (front-padding to a common height)."""
    rows = max(e.panel.close.shape[0] for e in parts)

    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        padded = []
        for a in arrays:
            fill: object = (
                np.datetime64("NaT")
                if a.dtype.kind == "M"
                else (np.nan if a.dtype.kind == "f" else 0)
            )
            extra = np.full((rows - a.shape[0], a.shape[1]), fill, dtype=a.dtype)
            padded.append(np.vstack([extra, a]))
        return np.hstack(padded)

    first = parts[0]
    columns = ("dates", "open", "high", "low", "close", "volume")
    panel = Panel(
        symbols=tuple(s for e in parts for s in e.panel.symbols),
        n_bars=np.concatenate([e.panel.n_bars for e in parts]),
        **{f: cat([getattr(e.panel, f) for e in parts]) for f in columns},
    )
    return Evaluation(
        panel=panel,
        indicators={k: cat([e.indicators[k] for e in parts]) for k in first.indicators},
        reason=cat([e.reason for e in parts]),
        pattern=cat([e.pattern for e in parts]),
        parts={k: cat([e.parts[k] for e in parts]) for k in first.parts},
        score=cat([e.score for e in parts]),
        filters=first.filters,
        pattern_names=first.pattern_names,
        weights=first.weights,
    )


def latest_session(bars: Sequence[Bars], as_of: np.datetime64 | None) -> np.datetime64:
    """The latest bar date across `bars` on or before `as_of` (any date if None).

    Raises:
        DataError: no bar is dated on or before `as_of`.
    """
    best: np.datetime64 | None = None
    for b in bars:
        i = len(b) - 1 if as_of is None else b.index_at(as_of)
        if i >= 0 and (best is None or b.dates[i] > best):
            best = b.dates[i]
    if best is None:
        raise DataError(f"no bars on or before {as_of}" if as_of else "no bars at all")
    return best


def scan(
    bars: Sequence[Bars],
    strategy: Strategy,
    *,
    as_of: np.datetime64 | None = None,
    book: Book | None = None,
    missing: Sequence[str] = (),
    benchmark: Bars | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ScanResult:
    """Evaluate `strategy` for every symbol at the session on or before `as_of` and classify the
    signals against `book` (empty book if None); for Rajat Alpha spec §2-§4.

    Raises:
        DataError: no data on or before `as_of`.
    """
    session = latest_session(bars, as_of)
    verdicts: list[Signal] = []
    stale: list[Signal] = []
    weights: tuple[str, ...] = ()
    # column batches (each column is independent): only one batch's indicator arrays are alive
    # at a time and only the verdicts at `session` are kept, so memory does not grow with the
    # universe (issue 13); small batches when progress is shown
    chunk = SCAN_CHUNK_PROGRESS if on_progress else SCAN_CHUNK
    for i in range(0, len(bars), chunk):
        part = list(bars[i : i + chunk])
        ev = strategy.evaluate(part, benchmark)
        weights = tuple(ev.weights)
        for sig in ev.iter_at(session):
            (verdicts if sig.date == session else stale).append(sig)
        del ev
        if on_progress:
            on_progress(len(part))
    decisions = classify_all(strategy, [v for v in verdicts if v.is_signal], book or Book())
    return ScanResult(session, decisions, verdicts, list(missing), stale, weights)
