"""Fixtures for engine tests: small real photos written to tmp_path with real metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from fixtures import make_images  # noqa: E402

# skimage is imported lazily (make_images.photo), so the other engine tests never need it.


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    pytest.importorskip("skimage")
    return make_images.photo("astronaut", 48, 64)


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    pytest.importorskip("skimage")
    return make_images.photo("coffee", 40, 56)


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    pytest.importorskip("skimage")
    return make_images.photo("chelsea", 36, 52)


@pytest.fixture(scope="session")
def srgb_icc() -> bytes:
    return make_images.srgb_icc()


@pytest.fixture(scope="session")
def xmp_packet() -> bytes:
    return make_images.XMP_PACKET


@pytest.fixture
def camera_jpeg(tmp_path: Path, astronaut: np.ndarray, srgb_icc: bytes, xmp_packet: bytes) -> Path:
    """A JPEG as a camera + editor leave it: EXIF, GPS, ICC, XMP, 300 dpi, a comment."""
    path = tmp_path / "camera.jpg"
    PILImage.fromarray(astronaut).save(
        path,
        quality=95,
        subsampling=0,
        exif=make_images.camera_exif(orientation=1),
        icc_profile=srgb_icc,
        xmp=xmp_packet,
        dpi=(300, 300),
        comment=b"scanned 2024",
    )
    return path


@pytest.fixture
def rgb16() -> np.ndarray:
    """16-bit RGB values that 8-bit storage cannot hold (low byte is not zero)."""
    pytest.importorskip("skimage")
    base = make_images.photo("coffee", 24, 40).astype(np.uint16) * 257
    noise = np.random.default_rng(7).integers(0, 200, base.shape, dtype=np.uint16)
    return base - noise.clip(0, base)
