"""The one object every long call takes: progress 0..1, sub-progress, cooperative cancel.

Front ends adapt it: the GUI to Qt signals, the CLI to a progress bar. The tiler checks
cancel and reports progress before every module call of the network (see
kintsugi.engine.tiling), so both move within a tile, not only between tiles.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kintsugi.engine.errors import Cancelled

ProgressCallback = Callable[[float, str], None]


class Job:
    """Progress and cancel for one long call; thread-safe, cheap to check."""

    def __init__(self, on_progress: ProgressCallback | None = None) -> None:
        self._on_progress = on_progress
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.progress = 0.0
        self.message = ""
        self.started = time.monotonic()

    # --- cancel / pause -------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()
        self._resume.set()  # a paused job must wake up to notice the cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def check(self) -> None:
        """Raise Cancelled if cancel was asked; block here while paused."""
        self._resume.wait()
        if self._cancel.is_set():
            raise Cancelled()

    # --- progress ---------------------------------------------------------
    def set_progress(self, fraction: float, message: str = "") -> None:
        self.progress = min(max(fraction, 0.0), 1.0)
        if message:
            self.message = message
        if self._on_progress is not None:
            self._on_progress(self.progress, self.message)

    def sub(self, offset: float, length: float) -> Job:
        """A view whose 0..1 maps to [offset, offset+length] of this job; shares cancel."""
        return _SubJob(self, offset, length)

    def eta_seconds(self) -> float | None:
        if self.progress <= 0.0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed * (1.0 - self.progress) / self.progress


class _SubJob(Job):
    """Shares its parent's cancel and pause state; only progress is rescaled."""

    def __init__(self, parent: Job, offset: float, length: float) -> None:
        super().__init__()
        self._cancel = parent._cancel
        self._resume = parent._resume
        self._parent = parent
        self._offset = offset
        self._length = length
        self.started = parent.started

    def set_progress(self, fraction: float, message: str = "") -> None:
        self.progress = min(max(fraction, 0.0), 1.0)
        self._parent.set_progress(self._offset + self._length * self.progress, message)


class NullJob(Job):
    """A job nobody watches: never cancelled, progress goes nowhere."""

    def set_progress(self, fraction: float, message: str = "") -> None:
        self.progress = fraction


def ensure_job(job: Job | None) -> Job:
    return job if job is not None else NullJob()
