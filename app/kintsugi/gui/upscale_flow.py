"""The Upscale tab's run: the whole photo through the chosen upscaler."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from kintsugi.gui.document import Document
from kintsugi.gui.history import ResultEntry
from kintsugi.gui.models import ModelCache
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.runs import Made, Output, RunFlow, RunGate


class UpscaleFlow(RunFlow):
    kind = "upscale"
    verb = "Upscaling"
    failed_title = "Upscale failed"

    made = Signal(object, object)  # the Output and its history entry: alternatives follow

    def __init__(self, document: Document, panel: SidePanel, models: ModelCache, gate: RunGate,
                 parent: QObject | None = None) -> None:
        super().__init__(document, panel.run, gate, parent)
        self._panel = panel
        self._models = models
        self.ready = False  # the model list is in
        self.names: dict[str, str] = {}  # the upscalers' names by id: the result line uses them
        panel.upscale_requested.connect(self.start)

    @Slot()
    def start(self) -> None:
        if self.document.source is None or not self.ready:
            return
        opts = self._panel.options()
        if not opts.model_id:
            return
        source, cache = self.document.input_image(), self._models
        name = self.names.get(opts.model_id, opts.model_id)

        def body(job: Any) -> Made:
            import kintsugi

            job.set_progress(0.0, "Loading the model…")
            model = cache.get(opts.model_id, opts.device)
            job.check()
            out = kintsugi.upscale(source, model, scale=opts.scale,
                                   consistency=opts.consistency, tile=opts.tile,
                                   job=job.sub(0.0, 0.95))
            if opts.dpi:
                out = dataclasses.replace(out, metadata=dataclasses.replace(
                    out.metadata, dpi=(opts.dpi, opts.dpi)))
            job.set_progress(0.96, "Measuring invented detail…")
            scale = out.width // source.width
            provenance = kintsugi.upscale_note(model.info.id, scale, opts.consistency)
            lock = " · consistency lock" if opts.consistency else ""
            return Made(out, opts.model_id, provenance, name + lock, opts)

        self.run(body)

    def accepted(self, out: Output, entry: ResultEntry) -> None:
        self.made.emit(out, entry)
