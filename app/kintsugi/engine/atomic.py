"""Atomic file writes: a temp file beside the destination, fsync, then os.replace.

The destination is always either absent, the old file, or the complete new one, whatever
happens (a full disk, kill -9, a power cut). Temp files are named ``.<name>.<random>.tmp``
so that a batch started again after a crash can find and remove the ones it left behind
(kintsugi.engine.batch). Errors are raised as OSError; each caller turns them into its own
typed, one-line error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def _process_umask() -> int:
    # Read once at import (single-threaded then): os.umask can only be read by setting it.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_process_umask()  # what open() would give; mkstemp alone gives 0600


def write_atomically(dest: Path, data: bytes | Iterable[bytes]) -> None:
    """Write `data` (bytes, or chunks of them) to `dest` so that `dest` is never partial."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            for chunk in [data] if isinstance(data, bytes) else data:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
