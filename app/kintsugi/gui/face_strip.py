"""The Faces tab's strips: the restore on show rendered at other slider values, or
Pro-PULSE's side outputs, one thumbnail at a time on the "faces-strip" runner.

Each strip belongs to the settings it was rendered with (its basis): a restore with the same
settings apart from the slider keeps the strip on show; another one starts a new strip.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from kintsugi import PhotoCache, SessionStore, face_frame
from kintsugi.gui.document import Document
from kintsugi.gui.imaging import display_array, to_qimage
from kintsugi.gui.restore_bias import slider_to_w
from kintsugi.gui.restore_panel import STRIP_THUMB, RestoreOptions, RestorePanel
from kintsugi.gui.worker import Task, TaskRunner


@dataclasses.dataclass
class _StripState:
    basis: Any = None  # what the thumbnails were rendered with, apart from the slider
    values: list[float] = dataclasses.field(default_factory=list)
    sides: list[int] = dataclasses.field(default_factory=list)
    source: Any = None  # the picture the restores start from
    cache: PhotoCache | None = None
    store: SessionStore | None = None


class FaceStrip(QObject):
    """The alternatives strip and the side-output strip of the Faces tab."""

    filled = Signal()  # the alternatives strip is complete
    sides_filled = Signal()  # the side-output strip is complete

    def __init__(self, document: Document, section: RestorePanel, models: Any,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._section = section
        self._models = models
        self._state = _StripState()
        self.runner = TaskRunner("faces-strip", self)
        self.runner.finished.connect(self._on_finished)

    @property
    def values(self) -> list[float]:
        return self._state.values

    @property
    def sides(self) -> list[int]:
        return self._state.sides

    def reset(self) -> None:
        """A new photo or model: the strip on show belongs to the old one."""
        self.runner.cancel()
        self._state = _StripState()

    def fill(self, opts: RestoreOptions, source: Any, cache: PhotoCache, store: SessionStore
             ) -> None:
        """A restore is on show: fill the strip (or the side outputs) for its session,
        unless the strip on show was rendered with the same settings."""
        section = self._section
        basis = (self.document.token, opts.at(0.0, None))
        if basis == self._state.basis:
            return
        self.runner.cancel()
        self._state = _StripState(basis, section.strip_values(), [], source, cache, store)
        if section.side_outputs():
            section.side_strip.clear("Computing the side outputs…")
            self._submit_side(0)
        elif self._state.values:
            section.alt_strip.clear("Computing alternatives…")
            self._submit_thumb(opts, 0)

    def _submit_thumb(self, opts: RestoreOptions, index: int) -> None:
        state, section = self._state, self._section
        value = state.values[index]
        # The strip varies the slider only: the same blocks and seed, no brush.
        wanted = opts.at(value if section.maskable() else 0.0,
                         slider_to_w(value) if section.weighted() else None)
        source, cache, store, models = state.source, state.cache, state.store, self._models
        assert store is not None and cache is not None

        def task(job: Any) -> np.ndarray:
            out, session = store.render(source, wanted.spec, wanted.controls, wanted.device, models,
                                        cache, job, build=False)
            job.check()
            return thumbnail(out, face_frame(session))

        submitted = self.runner.submit(task, "thumb")
        submitted.context.update(basis=state.basis, index=index, opts=opts, value=value)

    def _submit_side(self, index: int) -> None:
        store = self._state.store
        assert store is not None

        def task(job: Any) -> tuple[list[int], np.ndarray | None]:
            session = store.current()
            sizes = session.side_sizes() if session is not None else []
            if index >= len(sizes):
                return sizes, None
            out = store.side_output(sizes[index], job)
            return sizes, thumbnail(out, face_frame(session))

        submitted = self.runner.submit(task, "side")
        submitted.context.update(basis=self._state.basis, index=index)

    @Slot(object)
    def _on_finished(self, task: Task) -> None:
        if task.context.get("basis") != self._state.basis:
            return
        section = self._section
        strip = section.side_strip if task.tag == "side" else section.alt_strip
        if task.status == "failed":
            strip.clear(f"Not available: {task.error}")
        elif not task.ok:
            if not self.runner.is_busy():  # its session was replaced, not by a newer strip
                strip.note.setText("The settings changed: restore again for their alternatives.")
        elif task.tag == "side":
            self._on_side(task)
        else:
            self._on_thumb(task)

    def _on_side(self, task: Task) -> None:
        strip, index = self._section.side_strip, task.context["index"]
        sizes, thumb = task.result
        self._state.sides = sizes
        if thumb is not None:
            size = sizes[index]
            strip.add_thumbnail(to_qimage(thumb), f"{size} px",
                                f"Side output at {size}×{size}: what the block at that "
                                "resolution draws")
        if index + 1 < len(sizes):
            self._submit_side(index + 1)
            return
        strip.note.setText("Click one to show it in the photo; Save writes the one on screen."
                           if sizes else "This model has no side outputs.")
        self.sides_filled.emit()

    def _on_thumb(self, task: Task) -> None:
        section, index, value = self._section, task.context["index"], task.context["value"]
        section.alt_strip.add_thumbnail(to_qimage(task.result), section.strip_label(value),
                                        section.strip_tip(value))
        if index + 1 < len(self._state.values):
            self._submit_thumb(task.context["opts"], index + 1)
            return
        section.alt_strip.note.setText(
            "Mask bias, fidelity to realness: click one to show it; Save writes the one on "
            "screen." if section.maskable() else "Click one to show it; Save writes the one on screen.")
        self.filled.emit()


def thumbnail(image: Any, frame: tuple[int, int, int, int] | None) -> np.ndarray:
    """The faces of a result (or all of it) shrunk to a strip thumbnail, display-ready."""
    import cv2

    pixels = image.pixels
    if frame is not None:
        x0, y0, x1, y1 = frame
        pixels = pixels[y0:y1, x0:x1]
    height, width = pixels.shape[:2]
    side = STRIP_THUMB / max(width, height)
    small = cv2.resize(pixels, (max(1, round(width * side)), max(1, round(height * side))),
                       interpolation=cv2.INTER_AREA)
    return display_array(small.reshape(small.shape[0], small.shape[1], -1))
