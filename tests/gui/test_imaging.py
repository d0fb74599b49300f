"""numpy <-> Qt image conversions and the deviation heat colours."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from kintsugi.gui.imaging import (
    MIN_FULL_SCALE,
    deviation_full_scale,
    display_array,
    heat_rgba,
    qimage_to_array,
    to_qimage,
)

pytestmark = pytest.mark.gui


def test_display_array_rounds_and_keeps_gray_and_alpha() -> None:
    gray = np.array([[[0.0], [1.0]], [[0.5], [0.2]]], np.float32)
    assert display_array(gray).tolist() == [[0, 255], [128, 51]]
    rgb = np.full((2, 2, 3), 0.25, np.float32)
    alpha = np.array([[0.0, 1.0], [0.5, 1.0]], np.float32)
    out = display_array(rgb, alpha)
    assert out.shape == (2, 2, 4) and out[0, 0].tolist() == [64, 64, 64, 0]
    assert out[1, 0, 3] == 128


def test_qimage_round_trip_keeps_pixels_and_odd_widths() -> None:
    rng = np.random.default_rng(1)
    for channels in (3, 4):
        arr = rng.integers(0, 256, (5, 7, channels), dtype=np.uint8)  # 7*3 = 21: padded rows
        image = to_qimage(arr.copy())  # the QImage must own its pixels: the copy is dropped
        rgb, alpha = qimage_to_array(image)
        back = rgb if alpha is None else np.dstack([rgb, alpha])
        assert np.array_equal(np.rint(back * 255).astype(np.uint8), arr)
    gray = to_qimage(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert gray.format() == QImage.Format.Format_Grayscale8 and gray.pixelColor(3, 2).red() == 11


def test_heat_grows_warmer_and_more_opaque_with_deviation() -> None:
    dev = np.linspace(0, 0.3, 7, dtype=np.float32)[None, :]
    heat = heat_rgba(dev, 0.3)[0]
    assert heat[0, 3] == 0  # faithful: fully clear
    assert all(np.diff(heat[:, 3].astype(int)) >= 0)  # opacity never drops
    assert all(np.diff(heat[:, 1].astype(int)) >= 0)  # red -> orange -> yellow
    assert heat[-1, 3] > 150


def test_full_scale_never_amplifies_a_nearly_faithful_result() -> None:
    quiet = np.full((100, 100), 0.001, np.float32)
    assert deviation_full_scale(quiet) == MIN_FULL_SCALE
    loud = np.random.default_rng(0).uniform(0, 0.4, (300, 300)).astype(np.float32)
    assert 0.38 < deviation_full_scale(loud) <= 0.4
