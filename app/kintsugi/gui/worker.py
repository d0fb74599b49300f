"""Run engine calls off the GUI thread and bring results back by queued signals.

Each task runs in a worker QObject moved to its own QThread. The engine reports progress
through ``Job.on_progress`` on the worker thread; that callback only emits a signal, which
Qt queues to the GUI thread. Workers never touch widgets or build QPixmaps: a task returns
plain Python/numpy data and the GUI turns it into Qt images.

A runner holds at most one running and one pending task. Submitting a new task cancels the
running one and replaces the pending one, so a burst of requests never builds a backlog.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from kintsugi.gui import gc_guard

log = logging.getLogger(__name__)

# Every QThread a runner ever started, so tests (and close) can check none is left running.
_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()

_PROGRESS_INTERVAL = 0.03  # seconds between progress signals; the GUI needs no more
_WORKER_NICE = 5  # niceness of worker threads relative to the GUI thread (Linux)


def running_threads() -> list[QThread]:
    return [thread for thread in list(_THREADS) if thread.isRunning()]


class Task:
    """One call to run: ``fn(job)``; after it finished ``status`` says how it ended."""

    def __init__(self, fn: Callable[[Any], Any], tag: str = "") -> None:
        self.fn = fn
        self.tag = tag
        self.job: Any = None
        self.status = "pending"  # pending | running | ok | failed | cancelled
        self.result: Any = None
        self.error = ""
        self.seconds = 0.0
        self.context: dict[str, Any] = {}  # the submitter's notes, read back when it ends
        self._sink: Callable[[float, str], None] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def on_progress(self, fraction: float, message: str) -> None:
        """The Job's progress callback (worker thread): forwards to the worker's signal."""
        sink = self._sink
        if sink is not None:
            sink(fraction, message)


def _readable(error: BaseException) -> str:
    """A one-line message for an error dialog; never a traceback."""
    from kintsugi import KintsugiError

    if isinstance(error, KintsugiError):
        return str(error)
    if isinstance(error, MemoryError):
        return "Not enough memory for this image. Try a smaller tile size or a smaller scale."
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    text = str(error).strip().splitlines()
    detail = text[0] if text else ""
    return f"Unexpected error ({type(error).__name__}){': ' + detail if detail else ''}"


def _lower_priority() -> None:
    """Run this worker thread at a lower CPU priority than the GUI thread (Linux: per-thread
    nice), so a busy CPU keeps the event loop responsive while a result is composed."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _WORKER_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: run as it is
        pass


def _log_failure(tag: str, error: BaseException) -> None:
    """Ordinary failures (a damaged file, a refused model, no memory) are the user's dialog,
    not a traceback on stderr: logged at debug level. Anything else is a bug: logged whole."""
    from kintsugi import KintsugiError

    if isinstance(error, KintsugiError | OSError | MemoryError):
        log.debug("task %r failed", tag, exc_info=error)
    else:
        log.error("task %r failed", tag, exc_info=error)


class _Worker(QObject):
    progress = Signal(float, str)
    done = Signal(object)  # the Task, so a late signal cannot be mistaken for a newer task's

    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task
        self._last_emit = 0.0
        self._last_message = ""

    def report(self, fraction: float, message: str) -> None:
        """Job.on_progress: called on the worker thread; only emits (queued to the GUI)."""
        now = time.monotonic()
        # Throttle repeats of the same step; a new message (next tile, next stage) always
        # goes through so the GUI never shows a stale step.
        same_step = message == self._last_message
        if fraction < 1.0 and same_step and now - self._last_emit < _PROGRESS_INTERVAL:
            return
        self._last_emit = now
        self._last_message = message
        self.progress.emit(fraction, message)

    @Slot()
    def run(self) -> None:
        from kintsugi import Cancelled

        task = self._task
        started = time.monotonic()
        _lower_priority()
        try:
            task.job.check()  # cancelled before it even started
            task.result = task.fn(task.job)
            # Cancel pressed after the last checkpoint: the user asked for nothing, so the
            # result is dropped rather than shown.
            task.status = "cancelled" if task.job.cancelled else "ok"
        except Cancelled:
            task.status = "cancelled"
        except BaseException as error:  # every failure becomes a readable dialog
            if task.job.cancelled:
                task.status = "cancelled"
            else:
                _log_failure(task.tag, error)
                task.status = "failed"
                task.error = _readable(error)
        task.seconds = time.monotonic() - started
        # Hand this object back to the GUI thread before the thread ends: its Python wrapper
        # is released (and the C++ object deleted) there, never from a finishing thread.
        app = QCoreApplication.instance()
        if app is not None:
            self.moveToThread(app.thread())
        self.done.emit(task)


