"""The image libraries' own messages go to Kintsugi's log at debug level, not the terminal.

Pillow warns through `warnings` (printed with a source line) and logs through its
"PIL" loggers (which the CLI's root handler would print as `kintsugi: ERROR: ...`);
OpenCV prints `[ERROR:0@...]` lines itself. A user should see one line from Kintsugi per
problem; with --debug the libraries' words are there too, under this module's logger.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

log = logging.getLogger(__name__)

# warnings.catch_warnings and a logger's handlers are process-wide: one holder at a time.
# Re-entrant, because opening a file and decoding it nest.
_lock = threading.RLock()
_pil_log = logging.getLogger("PIL")
_cv_logging = getattr(getattr(cv2, "utils", None), "logging", None)


class _ToDebug(logging.Handler):
    """Re-logs a library's record at debug level under Kintsugi's logger."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: %s", record.name, record.getMessage())


_to_debug = _ToDebug()
_depth = 0  # how deep the holding thread is in library_messages_to_debug


@contextmanager
def library_messages_to_debug() -> Iterator[None]:
    """Within this block, Pillow's warnings and log records, and OpenCV's log, are ours."""
    global _depth
    with _lock:
        if _depth:  # nested (opening, then decoding): the outer block already holds it all
            yield
            return
        _depth += 1
        propagate = _pil_log.propagate
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _pil_log.addHandler(_to_debug)
                _pil_log.propagate = False
                _quiet_opencv()
                try:
                    yield
                finally:
                    for message in caught:
                        log.debug("%s: %s", message.category.__name__, message.message)
        finally:
            _pil_log.removeHandler(_to_debug)
            _pil_log.propagate = propagate
            _depth -= 1


def _quiet_opencv() -> None:
    # OpenCV's messages cannot be routed into Python logging; they are printed only when
    # Kintsugi's own debug log is on (as with --debug), and Kintsugi says what failed.
    if _cv_logging is not None:
        debug = log.isEnabledFor(logging.DEBUG)
        _cv_logging.setLogLevel(
            _cv_logging.LOG_LEVEL_ERROR if debug else _cv_logging.LOG_LEVEL_SILENT
        )
