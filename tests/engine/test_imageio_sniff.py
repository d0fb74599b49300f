"""`sniff`: what a file is, told from its content, cheaply (no pixel decoded)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from kintsugi.engine.imageio import sniff


def _photo() -> PILImage.Image:
    rng = np.random.default_rng(0)
    return PILImage.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("fmt", "wrong_name"),
    [
        ("PNG", "x.pbm"),
        ("JPEG", "x.png"),
        ("TIFF", "x.jpg"),
        ("WEBP", "x.gif"),
        ("BMP", "x.dib"),
        ("GIF", "x"),
    ],
)
def test_format_comes_from_content_not_name(tmp_path: Path, fmt: str, wrong_name: str) -> None:
    path = tmp_path / wrong_name
    _photo().save(path, fmt)
    assert sniff(path) == fmt


def test_camera_jpeg_with_extra_pictures_is_mpo(tmp_path: Path) -> None:
    path = tmp_path / "stereo.jpg"
    _photo().save(path, "MPO", save_all=True, append_images=[_photo()])
    assert sniff(path) == "MPO"


def test_formats_kintsugi_does_not_read_are_none(tmp_path: Path) -> None:
    ppm = tmp_path / "x.png"
    _photo().save(ppm, "PPM")  # Pillow reads PPM; Kintsugi does not
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert sniff(ppm) is None
    assert sniff(text) is None
    assert sniff(empty) is None
    assert sniff(tmp_path / "missing.png") is None
    assert sniff(tmp_path) is None


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def test_header_only_no_pixels_decoded(tmp_path: Path) -> None:
    # 100000 x 100000 pixels whose data is garbage: decoding would fail (or take forever,
    # or trip the bomb check); reading the header alone says "PNG" at once.
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"junk")
    path = tmp_path / "huge.png"
    path.write_bytes(data + _chunk(b"IEND", b""))
    assert sniff(path) == "PNG"
