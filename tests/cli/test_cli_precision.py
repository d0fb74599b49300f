"""`upscale --precision` changes how the network computes, and a weights file given by path
upscales at its true scale."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image as PILImage

import kintsugi
from kintsugi.cli import main
from kintsugi.resources import models_dir

WAIFU2X = "waifu2x-photo-x2"


@pytest.fixture
def photo(tmp_path, astronaut_full):
    path = tmp_path / "portrait.png"
    PILImage.fromarray(astronaut_full[200:220, 190:214]).save(path)
    return path


def _upscaled(photo, tmp_path, *extra: str) -> np.ndarray:
    target = tmp_path / f"out{len(list(tmp_path.iterdir()))}.png"
    assert main(["upscale", str(photo), "-o", str(target), "--bit-depth", "16", *extra]) == 0
    return kintsugi.open_image(target).pixels


def test_precision_option_changes_the_computation_within_48_db(photo, tmp_path):
    fp32 = _upscaled(photo, tmp_path, "--model", WAIFU2X, "--precision", "fp32")
    bf16 = _upscaled(photo, tmp_path, "--model", WAIFU2X, "--precision", "bf16")
    assert not np.array_equal(fp32, bf16)  # bf16 really ran
    mse = float(np.mean((fp32.astype(np.float64) - bf16) ** 2))
    assert 10 * np.log10(1.0 / mse) >= 48
    np.testing.assert_array_equal(fp32, _upscaled(photo, tmp_path, "--model", WAIFU2X, "--precision", "fp32"))


def test_a_waifu2x_file_by_path_writes_the_whole_x2_result(photo, tmp_path):
    """It wrote the top-left quarter of the x2 result, exit 0, provenance x1."""
    weights = tmp_path / "weights" / "waifu2x_photo.safetensors"
    weights.parent.mkdir()
    shutil.copy(models_dir() / f"{WAIFU2X}.safetensors", weights)
    target = tmp_path / "by-path.png"
    assert main(["upscale", str(photo), "-o", str(target), "--model", str(weights),
                 "--precision", "fp32", "--bit-depth", "16"]) == 0
    shipped = _upscaled(photo, tmp_path, "--model", WAIFU2X, "--precision", "fp32")
    by_path = kintsugi.open_image(target)
    assert (by_path.width, by_path.height) == (48, 40)
    np.testing.assert_array_equal(by_path.pixels, shipped)
    assert kintsugi.read_provenance(target)["scale"] == "2"
