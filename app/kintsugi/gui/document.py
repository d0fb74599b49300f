"""The open photo and everything made from it, without Qt: the window's panels, canvas and
flows read it and listen to its events; tests drive it directly.

It holds the original (pixels, path, the format a result is saved in by default), the
results in an undo history, the alternative on show, what is selected on the photo (its
face outlines, the painted mix maps) and whether the result on show is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kintsugi.gui.history import ResultEntry, ResultHistory

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in photo pixels


class Event:
    """A list of callbacks run in order when the event is emitted (on the caller's thread:
    the window's, as the document is changed on the GUI thread only)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., object]] = []

    def connect(self, callback: Callable[..., object]) -> None:
        self._callbacks.append(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class Document:
    """One photo and its results (see the module doc)."""

    def __init__(self) -> None:
        self.opened = Event()  # a new photo replaced the old one (and its results)
        self.result_changed = Event()  # (entry): the entry on show, None for the original
        self.unsaved_changed = Event()  # (bool)
        self.faces_changed = Event()  # the photo's face outlines were found
        self.source: Any = None  # kintsugi Image of the original
        self.path: Path | None = None  # None: pasted
        self.display: np.ndarray | None = None  # the original, display-ready (8-bit RGB/RGBA)
        self.token = 0  # bumps on every open, so late results of an old photo are dropped
        self.history = ResultHistory()
        self.face_boxes: list[Box] = []
        self.masks: dict[str, np.ndarray] = {}  # painted mix maps, read once per stroke
        self._saved: ResultEntry | None = None

    # ------------------------------------------------------------------ the photo
    def open(self, image: Any, path: Path | None, display: np.ndarray) -> None:
        was_unsaved = self.unsaved
        self.token += 1
        self.source, self.path, self.display = image, path, display
        self.history.clear()
        self.face_boxes = []
        self.masks.clear()
        self._saved = None
        self.opened.emit()
        self.result_changed.emit(None)
        if was_unsaved:
            self.unsaved_changed.emit(False)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "Pasted image"

    def save_format(self) -> str:
        """The format a result is written in unless the user picks another: the photo's
        own when Kintsugi writes it, else PNG (the command line's rule)."""
        import kintsugi

        source_format = self.source.metadata.source_format if self.source is not None else None
        return str(kintsugi.output_format_for(source_format))

    def input_image(self) -> Any:
        """What a new upscale or restore starts from: the original, or its healed version
        when the result on show is an edit of it at its own size."""
        entry = self.history.current()
        if entry is not None and entry.scale == 1:
            return entry.image
        return self.source

    # ------------------------------------------------------------------ results
    def current(self) -> ResultEntry | None:
        return self.history.current()

    def add(self, entry: ResultEntry, replace: bool = False) -> None:
        """A new result: a new undo step, unless it replaces the one on show (`replace`, or
        a preview following a preview of the same kind)."""
        was_unsaved = self.unsaved
        current = self.history.current()
        if replace or (entry.preview and current is not None and current.preview
                       and current.kind == entry.kind):
            self.history.replace_current(entry)
        else:
            self.history.push(entry)
        self._show(was_unsaved)

    def undo(self) -> None:
        if self.history.can_undo():
            was_unsaved = self.unsaved
            self.history.undo()
            self._show(was_unsaved)

    def redo(self) -> None:
        if self.history.can_redo():
            was_unsaved = self.unsaved
            self.history.redo()
            self._show(was_unsaved)

    def current_session(self) -> Any:
        """The alternatives session of the result on show (None: not an upscale)."""
        entry = self.history.current()
        return entry.alt if entry is not None else None

    def current_setting(self) -> Any:
        entry = self.history.current()
        return entry.setting if entry is not None else None

    # ------------------------------------------------------------------ saved or not
    @property
    def unsaved(self) -> bool:
        """A result is on show that was never written to a file."""
        entry = self.history.current()
        return entry is not None and entry is not self._saved

    def mark_saved(self, entry: ResultEntry) -> None:
        was_unsaved = self.unsaved
        self._saved = entry
        if was_unsaved != self.unsaved:
            self.unsaved_changed.emit(self.unsaved)

    # ------------------------------------------------------------------ selections
    def set_faces(self, boxes: list[Box]) -> None:
        self.face_boxes = list(boxes)
        self.faces_changed.emit()

    def _show(self, was_unsaved: bool) -> None:
        self.result_changed.emit(self.history.current())
        if was_unsaved != self.unsaved:
            self.unsaved_changed.emit(self.unsaved)
