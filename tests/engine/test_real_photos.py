"""Real degraded photos from the `realesrgan` 0.3.0 sdist (BSD-3): an old two-face photo, a
group of children with alpha, a 16-bit RGBA tree. Fetched by `make packages`; skipped without.
"""

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

import kintsugi
from kintsugi.engine import facepaste as fp
from kintsugi.engine.restore import find_faces

pytestmark = pytest.mark.reference

SDIST = Path(os.environ.get("KINTSUGI_PACKAGE_CACHE", "/work/cache")) / "realesrgan-0.3.0.tar.gz"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    if not SDIST.is_file():
        pytest.skip(f"{SDIST.name} not in KINTSUGI_PACKAGE_CACHE")
    folder = tmp_path_factory.mktemp("realesrgan")
    with tarfile.open(SDIST) as tar:
        members = [m for m in tar.getmembers() if "/inputs/" in m.name and m.isfile()]
        for member in members:
            member.name = Path(member.name).name
        tar.extractall(folder, members=members, filter="data")
    return folder


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize(("name", "count"), [("00017_gray.png", 2), ("children-alpha.png", 5)])
def test_identity_round_trip_on_real_group_photos(inputs, name, count):
    image = kintsugi.open_image(inputs / name)
    rgb = np.ascontiguousarray(np.repeat(image.pixels, 3, axis=2) if image.is_gray else image.pixels)
    faces = find_faces(rgb)
    assert len(faces) == count
    canvas = rgb.copy()
    for place in fp.place_faces(list(enumerate(fp.order_faces(faces))), 512):
        crop = fp.align_face(rgb, place)  # the identity "restorer"
        fp.paste_face(canvas, crop, place.matrix, color_match=False)
    changed = np.abs(canvas - rgb).max(axis=2) > 0
    assert changed.mean() > 0.05  # the faces really were pasted back
    assert psnr(canvas, rgb) >= 40
    assert psnr(canvas[changed], rgb[changed]) >= 40


def test_upscale_keeps_alpha_and_16_bits_of_real_files(inputs, tmp_path):
    for name, bits in (("children-alpha.png", 8), ("tree_alpha_16bit.png", 16)):
        source = kintsugi.open_image(inputs / name)
        assert source.alpha is not None and source.bit_depth == bits
        out = kintsugi.upscale(source, "waifu2x-photo-x2", device="cpu")
        back = kintsugi.open_image(kintsugi.save_image(out, tmp_path / name))
        assert back.bit_depth == bits and back.alpha is not None
        assert back.alpha.shape == (source.height * 2, source.width * 2)
        shrunk = back.alpha.reshape(source.height, 2, source.width, 2).mean(axis=(1, 3))
        assert np.abs(shrunk - source.alpha).mean() < 0.02
