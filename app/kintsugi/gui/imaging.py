"""Pixels between the engine's float arrays and Qt's images.

The numpy halves (``display_array``, ``heat_rgba``) are pure numpy so the worker thread
can do the heavy per-pixel work; ``to_qimage`` and ``Pyramid`` build Qt objects and are
called on the GUI thread only.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap

# Past this many pixels per side the pyramid stops halving: the smallest level only has to
# be no bigger than a screen.
_MIN_LEVEL_SIDE = 512

# A deviation this large (in 0..1 pixel units) is drawn at full heat even when the rest of
# the map is quieter, so a nearly faithful result does not get its noise amplified.
MIN_FULL_SCALE = 0.02


def display_array(pixels: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Float [0,1] HxWxC (C=1 or 3) plus optional alpha -> contiguous uint8 for QImage."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1 and alpha is None:
        return _to_bytes(arr[:, :, 0])
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if alpha is not None:
        arr = np.concatenate([arr[:, :, :3], np.asarray(alpha, np.float32)[:, :, None]], axis=2)
    return _to_bytes(arr)


def _to_bytes(arr: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> rounded, saturated uint8 of the same shape. OpenCV's conversion is
    ~4x numpy's three passes and releases the GIL: 0.1 s instead of 0.5 s for a 16 MP
    result, on the way to the screen after every slider move."""
    import cv2

    flat = np.ascontiguousarray(arr, dtype=np.float32).reshape(arr.shape[0], -1)
    # A number is a scalar to OpenCV (one channel here, so it scales every value).
    scaled = cv2.multiply(flat, 255.0, dtype=cv2.CV_8U)
    return scaled.reshape(arr.shape)


def to_qimage(arr: np.ndarray) -> QImage:
    """uint8 HxW / HxWx3 / HxWx4 -> a QImage owning its own copy of the pixels."""
    arr = np.ascontiguousarray(arr)
    height, width = arr.shape[:2]
    if arr.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif arr.shape[2] == 3:
        fmt = QImage.Format.Format_RGB888
    elif arr.shape[2] == 4:
        fmt = QImage.Format.Format_RGBA8888
    else:
        raise ValueError(f"cannot display an array of shape {arr.shape}")
    image = QImage(arr.data, width, height, arr.strides[0], fmt)
    return image.copy()  # detach from the numpy buffer, which may be freed


def _format(arr: np.ndarray) -> QImage.Format:
    if arr.ndim == 2:
        return QImage.Format.Format_Grayscale8
    if arr.shape[2] == 3:
        return QImage.Format.Format_RGB888
    if arr.shape[2] == 4:
        return QImage.Format.Format_RGBA8888
    raise ValueError(f"cannot display an array of shape {arr.shape}")


def qimage_view(arr: np.ndarray) -> QImage:
    """A QImage over `arr`'s own pixels, no copy: the caller keeps `arr` alive as long as
    the image (Pyramid does). QImage's own copy holds the GIL (~0.1 s for 16 MP), which
    would stall the GUI thread while a worker builds a big result."""
    height, width = arr.shape[:2]
    return QImage(arr.data, width, height, arr.strides[0], _format(arr))


def qimage_to_array(image: QImage) -> tuple[np.ndarray, np.ndarray | None]:
    """A QImage (e.g. from the clipboard) -> float32 HxWx3 in [0,1] and alpha or None."""
    has_alpha = image.hasAlphaChannel()
    fmt = QImage.Format.Format_RGBA8888 if has_alpha else QImage.Format.Format_RGB888
    converted = image.convertToFormat(fmt)
    channels = 4 if has_alpha else 3
    width, height = converted.width(), converted.height()
    buffer = np.frombuffer(converted.constBits(), dtype=np.uint8)
    rows = buffer.reshape(height, converted.bytesPerLine())[:, : width * channels]
    arr = rows.reshape(height, width, channels).astype(np.float32) / 255.0
    if has_alpha:
        return np.ascontiguousarray(arr[:, :, :3]), np.ascontiguousarray(arr[:, :, 3])
    return arr, None


def deviation_full_scale(dev: np.ndarray) -> float:
    """The deviation drawn at full heat: a high percentile, sampled to stay cheap."""
    step = max(1, int(np.sqrt(dev.size / 250_000)))
    sample = dev[::step, ::step]
    return float(max(np.percentile(sample, 99.5), MIN_FULL_SCALE))


