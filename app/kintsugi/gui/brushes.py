"""The canvas brush follows the tab: Heal paints the heal map, Upscale the mix maps (when
the result has alternatives), Faces the bias maps; a finished stroke goes to the flow
whose map it changed."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from kintsugi.gui.alt_flow import MIX_TOOLS, AltFlow
from kintsugi.gui.canvas import CompareCanvas
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.restore_flow import RestoreFlow


class BrushRouter(QObject):
    def __init__(self, canvas: CompareCanvas, panel: SidePanel, alternatives: AltFlow,
                 restore: RestoreFlow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._canvas = canvas
        self._panel = panel
        self._alternatives = alternatives
        self._restore = restore
        heal, alt, faces = panel.heal, panel.alternatives, panel.restore
        for changed in (heal.brush.changed, alt.tool_changed, alt.brush.changed,
                        faces.tool_changed, faces.tools.brush.changed):
            changed.connect(self.sync)
        canvas.stroke_finished.connect(self._on_stroke)

    @Slot()
    def sync(self) -> None:
        mode, canvas = self._panel.mode(), self._canvas
        if mode == "heal":
            brush = self._panel.heal.brush
            canvas.set_tool("heal", brush.size(), brush.hardness())
            canvas.brushes.show({"heal"})
        elif mode == "upscale":
            alt = self._panel.alternatives
            tool = alt.tool() if alt.isVisible() else ""
            canvas.set_tool(tool, alt.brush.size(), alt.brush.hardness())
            canvas.brushes.show(set(MIX_TOOLS) if tool else set())
        else:
            self._restore.sync_tool()

    @Slot(str)
    def _on_stroke(self, tool: str) -> None:
        self._restore.on_stroke(tool)
        self._alternatives.on_stroke(tool)
