"""Root test configuration: offscreen Qt, seeded RNGs, device from KINTSUGI_TEST_DEVICE."""

from __future__ import annotations

import os
import random

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)


@pytest.fixture
def test_device() -> str:
    return os.environ.get("KINTSUGI_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session")
def astronaut_full() -> np.ndarray:
    """A real portrait photo (scikit-image, BSD-3), uint8 RGB 512x512."""
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


@pytest.fixture(scope="session")
def coffee_full() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.coffee()


def pytest_terminal_summary(terminalreporter) -> None:
    """CI's wall time, printed just above pytest's own closing summary line."""
    start = os.environ.get("KINTSUGI_CI_START")
    if start:
        import time

        minutes = (time.time() - float(start)) / 60
        terminalreporter.write_line(f"CI wall time so far (setup, demo, linters, tests): {minutes:.1f} min")
