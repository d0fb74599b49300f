"""The Faces tab's work: restores, live previews, the bias brush, face outlines and
Pro-PULSE's side outputs, all rendered from one ``RestoreSession`` per photo (its strips:
``face_strip.py``).

Network work runs on worker threads only: the Restore button on this flow's run runner
(one deliberate run at a time, like every mode); live previews and side outputs on its
preview runner, where the running task finishes and only the newest waiting one survives
(a preview that finds a newer one waiting once the session is ready is dropped before it
renders); face detection, once per photo, on the "faces" runner.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRectF, Signal, Slot

from kintsugi import (
    Brush,
    PhotoCache,
    SessionStore,
    brush_from_masks,
    run_restore,
    side_output_note,
)
from kintsugi.gui.canvas import CompareCanvas
from kintsugi.gui.document import Document
from kintsugi.gui.face_strip import FaceStrip
from kintsugi.gui.history import ResultEntry
from kintsugi.gui.models import ModelCache
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.restore_panel import RestoreOptions
from kintsugi.gui.runs import Made, Output, RunFlow, RunGate, accept, finish
from kintsugi.gui.worker import Task, TaskRunner

FACE_TOOLS = {"realness": "face-realness", "fidelity": "face-fidelity"}  # canvas map names


class RestoreFlow(RunFlow):
    """Face restoration of the open photo (see the module doc)."""

    kind = "restore"
    verb = "Restoring"
    failed_title = "Restore failed"

    faces_shown = Signal(int)  # face outlines drawn (their number)

    def __init__(self, document: Document, panel: SidePanel, canvas: CompareCanvas,
                 models: ModelCache, gate: RunGate, parent: QObject | None = None) -> None:
        super().__init__(document, panel.restore.run, gate, parent)
        self._panel = panel
        self._section = panel.restore
        self._canvas = canvas
        self._models = models
        self.ready = False  # the model list is in
        self._photo_cache = PhotoCache()  # faces and background of the open photo
        self._sessions = SessionStore()  # the restore session of the open photo
        self._preview_serial = 0  # bumps on every preview request: older ones are stale
        self._face_source: Any = None  # what this photo's restores start from
        self.strip = FaceStrip(document, self._section, models, self)
        self.preview_runner = TaskRunner("restore-preview", self)
        self.preview_runner.finished.connect(self._on_preview_finished)
        self._faces_runner = TaskRunner("faces", self)
        self._faces_runner.finished.connect(self._on_faces_found)
        section = self._section
        section.restore_requested.connect(self.start)
        section.preview_requested.connect(self.preview)
        section.strip_chosen.connect(self.choose_strip)
        section.side_chosen.connect(self.choose_side_output)
        section.brush_clear_requested.connect(self.clear_brush)
        section.model_combo.currentIndexChanged.connect(lambda _i: self._drop_session())
        section.selection_changed.connect(self.show_faces)
        canvas.face_clicked.connect(self._on_face_clicked)
        document.faces_changed.connect(self.show_faces)

    def runners(self) -> list[TaskRunner]:
        return [self.runner, self.preview_runner, self._faces_runner, self.strip.runner]

    def photo_cache(self) -> PhotoCache:
        return self._photo_cache

    def session_store(self) -> SessionStore:
        return self._sessions

    def options(self) -> RestoreOptions:
        return self._section.options(self._panel.options().device)

    def _on_opened(self) -> None:
        """A new photo: its own caches and session; the old strips and brush go."""
        super()._on_opened()
        self.preview_runner.cancel()
        self._faces_runner.cancel()
        self.strip.reset()
        self._photo_cache = PhotoCache()
        self._sessions = SessionStore()
        self._face_source = None
        for name in FACE_TOOLS.values():
            self._canvas.brushes.clear(name)
        self._section.alt_strip.clear("")
        self._section.side_strip.clear("")
        self._section.settings.show_found("")

    def _drop_session(self) -> None:
        """The model changed: the session (and its strip) belong to the old one."""
        self.strip.reset()
        self._sessions.drop()

    # ------------------------------------------------------------------ restoring
    @Slot()
    def start(self) -> None:
        """The Restore button: a session render on the run runner; a new history step."""
        self._submit(preview=False)

    @Slot()
    def preview(self) -> None:
        """A settled slider / seed / brush change: a session render on the preview runner."""
        self._submit(preview=True)

    def _face_input(self) -> Any:
        """The picture restores start from: the photo (or its healed version), never a
        restore result on screen, even one at the photo's own size (a preview restores
        the photo again, not its last preview)."""
        entry = self.document.current()
        if entry is None or entry.kind != "restore" or self._face_source is None:
            self._face_source = self.document.input_image()
        return self._face_source

    def face_brush(self) -> Brush | None:
        """The painted bias (None: nothing painted, or the model has no mask to bias)."""
        if not self._section.maskable():
            return None
        return brush_from_masks(self._canvas.brushes.mask(FACE_TOOLS["realness"]),
                                self._canvas.brushes.mask(FACE_TOOLS["fidelity"]))

    def _body(self, opts: RestoreOptions, preview: bool) -> Callable[[Any], Made]:
        source, cache, models, store = self._face_input(), self._photo_cache, self._models, self._sessions
        brush = self.face_brush()
        stale: Callable[[], bool] | None = None
        if preview:
            self._preview_serial += 1
            serial = self._preview_serial
            stale = lambda: serial != self._preview_serial  # noqa: E731 - read on the worker

        def body(job: Any) -> Made:
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
            return Made(out, opts.model_id, provenance, label, opts, faces_found=found)

        return body

    def _submit(self, preview: bool) -> None:
        if self.document.source is None or not self.ready or not self._section.selected_model():
            return
        try:
            opts = self.options()
        except ValueError as error:
            if preview:
                self._section.progress_label.setText(str(error))
            else:
                self.failed.emit("Which faces?", str(error))
            return
        body = self._body(opts, preview)
        if not preview:
            self.run(body)
            return
        source = self.document.source

        def task(job: Any) -> Output:
            started = time.monotonic()
            made = body(job)
            return finish(source, made, time.monotonic() - started, heat=True, job=job)

        # The running render finishes (a session build is never thrown away); the newest
        # request replaces any waiting one.
        submitted = self.preview_runner.submit(task, "restore-preview", cancel_running=False)
        submitted.context.update(token=self.document.token, opts=opts)
        self._section.set_progress(0.0, "Previewing…")

    def accepted(self, out: Output, entry: ResultEntry) -> None:
        self._section.settings.set_faces_found(out.made.faces_found)
        self.strip.fill(out.made.extra, self._face_input(), self._photo_cache, self._sessions)

    @Slot(object)
    def _on_preview_finished(self, task: Task) -> None:
        if task.tag == "side-output":
            self._on_side_output(task)
            return
        section = self._section
        status = task.status
        if task.context.get("token") != self.document.token:
            status = "cancelled"
        elif task.ok:
            accept(self.document, task.result, "restore", preview=True)
            section.settings.set_faces_found(task.result.made.faces_found)
            section.set_progress(0.0, f"Preview in {_seconds(task.seconds)}")
            self.strip.fill(task.context["opts"], self._face_input(), self._photo_cache,
                            self._sessions)
        elif status == "failed":
            section.set_progress(0.0, "Failed")
            self.failed.emit("Restore failed", task.error)
        self.finished.emit(status)

    # ------------------------------------------------------------------ the strips
    @Slot(int)
    def choose_strip(self, index: int) -> None:
        """Show the strip's alternative `index`: the slider moves there (the brush is
        cleared, as the thumbnail has none) and the session renders it at once."""
        values = self.strip.values
        if not 0 <= index < len(values):
            return
        self._section.set_bias_quietly(values[index])
        self.clear_brush(preview=False)
        self.preview()

    @Slot(int)
    def choose_side_output(self, index: int) -> None:
        """Show Pro-PULSE's side output `index` pasted into the photo (a preview step that
        Save writes, with the side output's size in its provenance)."""
        sizes = self.strip.sides
        entry = self.document.current()
        if not 0 <= index < len(sizes) or entry is None:
            return
        size, store, source = sizes[index], self._sessions, self.document.source
        provenance = side_output_note(entry.provenance, size)
        label = f"{entry.model_id} · side output {size} px"

        def task(job: Any) -> Output:
            started = time.monotonic()
            out = store.side_output(size, job)
            return finish(source, Made(out, entry.model_id, provenance, label, entry.options),
                          time.monotonic() - started, heat=True, job=job)

        submitted = self.preview_runner.submit(task, "side-output")
        submitted.context.update(token=self.document.token, size=size)

    def _on_side_output(self, task: Task) -> None:
        if task.context.get("token") == self.document.token and task.ok:
            accept(self.document, task.result, "restore", preview=True)
            self._section.set_progress(0.0, f"Side output {task.context['size']} px")
        elif task.status == "failed":
            self.failed.emit("Side output failed", task.error)
        self.finished.emit(task.status)

    # ------------------------------------------------------------------ faces on the canvas
    def detect_faces(self) -> None:
        """Outline the photo's faces (detected once per photo, on a worker)."""
        source, cache = self.document.source, self._photo_cache
        if source is None or not self.ready:
            return
        device = self._panel.options().device

        def task(job: Any) -> list[tuple[float, float, float, float]]:
            faces = cache.find_faces(source.pixels, device)
            return [(float(f.box[0]), float(f.box[1]), float(f.box[2]), float(f.box[3]))
                    for f in faces]

        submitted = self._faces_runner.submit(task, "faces")
        submitted.context.update(token=self.document.token)

    @Slot(object)
    def _on_faces_found(self, task: Task) -> None:
        if task.context.get("token") != self.document.token or not task.ok:
            return
        self._section.settings.set_faces_found(len(task.result))
        self.document.set_faces(task.result)  # the outlines follow (show_faces)
        self.faces_shown.emit(len(task.result))

    @Slot()
    def show_faces(self) -> None:
        """The face outlines, in the Faces tab only, drawn over the picture on show."""
        source = self.document.source
        if self._panel.mode() != "restore" or source is None:
            self._canvas.faces.set([], set())
            return
        scale = self._canvas.content_size().width() / max(1, source.width)
        boxes = [QRectF(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale)
                 for x0, y0, x1, y1 in self.document.face_boxes]
        self._canvas.faces.set(boxes, self._section.settings.face_selection(len(boxes)))

    @Slot(int)
    def _on_face_clicked(self, index: int) -> None:
        """Include or exclude one face: the selection is what the next restore restores."""
        chosen = self._section.settings.face_selection(len(self.document.face_boxes))
        chosen ^= {index}
        self._section.settings.set_face_selection(sorted(chosen))
        self.show_faces()

    # ------------------------------------------------------------------ the brush
    @Slot()
    def sync_tool(self) -> None:
        """In the Faces tab the canvas brush paints the bias maps."""
        tools = self._section.tools
        tool = tools.tool()
        self._canvas.set_tool(FACE_TOOLS.get(tool, ""), tools.brush.size(), tools.brush.hardness())
        self._canvas.brushes.show(set(FACE_TOOLS.values()) if tool else set())

    def on_stroke(self, tool: str) -> None:
        """A stroke on a face bias map: render it now."""
        if tool in FACE_TOOLS.values():
            self.preview()

    @Slot()
    def clear_brush(self, preview: bool = True) -> None:
        painted = any(self._canvas.brushes.mask(name) is not None for name in FACE_TOOLS.values())
        for name in FACE_TOOLS.values():
            self._canvas.brushes.clear(name)
        if preview and painted:
            self.preview()


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