def heat_rgba(dev: np.ndarray, full_scale: float) -> np.ndarray:
    """Deviation map -> translucent heat overlay: clear where faithful, red to yellow where
    detail was invented, opacity growing with the deviation."""
    t = np.clip(np.asarray(dev, np.float32) / max(full_scale, 1e-6), 0.0, 1.0)
    out = np.empty(t.shape + (4,), np.uint8)
    # Two-segment ramp: crimson (t=0) -> orange (0.5) -> yellow (1).
    lo = np.clip(t * 2.0, 0.0, 1.0)
    hi = np.clip(t * 2.0 - 1.0, 0.0, 1.0)
    out[..., 0] = (200 + 55 * lo).astype(np.uint8)
    out[..., 1] = (20 + 70 * lo + 150 * hi).astype(np.uint8)
    out[..., 2] = (60 - 60 * lo + 70 * hi).astype(np.uint8)
    alpha = np.clip((t - 0.04) / 0.5, 0.0, 1.0) * 180.0
    out[..., 3] = alpha.astype(np.uint8)
    return out


class Pyramid:
    """An image and its successive halvings, built once per image.

    Painting a 20+ megapixel image zoomed out would otherwise resample the whole image on
    every paint; with the pyramid the painter picks the level just larger than the screen
    needs and draws only the visible part of it. Levels are QImages (drawn by the raster
    engine as fast as pixmaps), so a worker thread can build the pyramid of a big result
    and the GUI thread only swaps it in.
    """

    def __init__(self, image: QImage, size: QSize | None = None) -> None:
        """`size`: the full size `image` stands for, when it is a reduced draft of it."""
        self.size = QSize(size) if size is not None else QSize(image.width(), image.height())
        self.has_alpha = image.hasAlphaChannel()
        self.levels: list[QImage] = [image]
        self._arrays: list[np.ndarray] = []  # the pixels of views (from_array)
        current = image
        while min(current.width(), current.height()) > _MIN_LEVEL_SIDE:
            current = current.scaled(
                max(1, current.width() // 2),
                max(1, current.height() // 2),
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.levels.append(current)

    @classmethod
    def from_array(cls, arr: np.ndarray, size: QSize | None = None) -> Pyramid:
        """Built from uint8 display pixels with OpenCV (which releases the GIL, where
        QImage.scaled does not): safe and cheap for the GUI on a worker thread."""
        import cv2

        arrays = [np.ascontiguousarray(arr)]
        while min(arrays[-1].shape[:2]) > _MIN_LEVEL_SIDE:
            h, w = arrays[-1].shape[:2]
            half = cv2.resize(arrays[-1], (max(1, w // 2), max(1, h // 2)),
                              interpolation=cv2.INTER_AREA)
            arrays.append(np.ascontiguousarray(half))
        pyramid = cls.__new__(cls)
        height, width = arr.shape[:2]
        pyramid.size = QSize(size) if size is not None else QSize(width, height)
        pyramid.has_alpha = arr.ndim == 3 and arr.shape[2] == 4
        pyramid._arrays = arrays
        pyramid.levels = [qimage_view(a) for a in arrays]
        return pyramid

    @property
    def image(self) -> QImage:
        return self.levels[0]

    def level_for(self, zoom: float) -> tuple[QImage, float]:
        """The level to draw at ``zoom`` screen px per full-size px, and its size factor."""
        index = 0
        while index + 1 < len(self.levels) and zoom * (2 ** (index + 1)) <= 1.0:
            index += 1
        level = self.levels[index]
        factor = level.width() / self.size.width()
        return level, factor


def checkerboard(dark: bool, cell: int = 8) -> QPixmap:
    """The tile drawn behind transparent pixels (GUI thread)."""
    tile = QImage(2 * cell, 2 * cell, QImage.Format.Format_RGB32)
    light, shade = (0x5a5d63, 0x46494e) if dark else (0xffffff, 0xcfd2d6)
    tile.fill(light)
    for y in range(2 * cell):
        for x in range(2 * cell):
            if (x // cell + y // cell) % 2:
                tile.setPixel(x, y, shade)
    return QPixmap.fromImage(tile)
