"""The image libraries' own messages go to Kintsugi's log at debug level, not the terminal.

Pillow warns through `warnings` (printed with a source line) and logs through its
"PIL" loggers (which the CLI's root handler would print as `kintsugi: ERROR: ...`);
libpng, libtiff and OpenCV print to the process's stderr themselves. A user should see
one line from Kintsugi per problem; with --debug the libraries' words are there too,
under this module's logger.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# warnings.catch_warnings and a logger's handlers are process-wide: one holder at a time.
# Re-entrant, because opening a file and decoding it nest.
_lock = threading.RLock()
_pil_log = logging.getLogger("PIL")


class _ToDebug(logging.Handler):
    """Re-logs a library's record at debug level under Kintsugi's logger."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: %s", record.name, record.getMessage())


_to_debug = _ToDebug()
_depth = 0  # how deep the holding thread is in library_messages_to_debug


@contextmanager
def library_messages_to_debug() -> Iterator[None]:
    """Within this block, Pillow's warnings and log records go to Kintsugi's debug log."""
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
                try:
                    yield
                finally:
                    for message in caught:
                        log.debug("%s: %s", message.category.__name__, message.message)
        finally:
            _pil_log.removeHandler(_to_debug)
            _pil_log.propagate = propagate
            _depth -= 1


@contextmanager
def native_stderr_to_debug() -> Iterator[None]:
    """Lines that C decoders print to file descriptor 2 (libpng, libtiff, OpenCV's own
    `[ERROR:0@...]`) go to the debug log instead. Only around a decoder call: anything
    else the process prints meanwhile would be caught too."""
    with _lock:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (a windowed app): nothing to keep quiet
            yield
            return
        with tempfile.TemporaryFile() as sink:  # a file, unlike a pipe, never fills up
            if sys.stderr is not None:  # None in a windowed app
                sys.stderr.flush()
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                for line in sink.read().decode("utf-8", "replace").splitlines():
                    if line.strip():
                        log.debug("%s", line.strip())
