"""The alternatives of an upscale: the Mix partner model, the Detail and Mix sliders, the
realness/fidelity brush and the strip of thumbnails, all composed from one ``AltSession``.

After an upscale the partner model runs (first on the visible part when that is small, so
the Mix slider works within seconds), then the strip fills one thumbnail at a time on the
"alternatives" runner. Slider and brush changes go through the preview runner, where the
running composition finishes and only the newest waiting one survives; a big result gets a
screen-size draft on every change and its full-size composition once the value settles.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QSize, QTimer, Signal, Slot

from kintsugi import AltSession, Setting, brush_mix, mix_note, pair_for, strip_settings
from kintsugi.gui.canvas import CompareCanvas
from kintsugi.gui.document import Document
from kintsugi.gui.history import ResultEntry
from kintsugi.gui.imaging import Pyramid, display_array, to_qimage
from kintsugi.gui.models import ModelCache
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.runs import Made, Output, accept, finish
from kintsugi.gui.worker import Task, TaskRunner

THUMB_SIDE = 72
# The partner model first runs on the visible part when that is at most this share of the
# photo: the mix slider works there within seconds, the rest follows.
VIEW_FIRST_SHARE = 0.6
DRAFT_SIDE = 1024  # slider drafts of bigger results are composed at this size
SETTLE_MS = 250  # a slider still this long is composed at full size
MIX_TOOLS = ("realness", "fidelity")  # the canvas maps the mix brush paints


class AltFlow(QObject):
    """The alternatives of the upscale on show (see the module doc)."""

    started = Signal()  # a new upscale's alternatives are on show
    composed = Signal()  # an alternative (slider, strip, brush) is on screen, full size
    drafted = Signal()  # a screen-size draft of one is on screen (a slider is moving)
    partner_ready = Signal(bool)  # the mix partner arrived (True: for the whole photo)
    strip_filled = Signal()

    def __init__(self, document: Document, panel: SidePanel, canvas: CompareCanvas,
                 models: ModelCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._panel = panel
        self._box = panel.alternatives
        self._canvas = canvas
        self._models = models
        self.names: dict[str, str] = {}  # the installed upscalers' names by id
        self._strip: list[Setting] = []
        self.partner_runner = TaskRunner("alternatives", self)  # partner model, strip
        self.preview_runner = TaskRunner("preview", self)  # sliders and brush: newest wins
        self.partner_runner.finished.connect(self._on_partner_finished)
        self.preview_runner.finished.connect(self._on_preview_finished)
        self._settle_timer = QTimer(self)  # a slider value this old is composed at full size
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self.compose_full)
        self._box.settings_changed.connect(self.compose)
        self._box.strip_chosen.connect(self.choose_strip)
        self._box.clear_requested.connect(self.clear_brush)
        document.opened.connect(self._on_opened)

    def runners(self) -> list[TaskRunner]:
        return [self.partner_runner, self.preview_runner]

    def _on_opened(self) -> None:
        """Another photo: the partner, strip and compositions of the old one are not wanted."""
        self.partner_runner.cancel()
        self.preview_runner.cancel()

    # ------------------------------------------------------------------ a new upscale
    @Slot(object, object)
    def begin(self, out: Output, entry: ResultEntry) -> None:
        """A new upscale result: its alternatives session, the partner, then the strip."""
        made = out.made
        pair, note = pair_for(made.model_id, out.scale, self.names)
        session = AltSession(self.document.input_image(), made.image, made.model_id, out.scale,
                             pair, made.provenance)
        entry.alt, entry.setting = session, session.home()
        self.show(session)
        self.started.emit()
        self.clear_brush(compose=False)
        if pair is None:
            self._box.set_pair_available(False, note)
            self._fill_strip(session)
            return
        self._box.set_pair_available(False, f"Mix: computing {session.partner_id} for the other end…")
        self._submit_partner(session, self._visible_region(session))

    def show(self, session: AltSession | None, setting: Setting | None = None) -> None:
        """The sliders follow the result on show (hidden when it has no alternatives)."""
        self._box.setVisible(session is not None)
        if session is None:
            return
        setting = setting or session.start()
        self._box.set_values(setting.detail, setting.alpha, emit=False)
        if session.pair is not None and session.has_partner():
            self._box.set_pair_available(True, self._mix_note(session))

    def _visible_region(self, session: AltSession) -> tuple[int, int, int, int] | None:
        """The visible part of the photo in photo pixels, when it is small enough to be
        worth running first; None to run the whole photo at once."""
        canvas = self._canvas
        top_left = canvas.widget_to_content(canvas.rect().topLeft().toPointF())
        bottom_right = canvas.widget_to_content(canvas.rect().bottomRight().toPointF())
        s, source = session.scale, session.source
        x0, y0 = max(0, int(top_left.x() // s)), max(0, int(top_left.y() // s))
        x1 = min(source.width, int(bottom_right.x() // s) + 1)
        y1 = min(source.height, int(bottom_right.y() // s) + 1)
        area = max(0, x1 - x0) * max(0, y1 - y0)
        if area == 0 or area > VIEW_FIRST_SHARE * source.width * source.height:
            return None
        return x0, y0, x1, y1

    def _submit_partner(self, session: AltSession, region: tuple[int, int, int, int] | None
                        ) -> None:
        opts = self._panel.options()
        cache = self._models
        partner_id = session.partner_id
        assert partner_id is not None

        def task(job: Any) -> bool:
            import kintsugi
            from kintsugi import crop_region, paste_region

            model = cache.get(partner_id, opts.device)
            if region is None:
                full = kintsugi.upscale(session.source, model, scale=session.scale,
                                        consistency=opts.consistency, tile=opts.tile, job=job)
                session.set_partner(full, complete=True)
                return True
            crop, _rect, inner = crop_region(session.source, region)
            part = kintsugi.upscale(crop, model, scale=session.scale,
                                    consistency=opts.consistency, tile=opts.tile, job=job)
            session.set_partner(paste_region(session.first, part, region, inner, session.scale),
                                complete=False)
            return False

        submitted = self.partner_runner.submit(task, "partner")
        submitted.context.update(session=session, token=self.document.token)

    # ------------------------------------------------------------------ the strip
    def _fill_strip(self, session: AltSession) -> None:
        """The strip's thumbnails, one task each so they appear as they are ready."""
        self._strip = strip_settings(session.pair is not None and session.partner_complete())
        self._box.clear_strip("Computing alternatives…")
        self._submit_thumbnail(session, 0)

    def _submit_thumbnail(self, session: AltSession, index: int) -> None:
        setting = self._strip[index]

        def task(job: Any) -> np.ndarray:
            import cv2

            image = session.compose(setting)
            job.check()
            side = THUMB_SIDE / max(image.width, image.height)
            small = cv2.resize(image.pixels, (max(1, round(image.width * side)),
                                              max(1, round(image.height * side))),
                               interpolation=cv2.INTER_AREA)
            return display_array(small.reshape(small.shape[0], small.shape[1], -1))

        submitted = self.partner_runner.submit(task, "thumb")
        submitted.context.update(session=session, index=index, setting=setting,
                                 token=self.document.token)

    def _is_current(self, task: Task) -> bool:
        return (task.context.get("token") == self.document.token
                and task.context.get("session") is self.document.current_session())

    @Slot(object)
    def _on_partner_finished(self, task: Task) -> None:
        if not self._is_current(task):
            return
        session = task.context["session"]
        if task.status == "failed":
            self._box.set_pair_available(False, f"Mix unavailable: {task.error}")
            if task.tag == "partner":
                self._fill_strip(session)
        elif task.ok and task.tag == "partner":
            self._on_partner(session, complete=bool(task.result))
        elif task.ok:
            self._on_thumbnail(session, task)

    def _on_partner(self, session: AltSession, complete: bool) -> None:
        self._box.set_pair_available(True, self._mix_note(session))
        self.partner_ready.emit(complete)
        if self._box.alpha() != session.home().alpha or self.document.masks:
            self.compose()  # the user moved the slider meanwhile
        if complete:
            self._fill_strip(session)
        else:
            self._submit_partner(session, None)

    def _on_thumbnail(self, session: AltSession, task: Task) -> None:
        setting = task.context["setting"]
        self._box.add_alternative(to_qimage(task.result), setting.detail,
                                  setting.alpha if session.pair else None)
        index = task.context["index"] + 1
        if index < len(self._strip):
            self._submit_thumbnail(session, index)
        else:
            self._box.strip_note.setText("Click one to show it; Save writes the one on screen.")
            self.strip_filled.emit()

    @Slot(int)
    def choose_strip(self, index: int) -> None:
        if 0 <= index < len(self._strip):
            setting = self._strip[index]
            self.clear_brush(compose=False)
            self._box.set_values(setting.detail, setting.alpha)

    # ------------------------------------------------------------------ composing
    def _request(self, session: AltSession) -> tuple[Setting, np.ndarray | None]:
        paired = session.has_partner()
        setting = Setting(self._box.detail(), self._box.alpha() if paired else session.home().alpha)
        masks = self.document.masks
        mask = brush_mix(setting.alpha, masks.get("realness"), masks.get("fidelity")) if paired else None
        return setting, mask

    @Slot()
    def compose(self) -> None:
        """The sliders or brush changed: a draft of a big result at once, its full size
        once the value settles; small results are composed at full size right away."""
        session = self.document.current_session()
        if session is None:
            return
        if max(session.first.width, session.first.height) <= DRAFT_SIDE:
            self.compose_full()
            return
        setting, mask = self._request(session)
        full = QSize(session.first.width, session.first.height)

        def task(job: Any) -> Pyramid:
            image = session.draft(setting, mask, DRAFT_SIDE)
            job.check()
            return Pyramid.from_array(display_array(image.pixels, image.alpha), full)

        submitted = self.preview_runner.submit(task, "draft", cancel_running=False)
        submitted.context.update(token=self.document.token, session=session)
        self._settle_timer.start()

    @Slot()
    def compose_full(self) -> None:
        """The full-size alternative for the current sliders and brush: the result to keep."""
        session = self.document.current_session()
        if session is None:
            return
        setting, mask = self._request(session)
        heat = self._canvas.overlay_visible()
        source = session.source
        label = (f"{self.names.get(session.first_id, session.first_id)} · "
                 f"{setting.caption(session.pair is not None)}")

        def task(job: Any) -> Output:
            started = time.monotonic()
            image = session.compose(setting, mask)
            job.check()  # a newer setting is waiting: drop this one
            made = Made(image, session.first_id, session.provenance_for(setting, mask is not None),
                        label)
            return finish(source, made, time.monotonic() - started, heat=heat, job=job)

        submitted = self.preview_runner.submit(task, "compose", cancel_running=False)
        submitted.context.update(token=self.document.token, session=session, setting=setting)

    def _mix_note(self, session: AltSession) -> str:
        assert session.pair is not None
        return mix_note(session.pair, self.names, session.partner_complete())

    @Slot()
    def compose_with_map(self) -> None:
        """The deviation map was turned on: an alternative composed without it, again with it."""
        entry = self.document.current()
        if entry is not None and entry.heat is None and entry.alt is not None:
            self.compose_full()

    @Slot(object)
    def _on_preview_finished(self, task: Task) -> None:
        if not (task.ok and self._is_current(task)):
            return
        entry = self.document.current()
        if task.tag == "draft":
            self._canvas.set_after(task.result, entry.heat if entry is not None else None)
            self.drafted.emit()
            return
        kind = entry.kind if entry is not None else "upscale"
        accept(self.document, task.result, kind, replace=True, alt=task.context["session"],
               setting=task.context["setting"])
        self.composed.emit()

    # ------------------------------------------------------------------ the brush
    def on_stroke(self, tool: str) -> None:
        """A stroke on a mix map: read it once and compose with it."""
        if tool not in MIX_TOOLS:
            return
        mask = self._canvas.brushes.mask(tool)
        if mask is not None:
            self.document.masks[tool] = mask
        self.compose()

    @Slot()
    def clear_brush(self, compose: bool = True) -> None:
        had = bool(self.document.masks)
        self.document.masks.clear()
        for name in MIX_TOOLS:
            self._canvas.brushes.clear(name)
        if compose and had:
            self.compose()