class TaskRunner(QObject):
    """One running task at a time; newer requests cancel older ones."""

    progress = Signal(float, str)
    finished = Signal(object)  # the Task, once it ended (ok, failed or cancelled)
    busy_changed = Signal(bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._current: tuple[Task, QThread, _Worker] | None = None
        self._pending: Task | None = None
        self._closed = False

    def submit(self, fn: Callable[[Any], Any], tag: str = "", cancel_running: bool = True
               ) -> Task:
        """Queue `fn`; it replaces a pending task. cancel_running=False lets a running task
        finish first (slider previews: the picture keeps updating during a drag, and every
        request between the running and the newest one is dropped)."""
        from kintsugi import Job

        task = Task(fn, tag)
        if self._closed:
            task.status = "cancelled"
            return task
        if self._pending is not None:
            superseded, self._pending = self._pending, None
            superseded.status = "cancelled"
            self.finished.emit(superseded)
        task.job = Job(on_progress=task.on_progress)
        self._pending = task
        if self._current is not None:
            if cancel_running:
                self._current[0].job.cancel()
        else:
            self._start_pending()
            self.busy_changed.emit(True)
        return task

    def is_busy(self) -> bool:
        return self._current is not None or self._pending is not None

    def current_task(self) -> Task | None:
        return self._current[0] if self._current is not None else None

    def cancel(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.status = "cancelled"
            self.finished.emit(pending)
        if self._current is not None:
            self._current[0].job.cancel()

    def pause(self) -> None:
        if self._current is not None:
            self._current[0].job.pause()

    def resume(self) -> None:
        if self._current is not None:
            self._current[0].job.resume()

    def cancel_and_wait(self) -> None:
        """Cancel everything and block until the worker thread has ended."""
        self.cancel()
        if self._current is not None:
            _task, thread, _worker = self._current
            thread.wait()
            self._finish_current()
            self.busy_changed.emit(False)

    def shutdown(self) -> None:
        """Cancel, wait, and accept no more work: called when the window closes."""
        self._closed = True
        self.cancel_and_wait()

    def _start_pending(self) -> None:
        task, self._pending = self._pending, None
        if task is None:
            return
        worker = _Worker(task)
        task._sink = worker.report
        thread = QThread()
        thread.setObjectName(f"kintsugi-{self._name}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.done.connect(self._on_worker_done)
        # Direct: quit must reach the thread even while the GUI thread is blocked in wait().
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        self._current = (task, thread, worker)
        _THREADS.add(thread)
        # Worker threads allocate too; the collector must not run on them (see gc_guard).
        gc_guard.hold()
        task.status = "running"
        thread.start()

    @Slot(object)
    def _on_worker_done(self, task: Task) -> None:
        if self._current is None or self._current[0] is not task:
            return  # already finished by cancel_and_wait()
        self._current[1].wait()  # run() has returned; this only joins the thread
        self._finish_current()
        if self._pending is not None and not self._closed:
            self._start_pending()
        elif not self.is_busy():
            self.busy_changed.emit(False)

    def _finish_current(self) -> None:
        if self._current is None:
            return
        task, _thread, _worker = self._current
        self._current = None
        gc_guard.release()
        task._sink = None
        if task.status == "running":  # the thread was stopped before run() could finish
            task.status = "cancelled"
        self.finished.emit(task)

