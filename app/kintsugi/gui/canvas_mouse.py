"""What the mouse does on the canvas: a left drag that starts on the split divider moves
it, else paints with the brush when one is chosen, else pans; a middle or right drag
always pans; a press and release on the spot over a face outline picks that face."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent

if TYPE_CHECKING:  # the canvas owns its mouse and imports this module
    from kintsugi.gui.canvas import CompareCanvas

_CLICK_SLOP = 4  # a press and release this close is a click (a face), not a pan
_BUTTONS = (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton)


class CanvasMouse:
    """The drag under way on one canvas, and the cursor that tells what a drag would do."""

    def __init__(self, canvas: CompareCanvas) -> None:
        self._canvas = canvas
        self._drag: str | None = None  # "pan" | "split" | "paint"
        self._last = QPointF()
        self._pressed_at = QPointF()

    def press(self, event: QMouseEvent) -> bool:
        """Start a drag; False for a button that drags nothing."""
        canvas, button, pos = self._canvas, event.button(), event.position()
        if button not in _BUTTONS:
            return False
        self._pressed_at = self._last = pos
        if button == Qt.MouseButton.LeftButton and canvas.on_divider(pos):
            self._drag = "split"
        elif button == Qt.MouseButton.LeftButton and canvas.brushes.tool:
            self._drag = "paint"
            canvas.brushes.begin_stroke(canvas.widget_to_content(pos))
        else:  # left drag without a brush, or middle/right drag with one: pan
            self._drag = "pan"
            canvas.setCursor(Qt.CursorShape.ClosedHandCursor)
        return True

    def move(self, event: QMouseEvent) -> None:
        canvas, pos = self._canvas, event.position()
        if self._drag == "split":
            canvas.set_split(pos.x() / max(canvas.width(), 1))
        elif self._drag == "paint":
            canvas.brushes.stroke(canvas.brushes.tool, [canvas.widget_to_content(self._last),
                                                        canvas.widget_to_content(pos)])
        elif self._drag == "pan":
            delta = pos - self._last
            canvas.pan_by(delta.x(), delta.y())
        elif canvas.on_divider(pos):
            canvas.setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self.rest_cursor()
        self._last = pos

    def release(self, event: QMouseEvent) -> None:
        canvas, pos = self._canvas, event.position()
        drag, self._drag = self._drag, None
        if drag == "paint":
            canvas.brushes.end_stroke()
            canvas.stroke_finished.emit(canvas.brushes.tool)
        elif drag == "pan" and (pos - self._pressed_at).manhattanLength() <= _CLICK_SLOP:
            face = canvas.faces.at(canvas.widget_to_content(pos))
            if face is not None:
                canvas.face_clicked.emit(face)
        self.rest_cursor()

    def rest_cursor(self) -> None:
        """The cursor when no drag is under way: a brush paints, else a drag pans."""
        self._canvas.setCursor(Qt.CursorShape.CrossCursor if self._canvas.brushes.tool else
                               Qt.CursorShape.OpenHandCursor)
