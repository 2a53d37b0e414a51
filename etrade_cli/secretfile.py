"""Token files (E*TRADE's OAuth 1.0a tokens, Schwab's OAuth token): JSON in a 0700 folder,
written atomically with mode 0600, so another user never reads one and a crash never leaves
one half written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_private_json(path: Path, doc: Any, prefix: str) -> None:
    """Replace `path` with `doc` as JSON: a temp file (named `prefix`..., mode 0600 before a
    byte is written) in the same folder, fsynced, then renamed over `path`.

    Raises:
        OSError: the folder or file cannot be written (the temp file is removed).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(path: Path) -> bool:
    """Delete `path`; False when there was no such file."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
