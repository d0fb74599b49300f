"""Python's cyclic garbage collector runs on the GUI thread while worker threads run.

Left automatic, the collector runs in whichever thread happens to allocate, so a worker
thread loading a model can traverse Qt wrapper objects while the GUI thread is changing them
inside Qt with the GIL released; PySide6 then crashes (seen here: a segfault in shiboken's
traverse, called from the collector on the "kintsugi-models" thread). pyqtgraph solves the
same problem the same way: automatic collection off, a GUI-thread timer that collects
whenever the collector's own thresholds say it would have.

The guard is held only while at least one worker thread runs (``hold`` / ``release``, counted),
so creating a runner, or a window that is idle, leaves the process's collector as it was.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QTimer

_INTERVAL_MS = 500
_timer: QTimer | None = None
_holds = 0
_was_enabled = True


def hold() -> None:
    """A worker thread starts: collect on the GUI thread's timer until every one released."""
    global _timer, _holds, _was_enabled
    _holds += 1
    if _holds > 1:
        return
    _was_enabled = gc.isenabled()
    gc.disable()
    app = QCoreApplication.instance()
    if app is not None and _timer is None:
        _timer = QTimer(app)
        _timer.setInterval(_INTERVAL_MS)
        _timer.timeout.connect(collect_if_due)
    if _timer is not None:
        _timer.start()


def release() -> None:
    """A worker thread ended; the last one gives automatic collection back."""
    global _holds
    if _holds == 0:
        return
    _holds -= 1
    if _holds:
        return
    if _timer is not None:
        _timer.stop()
    if _was_enabled:
        gc.enable()


def held() -> bool:
    return _holds > 0


def collect_if_due() -> None:
    """Run the youngest generation when the collector itself would have run it by now.

    Only that one: a full collection of the window's heap (torch loaded, ~200k objects)
    takes ~0.3 s and the middle generation tens of ms, visible stalls in the middle of a
    slider drag. They wait until the last worker ends and automatic collection is back."""
    if gc.get_count()[0] > gc.get_threshold()[0]:
        gc.collect(0)
