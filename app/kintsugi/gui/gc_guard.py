"""Python's cyclic garbage collector runs on the GUI thread only.

Left automatic, the collector runs in whichever thread happens to allocate, so a worker
thread loading a model can traverse Qt wrapper objects while the GUI thread is changing them
inside Qt with the GIL released; PySide6 then crashes (seen here: a segfault in shiboken's
traverse, called from the collector on the "kintsugi-models" thread). pyqtgraph solves the
same problem the same way: automatic collection off, a GUI-thread timer that collects
whenever the collector's own thresholds say it would have.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

_INTERVAL_MS = 500
_timer: QTimer | None = None


def install(parent: QObject) -> None:
    """Collect on `parent`'s (GUI) thread from now on; idempotent."""
    global _timer
    if _timer is not None:
        return
    gc.disable()
    _timer = QTimer(parent)
    _timer.setInterval(_INTERVAL_MS)
    _timer.timeout.connect(collect_if_due)
    _timer.start()


def uninstall() -> None:
    """Back to automatic collection (tests, and when the application quits)."""
    global _timer
    if _timer is not None:
        _timer.stop()
        _timer = None
    gc.enable()


def collect_if_due() -> None:
    """Run the generations the collector itself would have run by now."""
    counts = gc.get_count()
    thresholds = gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return
