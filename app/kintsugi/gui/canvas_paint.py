"""How the canvas draws each of its parts: the pictures, and what goes over them (the split
divider, the "Original"/"Result" badges, the empty-canvas hint).

Plain functions of what to draw and where; the canvas decides when and in which pane.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPixmap

from kintsugi.gui.imaging import Pyramid


def paint_layer(painter: QPainter, layer: Pyramid, clip: QRect, pane: QRect, origin: QPointF,
                zoom: float, content: QSize, soft: bool = False) -> None:
    """Draw the visible part of ``layer``, stretched to the content size by the painter's
    transform, inside ``clip``, with the content's top-left corner at ``origin``; ``soft``
    filters it bilinearly at any zoom (a map, not a photo)."""
    # Screen px per layer px: the original is smaller than the result by the scale.
    sx = zoom * content.width() / layer.size.width()
    sy = zoom * content.height() / layer.size.height()
    level, factor = layer.level_for(min(sx, sy))
    sx, sy = sx / factor, sy / factor  # screen px per px of the chosen level
    # The pane's visible rectangle in level pixels, widened a little so bilinear
    # filtering at the edge samples real neighbours. It is taken from the pane, not the
    # clip, so a layer is drawn identically whatever part of it the divider reveals.
    left = math.floor((pane.left() - origin.x()) / sx) - 2
    top = math.floor((pane.top() - origin.y()) / sy) - 2
    right = math.ceil((pane.right() + 1 - origin.x()) / sx) + 2
    bottom = math.ceil((pane.bottom() + 1 - origin.y()) / sy) + 2
    source = QRect(left, top, right - left, bottom - top).intersected(level.rect())
    if source.isEmpty():
        return
    painter.save()
    painter.setClipRect(clip)
    # An original smaller than the result is stretched to its size, and the heat overlay
    # is a soft map: both bilinear. Zoomed in, pictures at the result's size (the
    # result; the original beside a same-size heal) show their true pixels.
    stretched = layer.size != content
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform,
                          soft or stretched or min(sx, sy) < 1.0)
    painter.translate(origin)
    painter.scale(sx, sy)
    painter.drawImage(QRectF(source), level, QRectF(source))
    painter.restore()


def paint_checker(painter: QPainter, tile: QPixmap, origin: QPointF, zoom: float,
                  content: QSize, clip: QRect) -> None:
    """A checkerboard where the picture is, so transparency is visible as such."""
    area = QRectF(origin, QSizeF(content.width() * zoom, content.height() * zoom))
    painter.fillRect(area.toAlignedRect().intersected(clip), tile)


def paint_divider(painter: QPainter, x: int, height: int) -> None:
    """The split line at `x`, with a round handle carrying two arrows halfway down."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(QPen(QColor(0, 0, 0, 110), 4))
    painter.drawLine(x, 0, x, height)
    painter.setPen(QPen(QColor(255, 255, 255, 235), 2))
    painter.drawLine(x, 0, x, height)
    cy = height / 2.0
    painter.setBrush(QColor(255, 255, 255, 240))
    painter.setPen(QPen(QColor(0, 0, 0, 120), 1))
    painter.drawEllipse(QPointF(x, cy), 15, 15)
    painter.setBrush(QColor(40, 40, 40))
    painter.setPen(Qt.PenStyle.NoPen)
    for direction in (-1, 1):
        arrow = QPainterPath()
        tip = QPointF(x + direction * 10, cy)
        arrow.moveTo(tip)
        arrow.lineTo(x + direction * 4, cy - 5)
        arrow.lineTo(x + direction * 4, cy + 5)
        arrow.closeSubpath()
        painter.drawPath(arrow)
    painter.restore()


def paint_badge(painter: QPainter, font: QFont, area: QRect, text: str,
                align: Qt.AlignmentFlag) -> None:
    """A rounded label in the top corner of `area` (left or right by `align`)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    font = QFont(font)
    font.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
    font.setBold(True)
    painter.setFont(font)
    metrics = painter.fontMetrics()
    width = metrics.horizontalAdvance(text) + 16
    height = metrics.height() + 6
    left = area.left() + 10 if align == Qt.AlignmentFlag.AlignLeft else area.right() - 10 - width
    chip = QRectF(left, area.top() + 10, width, height)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 150))
    painter.drawRoundedRect(chip, height / 2, height / 2)
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def paint_placeholder(painter: QPainter, area: QRect, font: QFont, dark: bool, text: str
                      ) -> None:
    """The empty canvas: a dashed drop zone and what to do to fill it."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    colour = QColor("#8a9099") if dark else QColor("#5d636b")
    box = QRectF(area).adjusted(40, 40, -40, -40)
    if box.width() > 80 and box.height() > 80:
        pen = QPen(colour, 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(box, 18, 18)
    painter.setPen(colour)
    font = QFont(font)
    font.setPointSizeF(font.pointSizeF() * 1.25)
    painter.setFont(font)
    painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    painter.restore()
