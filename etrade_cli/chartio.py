"""Writing matplotlib figures safely: a known format, the whole file or nothing.

matplotlib does not notice every failed write (`savefig("/dev/full")` returns quietly) and
leaves half-written files behind on errors. `save_figure` renders into memory first, then
writes the bytes itself: a regular file through a temporary file in the same folder, fsynced,
size-checked and renamed into place; a device or pipe directly, with flush and close checked.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from .errors import InputError


def chart_format(path: Path) -> str:
    """The output format from the file's suffix (`png` when it has none); cheap enough to
    check before long work (a backtest) whose result is to be charted.

    Raises:
        InputError: a suffix matplotlib cannot write (the message lists the ones it can).
    """
    from matplotlib.backend_bases import FigureCanvasBase

    fmt = path.suffix.lower().lstrip(".") or "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise InputError(
            f"cannot write a chart as .{fmt} ({path}); use one of: "
            + ", ".join(f".{k}" for k in sorted(supported))
        )
    return fmt


def save_figure(fig: Any, path: Path | str, **savefig: Any) -> Path:
    """Write `fig` to `path` in the format its suffix names; return the path. `savefig` are
    extra `Figure.savefig` arguments (e.g. `bbox_inches="tight"`).

    Raises:
        InputError: an unsupported format, or a file that cannot be written completely (full
            disk, missing folder, permissions); no partial file is left at `path`.
    """
    path = Path(path)
    fmt = chart_format(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **savefig)
    data = buf.getvalue()
    try:
        if _is_special(path):
            _write_direct(path, data)
        else:
            _write_atomic(path, data)
    except OSError as exc:
        raise InputError(f"cannot write chart {path}: {exc.strerror or exc}") from None
    return path


def _is_special(path: Path) -> bool:
    """True for an existing non-regular file (a device such as /dev/full, a pipe)."""
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        return False


def _write_direct(path: Path, data: bytes) -> None:
    with open(path, "wb", buffering=0) as fh:
        written = fh.write(data)
    if written != len(data):
        raise OSError(0, f"only {written} of {len(data)} bytes written")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        size = os.path.getsize(tmp)
        if size != len(data):
            raise OSError(0, f"only {size} of {len(data)} bytes written")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
