"""Photos for training tests: small crops of scikit-image's photos (BSD-3-Clause)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _write(folder: Path, names: tuple[str, ...], side: int) -> Path:
    skimage_data = pytest.importorskip("skimage.data")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        image = np.asarray(getattr(skimage_data, name)())
        h, w = image.shape[:2]
        top, left = (h - side) // 2, (w - side) // 2
        Image.fromarray(image[top:top + side, left:left + side]).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Four real photos, 64 px: three to train on, one held out."""
    return _write(tmp_path / "photos", ("astronaut", "chelsea", "coffee", "rocket"), 64)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks gain nothing from threads, and on a loaded machine OpenMP threads that
    wait for each other can make a step 50x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
