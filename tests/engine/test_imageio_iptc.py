"""IPTC (caption, keywords, copyright) carried from input to output, JPEG and TIFF (issue 10).

Files are made the way Photoshop, Lightroom and exiftool store IPTC (a JPEG's APP13
Photoshop resource 0x0404; a TIFF's tag 33723, typed LONG by Photoshop) and checked
with Pillow's own IPTC reader, not ours.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import IptcImagePlugin

from fixtures import make_images
from kintsugi.engine.imageio import open_image, save_image

tifffile = pytest.importorskip("tifffile")

CAPTION = "Grandma Rose at the lake, summer 1987 — Zoë's first swim"
KEYWORDS = ["family", "lake", "1987"]
COPYRIGHT = "© 1987 Rose Tanaka"


def _dataset(record: int, number: int, value: bytes) -> bytes:
    return struct.pack(">BBBH", 0x1C, record, number, len(value)) + value


def iptc_records() -> bytes:
    """IPTC-IIM as editors write it: UTF-8 declared, caption, keywords, copyright."""
    data = _dataset(1, 90, b"\x1b%G")  # coded character set: UTF-8
    data += _dataset(2, 0, b"\x00\x04")  # record version
    data += _dataset(2, 120, CAPTION.encode())
    for word in KEYWORDS:
        data += _dataset(2, 25, word.encode())
    return data + _dataset(2, 116, COPYRIGHT.encode())


def jpeg_with_iptc(path: Path, photo: np.ndarray) -> Path:
    PILImage.fromarray(photo).save(path, quality=95, exif=make_images.camera_exif(1))
    iptc = iptc_records()
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    resource += b"\x00" * (len(iptc) % 2)
    body = b"Photoshop 3.0\x00" + resource
    app13 = b"\xff\xed" + struct.pack(">H", len(body) + 2) + body
    data = path.read_bytes()
    path.write_bytes(data[:2] + app13 + data[2:])  # right after SOI
    return path


def tiff_with_iptc(path: Path, photo: np.ndarray, photoshop_longs: bool) -> Path:
    iptc = iptc_records()
    if photoshop_longs:  # Photoshop pads to 4 bytes and types the tag LONG
        iptc += b"\x00" * (-len(iptc) % 4)
        tag = (33723, 4, len(iptc) // 4, struct.unpack(f"<{len(iptc) // 4}I", iptc), True)
    else:
        tag = (33723, 7, len(iptc), iptc, True)  # UNDEFINED
    tifffile.imwrite(path, photo, photometric="rgb", extratags=[tag])
    return path


def check_iptc(path: Path) -> None:
    with PILImage.open(path) as im:
        info = IptcImagePlugin.getiptcinfo(im)
    assert info is not None, f"no IPTC in {path.name}"
    assert info[(2, 120)].decode() == CAPTION
    assert [k.decode() for k in info[(2, 25)]] == KEYWORDS
    assert info[(2, 116)].decode() == COPYRIGHT


@pytest.fixture
def photo(astronaut: np.ndarray) -> np.ndarray:
    return astronaut


def test_jpeg_to_jpeg_keeps_caption_keywords_copyright(tmp_path: Path, photo: np.ndarray) -> None:
    source = jpeg_with_iptc(tmp_path / "rose.jpg", photo)
    check_iptc(source)  # the fixture is what Pillow reads as IPTC
    image = open_image(source)
    out = save_image(image, tmp_path / "rose_x2.jpg")
    check_iptc(out)
    with PILImage.open(out) as im:  # EXIF and the rest still there beside it
        assert im.getexif()[make_images.MAKE] == "Nikon"
    before = image.to_uint(8).astype(int)
    assert np.abs(open_image(out).to_uint(8).astype(int) - before).mean() < 3


@pytest.mark.parametrize("photoshop_longs", [False, True])
def test_tiff_to_tiff_keeps_caption_keywords_copyright(
    tmp_path: Path, photo: np.ndarray, photoshop_longs: bool
) -> None:
    source = tiff_with_iptc(tmp_path / "rose.tif", photo, photoshop_longs)
    out = save_image(open_image(source), tmp_path / "rose_x2.tif")
    check_iptc(out)
    assert np.array_equal(open_image(out).to_uint(8), photo)


def test_iptc_crosses_between_jpeg_and_tiff(tmp_path: Path, photo: np.ndarray) -> None:
    from_jpeg = open_image(jpeg_with_iptc(tmp_path / "a.jpg", photo))
    check_iptc(save_image(from_jpeg, tmp_path / "a.tif"))
    from_tiff = open_image(tiff_with_iptc(tmp_path / "b.tif", photo, True))
    check_iptc(save_image(from_tiff, tmp_path / "b.jpg"))


def test_tiff_iptc_is_written_once_not_copied_as_exif_too(
    tmp_path: Path, photo: np.ndarray
) -> None:
    out = save_image(open_image(tiff_with_iptc(tmp_path / "r.tif", photo, True)), tmp_path / "o.jpg")
    with PILImage.open(out) as im:
        assert 33723 not in im.getexif()


def test_caption_survives_a_jpeg_upscale(tmp_path: Path, photo: np.ndarray) -> None:
    from kintsugi.cli import main

    source = jpeg_with_iptc(tmp_path / "rose.jpg", photo)
    assert main(["upscale", str(source), "--model", "waifu2x-photo-x2"]) == 0
    check_iptc(tmp_path / "rose_x2.jpg")
