"""The window's Restore faces flow: restores, live previews, the alternatives strip, the
bias brush and Pro-PULSE's side outputs, all rendered from one ``RestoreSession``.

``RestoreFlow`` is a mixin of ``MainWindow`` (it uses the window's run flow, history and
canvas). Network work runs on worker threads only:
- the Restore button and live previews render the session on the window's runners (a
  preview on the preview runner, where the running task finishes and only the newest
  waiting one survives; a preview that finds a newer one waiting once the session is
  ready is dropped before it renders);
- the strip's thumbnails and the side outputs are rendered one task at a time on the
  "faces-strip" runner, after the result they belong to is shown.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Slot

from kintsugi import (
    Brush,
    PhotoCache,
    SessionStore,
    brush_from_masks,
    face_frame,
    run_restore,
    side_output_note,
)
from kintsugi.gui.history import ResultHistory
from kintsugi.gui.imaging import display_array, to_qimage
from kintsugi.gui.restore_panel import STRIP_THUMB, RestoreOptions
from kintsugi.gui.worker import Task, TaskRunner

FACE_TOOLS = {"realness": "face-realness", "fidelity": "face-fidelity"}  # canvas map names


@dataclasses.dataclass
class _StripState:
    basis: Any = None  # what the thumbnails were rendered with, apart from the slider
    values: list[float] = dataclasses.field(default_factory=list)
    sides: list[int] = dataclasses.field(default_factory=list)


class RestoreFlow:
    """Mixin: the window's face restoration (see the module doc)."""

    # Provided by MainWindow.
    panel: Any
    canvas: Any
    restore_finished: Any
    restore_strip_filled: Any
    side_outputs_filled: Any
    _source: Any
    _source_token: int
    _models: Any
    _models_loaded: bool
    _preview_runner: TaskRunner
    _history: ResultHistory
    _accept: Callable[..., Any]
    _start: Callable[..., bool]
    _show_error: Callable[[str, str], None]
    _input_image: Callable[[], Any]

    def _init_restore_flow(self) -> None:
        self._photo_cache = PhotoCache()  # faces and background of the open photo
        self._sessions = SessionStore()  # the restore session of the open photo
        self._preview_serial = 0  # bumps on every preview request: older ones are stale
        self._face_strip = _StripState()
        self._face_source: Any = None  # what this photo's restores start from
        self._strip_runner = TaskRunner("faces-strip", self)  # type: ignore[arg-type]
        self._strip_runner.finished.connect(self._on_face_strip_finished)
        restore = self.panel.restore
        restore.strip_chosen.connect(self.choose_restore_strip)
        restore.side_chosen.connect(self.choose_side_output)
        restore.tool_changed.connect(lambda _tool: self._sync_face_tool())
        restore.tools.brush.changed.connect(self._sync_face_tool)
        restore.brush_clear_requested.connect(self.clear_face_brush)
        restore.model_combo.currentIndexChanged.connect(lambda _i: self._drop_session())

    def _reset_restore_flow(self) -> None:
        """A new photo: its own caches and session; the old strip and brush go."""
        self._strip_runner.cancel()
        self._photo_cache = PhotoCache()
        self._sessions = SessionStore()
        self._face_strip = _StripState()
        self._face_source = None
        for name in FACE_TOOLS.values():
            self.canvas.clear_map(name)
        self.panel.restore.alt_strip.clear("")
        self.panel.restore.side_strip.clear("")

    def _drop_session(self) -> None:
        """The model changed: the session (and its strip) belong to the old one."""
        self._strip_runner.cancel()
        self._sessions.drop()
        self._face_strip = _StripState()

    def restore_runners(self) -> list[TaskRunner]:
        return [self._strip_runner]

    # ------------------------------------------------------------------ restoring
    def restore_options(self) -> RestoreOptions:
        return self.panel.restore.options(self.panel.options().device)

    @Slot()
    def start_restore(self) -> None:
        """The Restore button: a session render on the run runner; a new history step."""
        self._submit_restore(preview=False)

    @Slot()
    def preview_restore(self) -> None:
        """A settled slider / seed / brush change: a session render on the preview runner."""
        self._submit_restore(preview=True)

    def restore_runner(self) -> TaskRunner:
        return self._preview_runner

    def strip_runner(self) -> TaskRunner:
        return self._strip_runner

    def photo_cache(self) -> PhotoCache:
        return self._photo_cache

    def session_store(self) -> SessionStore:
        return self._sessions

    def _face_input(self) -> Any:
        """The picture restores start from: the photo (or its healed version), never a
        restore result on screen, even one at the photo's own size (a preview restores
        the photo again, not its last preview)."""
        entry = self._history.current()
        if entry is None or entry.kind != "restore" or self._face_source is None:
            self._face_source = self._input_image()
        return self._face_source

    def face_brush(self) -> Brush | None:
        """The painted bias (None: nothing painted, or the model has no mask to bias)."""
        if not self.panel.restore.maskable():
            return None
        return brush_from_masks(self.canvas.brush_mask(FACE_TOOLS["realness"]),
                                self.canvas.brush_mask(FACE_TOOLS["fidelity"]))

    def _restore_body(self, opts: RestoreOptions, preview: bool) -> Callable[[Any], Any]:
        source, cache, models, store = self._face_input(), self._photo_cache, self._models, self._sessions
        brush = self.face_brush()
        stale: Callable[[], bool] | None = None
        if preview:
            self._preview_serial += 1
            serial = self._preview_serial
            stale = lambda: serial != self._preview_serial  # noqa: E731 - read on the worker
        made = _made()

        def body(job: Any) -> Any:
            import kintsugi

            # A render already under way is shown even if a newer value is waiting (the
            # picture keeps up during a drag); one that has not started is dropped.
            out, _model, scale, found = run_restore(source, opts.spec, opts.controls, opts.device,
                                                   models, cache, store, job, brush, stale)
            job.check()
            job.set_progress(0.97, "Measuring invented detail…")
            painted = opts.controls if brush is None else dataclasses.replace(
                opts.controls, bias_map=brush.bias_map)
            provenance = kintsugi.restore_note(opts.spec, painted, scale)
            label = "faces restored: " + opts.describe() + (" · brushed" if brush is not None else "")
            result = made(out, opts.model_id, provenance, label, opts)
            result.extra_found = found
            return result

        return body

    def _submit_restore(self, preview: bool) -> None:
        if self._source is None or not self._models_loaded:
            return
        if not self.panel.restore.selected_model():
            return
        try:
            opts = self.restore_options()
        except ValueError as error:
            if preview:
                self.panel.restore.progress_label.setText(str(error))
            else:
                self._show_error("Which faces?", str(error))
            return
        body = self._restore_body(opts, preview)
        if not preview:
            self._start("restore", body)
            return
        source, finish = self._source, _finish()

        def task(job: Any) -> Any:
            started = time.monotonic()
            made = body(job)
            return finish(source, made, time.monotonic() - started, heat=True, job=job)

        # The running render finishes (a session build is never thrown away); the newest
        # request replaces any waiting one.
        submitted = self._preview_runner.submit(task, "restore-preview", cancel_running=False)
        submitted.context.update(token=self._source_token, opts=opts)
        self.panel.restore.set_progress(0.0, "Previewing…")

    def _on_restore_preview_finished(self, task: Task) -> None:
        section = self.panel.restore
        status = task.status
        if task.context.get("token") != self._source_token:
            status = "cancelled"
        elif task.ok:
            self._accept(task.result, "restore", preview=True)
            section.set_faces_found(int(task.result.made.extra_found))
            section.set_progress(0.0, f"Preview in {_seconds(task.seconds)}")
            self._after_restore(task.context["opts"])
        elif status == "failed":
            section.set_progress(0.0, "Failed")
            self._show_error("Restore failed", task.error)
        self.restore_finished.emit(status)

    def _after_restore(self, opts: RestoreOptions) -> None:
        """A restore is on screen: fill the strip (or the side outputs) for its session,
        unless the strip on show was rendered with the same settings."""
        section = self.panel.restore
        basis = (self._source_token, opts.at(0.0, None))
        if basis == self._face_strip.basis:
            return
        self._strip_runner.cancel()
        self._face_strip = _StripState(basis=basis, values=section.strip_values())
        if section.side_outputs():
            section.side_strip.clear("Computing the side outputs…")
            self._submit_sides(0)
        elif self._face_strip.values:
            section.alt_strip.clear("Computing alternatives…")
            self._submit_face_thumb(opts, 0)

    # ------------------------------------------------------------------ the strip
    def _submit_face_thumb(self, opts: RestoreOptions, index: int) -> None:
        value = self._face_strip.values[index]
        section = self.panel.restore
        # The strip varies the slider only: the same blocks and seed, no brush.
        wanted = opts.at(value if section.maskable() else 0.0,
                         _w(value) if section.weighted() else None)
        source, cache, models, store = self._face_input(), self._photo_cache, self._models, self._sessions

        def task(job: Any) -> np.ndarray:
            out, session = store.render(source, wanted.spec, wanted.controls, wanted.device, models,
                                        cache, job, build=False)
            job.check()
            return _thumbnail(out, face_frame(session))

        submitted = self._strip_runner.submit(task, "thumb")
        submitted.context.update(token=self._source_token, basis=self._face_strip.basis, index=index,
                                 opts=opts, value=value)

    def _submit_sides(self, index: int) -> None:
        store = self._sessions

        def task(job: Any) -> tuple[list[int], np.ndarray | None]:
            session = store.current()
            sizes = session.side_sizes() if session is not None else []
            if index >= len(sizes):
                return sizes, None
            out = store.side_output(sizes[index], job)
            return sizes, _thumbnail(out, face_frame(session))

        submitted = self._strip_runner.submit(task, "side")
        submitted.context.update(token=self._source_token, basis=self._face_strip.basis, index=index)

    @Slot(object)
    def _on_face_strip_finished(self, task: Task) -> None:
        if task.context.get("token") != self._source_token or task.context.get("basis") != self._face_strip.basis:
            return
        section = self.panel.restore
        strip = section.side_strip if task.tag == "side" else section.alt_strip
        if task.status == "failed":
            strip.clear(f"Not available: {task.error}")
            return
        if not task.ok:
            if not self._strip_runner.is_busy():  # its session was replaced, not by a newer strip
                strip.note.setText("The settings changed: restore again for their alternatives.")
            return
        index = task.context["index"]
        if task.tag == "side":
            sizes, thumb = task.result
            self._face_strip.sides = sizes
            if thumb is not None:
                size = sizes[index]
                strip.add_thumbnail(to_qimage(thumb), f"{size} px",
                                    f"Side output at {size}×{size}: what the block at that "
                                    "resolution draws")
            if index + 1 < len(sizes):
                self._submit_sides(index + 1)
            else:
                strip.note.setText("Click one to show it in the photo; Save writes the one on screen."
                                   if sizes else "This model has no side outputs.")
                self.side_outputs_filled.emit()
            return
        value = task.context["value"]
        strip.add_thumbnail(to_qimage(task.result), section.strip_label(value), section.strip_tip(value))
        if index + 1 < len(self._face_strip.values):
            self._submit_face_thumb(task.context["opts"], index + 1)
        else:
            strip.note.setText("Mask bias, fidelity to realness: click one to show it; Save "
                               "writes the one on screen." if section.maskable() else
                               "Click one to show it; Save writes the one on screen.")
            self.restore_strip_filled.emit()

    @Slot(int)
    def choose_restore_strip(self, index: int) -> None:
        """Show the strip's alternative `index`: the slider moves there (the brush is
        cleared, as the thumbnail has none) and the session renders it at once."""
        values = self._face_strip.values
        if not 0 <= index < len(values):
            return
        self.panel.restore.set_bias_quietly(values[index])
        self.clear_face_brush(preview=False)
        self.preview_restore()

    @Slot(int)
    def choose_side_output(self, index: int) -> None:
        """Show Pro-PULSE's side output `index` pasted into the photo (a preview step that
        Save writes, with the side output's size in its provenance)."""
        sizes = self._face_strip.sides
        entry = self._history.current()
        if not 0 <= index < len(sizes) or entry is None:
            return
        size, store, source, finish, made = sizes[index], self._sessions, self._source, _finish(), _made()
        provenance = side_output_note(entry.provenance, size)
        label = f"{entry.model_id} · side output {size} px"

        def task(job: Any) -> Any:
            started = time.monotonic()
            out = store.side_output(size, job)
            return finish(source, made(out, entry.model_id, provenance, label, entry.options),
                          time.monotonic() - started, heat=True, job=job)

        submitted = self._preview_runner.submit(task, "side-output")
        submitted.context.update(token=self._source_token, size=size)

    def _on_side_output_finished(self, task: Task) -> None:
        if task.context.get("token") == self._source_token and task.ok:
            task.result.made.extra_found = 0
            self._accept(task.result, "restore", preview=True)
            self.panel.restore.set_progress(0.0, f"Side output {task.context['size']} px")
        elif task.status == "failed":
            self._show_error("Side output failed", task.error)
        self.restore_finished.emit(task.status)

    # ------------------------------------------------------------------ the brush
    def _sync_face_tool(self) -> None:
        """In the Faces tab the canvas brush paints the bias maps."""
        if self.panel.mode() != "restore":
            return
        tools = self.panel.restore.tools
        tool = tools.tool()
        self.canvas.set_tool(FACE_TOOLS.get(tool, ""), tools.brush.size(), tools.brush.hardness())
        self.canvas.show_maps(set(FACE_TOOLS.values()) if tool else set())

    def _on_face_stroke(self, tool: str) -> bool:
        """A stroke on a face bias map: render it now. False: not a face map."""
        if tool not in FACE_TOOLS.values():
            return False
        self.preview_restore()
        return True

    @Slot()
    def clear_face_brush(self, preview: bool = True) -> None:
        painted = any(self.canvas.brush_mask(name) is not None for name in FACE_TOOLS.values())
        for name in FACE_TOOLS.values():
            self.canvas.clear_map(name)
        if preview and painted:
            self.preview_restore()


def _made() -> Any:
    """The window's result record (imported when used: the window module imports this one)."""
    from kintsugi.gui.main_window import Made

    return Made


def _finish() -> Callable[..., Any]:
    """The window's worker-side finishing of every mode (display pyramid, deviation map)."""
    from kintsugi.gui import main_window

    return main_window._finish  # noqa: SLF001 - shared by the window's modes


def _w(value: float) -> float:
    from kintsugi.gui.restore_panel import slider_to_w

    return slider_to_w(value)


def _thumbnail(image: Any, frame: tuple[int, int, int, int] | None) -> np.ndarray:
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


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
