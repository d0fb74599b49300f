"""The Heal tab's run: the painted region of the picture on show, healed."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot

from kintsugi.gui.canvas import CompareCanvas
from kintsugi.gui.document import Document
from kintsugi.gui.history import ResultEntry
from kintsugi.gui.models import ModelCache
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.runs import Made, Output, RunFlow, RunGate


class HealFlow(RunFlow):
    kind = "heal"
    verb = "Healing"
    failed_title = "Heal failed"

    def __init__(self, document: Document, panel: SidePanel, canvas: CompareCanvas,
                 models: ModelCache, gate: RunGate, parent: QObject | None = None) -> None:
        super().__init__(document, panel.heal.run, gate, parent)
        self._panel = panel
        self._canvas = canvas
        self._models = models
        self.ready = False  # the model list is in
        panel.heal.heal_requested.connect(self.start)
        panel.heal.clear_requested.connect(lambda: canvas.brushes.clear("heal"))

    @Slot()
    def start(self) -> None:
        """Heal the painted region of the picture on show (the result, else the photo)."""
        if self.document.source is None or not self.ready:
            return
        mask = self._canvas.brushes.mask("heal")
        if mask is None:
            self.controls.set_progress(0.0, "Paint over the region to heal first")
            return
        entry = self.document.current()
        image = entry.image if entry is not None else self.document.source
        base = entry.provenance if entry is not None else {}
        model_id = entry.model_id if entry is not None else "heal"
        opts = self._panel.heal.options(self._panel.options().device)
        models = self._models

        def body(job: Any) -> Made:
            import kintsugi

            # The window's model cache: a second heal does not load the network again.
            healer = models.get(kintsugi.default_healer(), opts.device)
            feather = kintsugi.DEFAULT_FEATHER
            healed = kintsugi.heal(image, mask, model=healer, factor=opts.factor, feather=feather,
                                   job=job, device=opts.device)
            provenance = kintsugi.heal_note(healer.info.id, opts.factor, feather, base)
            return Made(healed, model_id, provenance, opts.describe(), opts)

        self.run(body)

    def accepted(self, out: Output, entry: ResultEntry) -> None:
        # The stroke is used up, but kept with the heal: undo brings it back, so another
        # factor can be tried without painting again.
        entry.heal_map = self._canvas.brushes.take("heal")

    @Slot()
    def undo(self) -> None:
        """Undo; undoing a heal shows its painted stroke again."""
        undone = self.document.current()
        self.document.undo()
        if undone is not None:
            self._canvas.brushes.put("heal", undone.heal_map)

    @Slot()
    def redo(self) -> None:
        self.document.redo()
        entry = self.document.current()
        if entry is not None and entry.heal_map is not None:
            self._canvas.brushes.clear("heal")  # that stroke is healed again
