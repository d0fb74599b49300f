"""Image I/O: pixels, orientation, metadata, bit depth, alpha, errors, atomic writes."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageFile

from fixtures import make_images
from fixtures.make_images import (
    DATETIME_ORIGINAL,
    EXIF_IFD,
    GPS_IFD,
    GPS_LATITUDE,
    MAKE,
    MODEL,
    ORIENTATION,
    SOFTWARE,
)
from kintsugi.engine import atomic, imageio
from kintsugi.engine.errors import (
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    KintsugiError,
    UnsupportedFormatError,
)
from kintsugi.engine.imageio import Image, Metadata, open_image, read_provenance, save_image
from kintsugi.engine.imageio import read as imageio_read
from kintsugi.engine.imageio import write as imageio_write

OUT_EXT = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "WEBP": "webp"}
LOSSLESS = ("PNG", "TIFF")
PROVENANCE = {
    "software": "Kintsugi 0.1.0",
    "model": "realesrgan-x4plus",
    "scale": "4",
    "consistency": "on",
}


def as_uint8(image: Image) -> np.ndarray:
    arr = image.to_uint(8)
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def cv2_read(path: Path) -> np.ndarray:
    """Independent decoder for checking what we wrote (RGB order)."""
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert arr is not None
    if arr.ndim == 3:
        order = [2, 1, 0, 3] if arr.shape[2] == 4 else [2, 1, 0]
        arr = arr[:, :, order]
    return arr


# ----------------------------------------------------------------- Image and formats


def test_from_array_shapes_and_types() -> None:
    gray = Image.from_array(np.full((4, 5), 255, np.uint8))
    assert (gray.height, gray.width, gray.channels, gray.is_gray) == (4, 5, 1, True)
    assert gray.bit_depth == 8 and gray.pixels.dtype == np.float32 and gray.pixels.max() == 1.0
    rgba = Image.from_array(np.zeros((4, 5, 4), np.uint16))
    assert rgba.channels == 3 and rgba.alpha is not None and rgba.alpha.shape == (4, 5)
    assert rgba.bit_depth == 16
    gray_alpha = Image.from_array(np.zeros((4, 5, 2), np.uint8))
    assert gray_alpha.is_gray and gray_alpha.alpha is not None
    floats = Image.from_array(np.full((2, 3, 3), 1.5, np.float32), bit_depth=16)
    assert floats.pixels.max() == 1.0 and floats.bit_depth == 16
    with pytest.raises(ValueError):
        Image.from_array(np.zeros((4, 5, 5), np.uint8))


@pytest.mark.parametrize("depth, dtype", [(8, np.uint8), (16, np.uint16)])
def test_to_uint_round_trips_exactly(depth: int, dtype: type) -> None:
    top = 255 if depth == 8 else 65535
    arr = np.random.default_rng(1).integers(0, top + 1, (7, 9, 4)).astype(dtype)
    image = Image.from_array(arr)
    back = image.to_uint(depth)
    assert back.dtype == dtype and np.array_equal(back, arr)


def test_replace_shares_metadata_and_checks_alpha_size() -> None:
    meta = Metadata(
        icc_profile=b"x" * 200,
        exif=None,
        xmp=None,
        text={},
        source_format="PNG",
        source_path=None,
        dpi=(72.0, 72.0),
    )
    image = Image(np.zeros((4, 4, 3), np.float32), np.ones((4, 4), np.float32), meta, 16)
    bigger = image.replace(pixels=np.zeros((8, 8, 3), np.float32), alpha=None)
    assert bigger.metadata is meta and bigger.bit_depth == 16 and bigger.alpha is None
    with pytest.raises(ValueError, match="alpha"):
        image.replace(pixels=np.zeros((8, 8, 3), np.float32))


def test_format_names() -> None:
    assert imageio.format_for_path("a/B.JPEG") == "JPEG"
    assert imageio.format_for_path("x.tif") == "TIFF"
    assert imageio.format_for_path("x.heic") == "HEIF"
    assert imageio.format_for_path("x.avif") == "AVIF"
    assert imageio.format_for_path("x.jxl") is None
    assert imageio.format_for_path("3d.MPO") == "JPEG" and imageio.format_for_path("a.apng") == "PNG"
    assert imageio.output_format_for("BMP") == "PNG"
    assert imageio.output_format_for("GIF") == "PNG"
    assert imageio.output_format_for("WEBP") == "WEBP"
    assert imageio.output_format_for(None) == "PNG"
    # HEIC and AVIF are written only on request: few programs open them yet.
    assert imageio.output_format_for("HEIF") == "PNG"
    assert imageio.output_format_for("AVIF") == "PNG"
    assert imageio.WRITE_FORMATS == {"PNG", "JPEG", "TIFF", "WEBP", "AVIF", "HEIF"}
    assert {"PNG", "JPEG", "TIFF", "WEBP", "BMP", "AVIF", "HEIF"} <= imageio.READ_FORMATS
    assert {imageio.EXTENSION_FOR[f] for f in ("JPEG", "HEIF")} == {".jpg", ".heic"}


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    "ext, pil_format, exact",
    [
        ("png", "PNG", True),
        ("tif", "TIFF", True),
        ("bmp", "BMP", True),
        ("webp", "WEBP", True),
        ("jpg", "JPEG", False),
    ],
)
def test_reads_each_format(
    tmp_path: Path, coffee: np.ndarray, ext: str, pil_format: str, exact: bool
) -> None:
    path = tmp_path / f"coffee.{ext}"
    options = {"lossless": True} if ext == "webp" else {"quality": 95} if ext == "jpg" else {}
    PILImage.fromarray(coffee).save(path, pil_format, **options)
    image = open_image(path)
    assert image.metadata.source_format == pil_format
    assert image.metadata.source_path == str(path.resolve())
    assert (image.height, image.width, image.channels, image.bit_depth) == (40, 56, 3, 8)
    assert image.pixels.dtype == np.float32 and 0 <= image.pixels.min() <= image.pixels.max() <= 1
    if exact:
        assert max_diff(as_uint8(image), coffee) == 0
    else:
        assert mean_diff(as_uint8(image), coffee) < 8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(
    tmp_path: Path, chelsea: np.ndarray, orientation: int
) -> None:
    stored = make_images.stored_for_orientation(chelsea, orientation)
    path = tmp_path / f"o{orientation}.png"
    PILImage.fromarray(stored).save(path, exif=make_images.camera_exif(orientation))
    image = open_image(path)
    assert np.array_equal(as_uint8(image), chelsea)
    assert PILImage.Exif().__class__  # keep the import used by linters
    exif = PILImage.Exif()
    exif.load(image.metadata.exif)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "Nikon"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_in_jpeg_matches_pillow_exif_transpose(
    tmp_path: Path, astronaut: np.ndarray, orientation: int
) -> None:
    from PIL import ImageOps

    path = tmp_path / "turned.jpg"
    PILImage.fromarray(make_images.stored_for_orientation(astronaut, orientation)).save(
        path, quality=95, exif=make_images.camera_exif(orientation)
    )
    reference = np.asarray(ImageOps.exif_transpose(PILImage.open(path)))
    assert np.array_equal(as_uint8(open_image(path)), reference)
    assert mean_diff(reference, astronaut) < 8  # and it really is the upright photo


def test_orientation_applies_to_16bit_pixels_and_alpha(tmp_path: Path, rgb16: np.ndarray) -> None:
    alpha = np.linspace(0, 65535, rgb16.shape[0] * rgb16.shape[1]).reshape(rgb16.shape[:2])
    upright = np.dstack([rgb16, alpha.astype(np.uint16)])
    stored = np.rot90(upright, 1)  # orientation 6 means: turn 90 degrees clockwise to view
    path = tmp_path / "turned16.png"
    save_image(Image.from_array(np.ascontiguousarray(stored)), path)
    rewrite_png_exif(path, make_images.camera_exif(6))
    image = open_image(path)
    assert image.bit_depth == 16 and np.array_equal(image.to_uint(16), upright)


def test_orientation_of_16bit_tiff(tmp_path: Path, rgb16: np.ndarray) -> None:
    path = tmp_path / "turned16.tif"
    image = Image.from_array(np.ascontiguousarray(np.rot90(rgb16, 1)))
    image.metadata.exif = make_images.camera_exif(1).tobytes()
    save_image(image, path)
    entry = b"\x12\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00"  # Orientation = 1
    data = path.read_bytes()
    assert data.count(entry) == 1
    path.write_bytes(data.replace(entry, entry[:8] + b"\x06\x00\x00\x00"))
    assert np.array_equal(open_image(path).to_uint(16), rgb16)


def rewrite_png_exif(path: Path, exif: PILImage.Exif) -> None:
    """Insert an eXIf chunk after IHDR (Pillow cannot write 16-bit RGB PNGs itself)."""
    data = path.read_bytes()
    chunk = make_images.png_chunk(b"eXIf", exif.tobytes()[6:])
    path.write_bytes(data[:33] + chunk + data[33:])


def test_bad_orientation_value_is_ignored(tmp_path: Path, coffee: np.ndarray) -> None:
    path = tmp_path / "odd.png"
    PILImage.fromarray(coffee).save(path, exif=make_images.camera_exif(9))
    assert np.array_equal(as_uint8(open_image(path)), coffee)


# ---------------------------------------------------------------------- metadata out


def read_back_exif(path: Path) -> PILImage.Exif:
    with PILImage.open(path) as im:
        im.load()
        return im.getexif()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_metadata_survives_every_output_format(
    tmp_path: Path, camera_jpeg: Path, srgb_icc: bytes, fmt: str
) -> None:
    image = open_image(camera_jpeg)
    out = save_image(image, tmp_path / f"out.{OUT_EXT[fmt]}")
    with PILImage.open(out) as im:
        assert im.format == fmt
        assert im.info.get("icc_profile") == srgb_icc
        xmp = im.info.get("xmp")
        dpi = im.info.get("dpi")
    exif = read_back_exif(out)
    assert exif[MAKE] == "Nikon" and exif[MODEL] == "FM2 scan" and exif[ORIENTATION] == 1
    assert exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] == "1987:06:14 15:30:00"
    assert tuple(float(v) for v in exif.get_ifd(GPS_IFD)[GPS_LATITUDE]) == (48.0, 51.0, 29.76)
    assert xmp is not None
    xmp_bytes = xmp.encode() if isinstance(xmp, str) else bytes(xmp)
    assert b"Grandma Rose" in xmp_bytes and b'tiff:Orientation="1"' in xmp_bytes
    if fmt != "WEBP":  # WebP has no resolution field
        assert dpi is not None and tuple(round(float(d)) for d in dpi) == (300, 300)
    reread = open_image(out)
    assert reread.metadata.icc_profile == srgb_icc
    if fmt in LOSSLESS:
        assert max_diff(as_uint8(reread), as_uint8(image)) == 0
    else:
        assert mean_diff(as_uint8(reread), as_uint8(image)) < 8


def test_read_metadata_fields(camera_jpeg: Path, srgb_icc: bytes, xmp_packet: bytes) -> None:
    meta = open_image(camera_jpeg).metadata
    assert meta.icc_profile == srgb_icc and meta.xmp == xmp_packet
    assert meta.dpi == (300.0, 300.0) and meta.text.get("Comment") == "scanned 2024"
    assert meta.exif is not None and meta.exif.startswith(b"Exif\x00\x00")


def test_png_text_and_comment_round_trip(tmp_path: Path, coffee: np.ndarray) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", "Wedding 1962")
    info.add_itxt("Description", "Ölbild — café", zip=True)
    src = tmp_path / "text.png"
    PILImage.fromarray(coffee).save(src, pnginfo=info)
    image = open_image(src)
    assert image.metadata.text == {"Title": "Wedding 1962", "Description": "Ölbild — café"}
    out = save_image(image, tmp_path / "out.png")
    with PILImage.open(out) as im:
        assert im.text["Title"] == "Wedding 1962" and im.text["Description"] == "Ölbild — café"


def test_exif_pixel_dimensions_follow_the_new_size(tmp_path: Path, camera_jpeg: Path) -> None:
    image = open_image(camera_jpeg)
    bigger = image.replace(pixels=np.zeros((96, 128, 3), np.float32))
    exif = read_back_exif(save_image(bigger, tmp_path / "big.jpg"))
    assert exif.get_ifd(EXIF_IFD)[0xA002] == 128 and exif.get_ifd(EXIF_IFD)[0xA003] == 96


def test_tiff_source_metadata_round_trip(
    tmp_path: Path, chelsea: np.ndarray, srgb_icc: bytes, xmp_packet: bytes
) -> None:
    exif = make_images.camera_exif(orientation=8).tobytes()
    src = tmp_path / "scan.tif"
    stored = make_images.stored_for_orientation(chelsea, 8)
    PILImage.fromarray(stored).save(src, exif=exif, icc_profile=srgb_icc, dpi=(600, 600))
    image = open_image(src)
    assert np.array_equal(as_uint8(image), chelsea)
    assert image.metadata.icc_profile == srgb_icc and image.metadata.dpi == (600.0, 600.0)
    out = save_image(image, tmp_path / "out.jpg")
    back = read_back_exif(out)
    assert back[MAKE] == "Nikon" and back[ORIENTATION] == 1
    assert 256 not in back and 273 not in back  # the TIFF's layout tags stayed behind


def test_wrong_space_icc_is_not_written(
    tmp_path: Path, coffee: np.ndarray, srgb_icc: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    gray = Image.from_array(coffee[:, :, 0])
    gray.metadata.icc_profile = srgb_icc  # an RGB profile on gray pixels would be invalid
    with caplog.at_level(logging.WARNING):
        out = save_image(gray, tmp_path / "gray.jpg")
    with PILImage.open(out) as im:
        assert im.mode == "L" and "icc_profile" not in im.info
    assert "does not fit" in caplog.text


# ------------------------------------------------------------------------ provenance


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_provenance_is_written_and_read_back(tmp_path: Path, camera_jpeg: Path, fmt: str) -> None:
    out = save_image(open_image(camera_jpeg), tmp_path / f"p.{OUT_EXT[fmt]}", provenance=PROVENANCE)
    assert read_provenance(out) == PROVENANCE
    exif = read_back_exif(out)
    assert exif[SOFTWARE] == "Kintsugi 0.1.0"
    assert exif[MAKE] == "Nikon"  # merged, not replaced
    comment = exif.get_ifd(EXIF_IFD)[0x9286]
    assert json.loads(comment[8:]) == PROVENANCE


def test_png_provenance_text_chunk(tmp_path: Path, coffee: np.ndarray) -> None:
    out = save_image(Image.from_array(coffee), tmp_path / "p.png", provenance=PROVENANCE)
    with PILImage.open(out) as im:
        assert json.loads(im.text["Kintsugi"]) == PROVENANCE
        assert im.text["Software"] == "Kintsugi 0.1.0"


def test_no_provenance_in_a_plain_file(tmp_path: Path, coffee: np.ndarray) -> None:
    path = tmp_path / "plain.jpg"
    PILImage.fromarray(coffee).save(path)
    assert read_provenance(path) is None
    out = save_image(Image.from_array(coffee), tmp_path / "nometa.png")
    assert read_provenance(out) is None


# ------------------------------------------------------------------------- bit depth


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("layout", ["gray", "rgb", "rgba", "gray_alpha"])
def test_16bit_round_trip_is_exact(
    tmp_path: Path, rgb16: np.ndarray, ext: str, layout: str
) -> None:
    alpha = rgb16[:, :, 2:3][::-1]
    arr = {
        "gray": rgb16[:, :, :1],
        "rgb": rgb16,
        "rgba": np.dstack([rgb16, alpha]),
        "gray_alpha": np.dstack([rgb16[:, :, :1], alpha]),
    }[layout]
    image = Image.from_array(np.ascontiguousarray(arr))
    out = save_image(image, tmp_path / f"deep.{ext}")
    back = open_image(out)
    assert back.bit_depth == 16
    expected = arr
    if layout == "gray_alpha" and ext == "tif":  # written as RGBA, see imageio
        expected = arr[:, :, [0, 0, 0, 1]]
    assert np.array_equal(back.to_uint(16), expected)
    assert np.array_equal(
        np.atleast_3d(cv2_read(out)),
        expected if ext == "tif" or layout != "gray_alpha" else arr[:, :, [0, 0, 0, 1]],
    )


def test_16bit_png_written_by_opencv_is_read_exactly(tmp_path: Path, rgb16: np.ndarray) -> None:
    path = tmp_path / "cv.png"
    cv2.imwrite(str(path), rgb16[:, :, ::-1])
    image = open_image(path)
    assert image.bit_depth == 16 and image.channels == 3
    assert np.array_equal(image.to_uint(16), rgb16)
    assert image.metadata.source_format == "PNG"


def test_16bit_tiff_written_by_pillow_gray(tmp_path: Path, rgb16: np.ndarray) -> None:
    path = tmp_path / "gray16.tif"
    PILImage.fromarray(rgb16[:, :, 1]).save(path)  # Pillow mode I;16
    image = open_image(path)
    assert image.is_gray and image.bit_depth == 16
    assert np.array_equal(image.to_uint(16)[:, :, 0], rgb16[:, :, 1])


def test_16bit_metadata_is_kept(
    tmp_path: Path, rgb16: np.ndarray, camera_jpeg: Path, srgb_icc: bytes
) -> None:
    image = Image.from_array(rgb16)
    image.metadata = open_image(camera_jpeg).metadata
    for ext in ("png", "tif"):
        out = save_image(image, tmp_path / f"meta16.{ext}", provenance=PROVENANCE)
        back = open_image(out)
        assert np.array_equal(back.to_uint(16), rgb16)
        assert back.metadata.icc_profile == srgb_icc
        assert read_back_exif(out)[MODEL] == "FM2 scan"
        assert read_provenance(out) == PROVENANCE


def test_bit_depth_defaults_and_overrides(
    tmp_path: Path, rgb16: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    deep = Image.from_array(rgb16)
    with caplog.at_level(logging.INFO):
        jpeg = save_image(deep, tmp_path / "deep.jpg")
    assert "8-bit only" in caplog.text
    with PILImage.open(jpeg) as im:
        assert im.mode == "RGB"
    with pytest.raises(ImageWriteError, match="8-bit only"):
        save_image(deep, tmp_path / "deep.webp", bit_depth=16)
    eight = save_image(deep, tmp_path / "eight.png", bit_depth=8)
    assert open_image(eight).bit_depth == 8
    assert np.array_equal(cv2_read(eight), (rgb16 / 257).round().astype(np.uint8))
    up = save_image(
        Image.from_array((rgb16 >> 8).astype(np.uint8)), tmp_path / "up.tif", bit_depth=16
    )
    assert open_image(up).bit_depth == 16
    with pytest.raises(ImageWriteError, match="8 or 16"):
        save_image(deep, tmp_path / "x.png", bit_depth=12)


# ------------------------------------------------------------------ gray, alpha, modes


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_gray_stays_gray(tmp_path: Path, coffee: np.ndarray, fmt: str) -> None:
    gray = coffee[:, :, 1]
    src = tmp_path / f"g.{OUT_EXT[fmt]}"
    PILImage.fromarray(gray).save(src, fmt)
    image = open_image(src)
    assert image.is_gray and image.channels == 1
    out = save_image(image, tmp_path / f"out.{OUT_EXT[fmt]}")
    with PILImage.open(out) as im:
        assert im.mode == "L"
    assert open_image(out).is_gray


def test_gray_to_webp_becomes_rgb(tmp_path: Path, coffee: np.ndarray) -> None:
    out = save_image(Image.from_array(coffee[:, :, 0]), tmp_path / "g.webp", quality=100)
    image = open_image(out)
    assert image.channels == 3
    assert np.array_equal(as_uint8(image), np.repeat(coffee[:, :, :1], 3, axis=2))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_alpha_is_kept(tmp_path: Path, astronaut: np.ndarray, fmt: str) -> None:
    alpha = np.tile(np.linspace(0, 255, astronaut.shape[1]).astype(np.uint8), (48, 1))
    rgba = np.dstack([astronaut, alpha])
    src = tmp_path / "src.png"
    PILImage.fromarray(rgba).save(src)
    image = open_image(src)
    assert image.channels == 3 and image.alpha is not None
    assert np.array_equal(np.rint(image.alpha * 255).astype(np.uint8), alpha)
    out = save_image(image, tmp_path / f"out.{OUT_EXT[fmt]}", quality=100)
    back = open_image(out)
    assert back.alpha is not None
    assert np.array_equal(back.to_uint(8)[:, :, 3], alpha)
    opaque = alpha > 0  # WebP may change colour under fully transparent pixels
    assert np.array_equal(back.to_uint(8)[opaque][:, :3], astronaut[opaque])


def test_jpeg_composites_alpha_over_white(
    tmp_path: Path, astronaut: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    alpha = np.zeros(astronaut.shape[:2], np.uint8)
    alpha[:, 32:] = 255
    image = Image.from_array(np.dstack([astronaut, alpha]))
    with caplog.at_level(logging.WARNING):
        out = save_image(image, tmp_path / "flat.jpg")
    assert "white" in caplog.text
    back = as_uint8(open_image(out))
    assert back[:, :28].min() >= 245  # transparent half is white
    assert mean_diff(back[:, 36:], astronaut[:, 36:]) < 8


def test_opaque_alpha_is_dropped_silently_for_jpeg(
    tmp_path: Path, astronaut: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    image = Image.from_array(np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]))
    with caplog.at_level(logging.WARNING):
        save_image(image, tmp_path / "opaque.jpg")
    assert "white" not in caplog.text


def test_palette_with_and_without_transparency(tmp_path: Path, coffee: np.ndarray) -> None:
    pal = PILImage.fromarray(coffee).quantize(16)
    plain = tmp_path / "pal.png"
    pal.save(plain)
    image = open_image(plain)
    assert image.channels == 3 and image.alpha is None
    assert np.array_equal(as_uint8(image), np.asarray(pal.convert("RGB")))
    see_through = tmp_path / "palt.png"
    pal.save(see_through, transparency=0)
    image = open_image(see_through)
    index = np.asarray(pal)
    assert image.alpha is not None
    assert np.array_equal(image.alpha == 0, index == 0)


def test_cmyk_jpeg_without_profile(tmp_path: Path, coffee: np.ndarray) -> None:
    cmyk = PILImage.fromarray(coffee).convert("CMYK")
    path = tmp_path / "cmyk.jpg"
    cmyk.save(path, quality=95)
    image = open_image(path)
    assert image.channels == 3 and image.metadata.icc_profile is None
    assert mean_diff(as_uint8(image), coffee) < 8


def test_cmyk_jpeg_is_converted_through_its_profile(tmp_path: Path) -> None:
    icc = make_images.swapped_cmyk_icc()
    cyan = PILImage.new("CMYK", (16, 8), (255, 0, 0, 0))
    path = tmp_path / "cyan.jpg"
    cyan.save(path, quality=100, icc_profile=icc)
    image = open_image(path)
    assert image.metadata.icc_profile is None  # the CMYK profile does not describe RGB pixels
    r, g, b = as_uint8(image).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b > 200  # magenta: the profile, not the naive formula (cyan)
    out = save_image(image, tmp_path / "out.jpg")
    with PILImage.open(out) as im:
        assert "icc_profile" not in im.info


@pytest.mark.parametrize("mode", ["1", "LA", "I;16"])
def test_other_pillow_modes(tmp_path: Path, coffee: np.ndarray, mode: str) -> None:
    gray = PILImage.fromarray(coffee[:, :, 0])
    im = {
        "1": gray.convert("1"),
        "LA": PILImage.merge("LA", [gray, gray]),
        "I;16": PILImage.fromarray(coffee[:, :, 0].astype(np.uint16) * 257),
    }[mode]
    path = tmp_path / f"m{mode.replace(';', '')}.png"
    im.save(path)
    image = open_image(path)
    assert image.is_gray
    if mode == "1":
        assert set(np.unique(as_uint8(image))) <= {0, 255}
    if mode == "LA":
        assert image.alpha is not None
        assert np.array_equal(image.to_uint(8)[:, :, 0], coffee[:, :, 0])
    if mode == "I;16":
        assert image.bit_depth == 16 and np.array_equal(as_uint8(image), coffee[:, :, 0])


def animated_files(tmp_path: Path, coffee: np.ndarray) -> dict[str, Path]:
    frames = [PILImage.fromarray(coffee), PILImage.fromarray(255 - coffee)]
    paths = {}
    for ext, fmt in (("gif", "GIF"), ("webp", "WEBP"), ("png", "PNG"), ("tif", "TIFF")):
        paths[ext] = tmp_path / f"anim.{ext}"
        extra = {"lossless": True} if fmt == "WEBP" else {}
        frames[0].save(paths[ext], fmt, save_all=True, append_images=frames[1:], **extra)
    return paths


def test_animated_and_multipage_use_first_frame(
    tmp_path: Path, coffee: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    for ext, path in animated_files(tmp_path, coffee).items():
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            image = open_image(path)
        assert "only the first" in caplog.text, ext
        tolerance = 60 if ext == "gif" else 0  # GIF is a 256-colour palette
        assert np.abs(as_uint8(image).astype(int) - coffee).mean() <= tolerance / 4, ext


# ---------------------------------------------------------------------- size limits


def test_huge_header_fails_fast_with_our_error(tmp_path: Path) -> None:
    path = make_images.write_bomb_png(tmp_path / "photo.png", 60000, 60000)
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as err:
        open_image(path)
    assert time.perf_counter() - start < 1.0
    assert str(err.value) == (
        "photo.png is 60000x60000 (3600 MP); the limit is 400 MP "
        "(set KINTSUGI_MAX_PIXELS to raise it)"
    )
    assert PILImage.MAX_IMAGE_PIXELS is not None  # Pillow's own guard is back for others


def test_limit_from_argument_env_and_setter(
    tmp_path: Path, coffee: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.png"
    PILImage.fromarray(coffee).save(path)  # 56x40 = 2240 pixels
    assert open_image(path, max_pixels=2240).width == 56
    with pytest.raises(ImageTooLargeError, match="limit"):
        open_image(path, max_pixels=2239)
    monkeypatch.setenv("KINTSUGI_MAX_PIXELS", "2000")
    with pytest.raises(ImageTooLargeError):
        open_image(path)
    imageio.set_max_pixels(10_000)
    try:
        assert open_image(path).height == 40
    finally:
        imageio.set_max_pixels(None)
    with pytest.raises(ImageTooLargeError):
        open_image(path)


def test_above_pillows_own_limit_but_under_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pillow would raise DecompressionBombError above 2 x MAX_IMAGE_PIXELS; ours decides.
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "small.png"
    PILImage.new("RGB", (30, 20), (10, 20, 30)).save(path)
    assert open_image(path).width == 30
    assert PILImage.MAX_IMAGE_PIXELS == 100


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"^nope\.jpg: no such file"):
        open_image(tmp_path / "nope.jpg")


def test_directory_named_like_an_image(tmp_path: Path) -> None:
    (tmp_path / "album.jpg").mkdir()
    with pytest.raises(ImageReadError, match="album.jpg is a folder"):
        open_image(tmp_path / "album.jpg")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.png is empty"):
        open_image(tmp_path / "empty.png")


@pytest.mark.parametrize("ext, fmt", [("jpg", "JPEG"), ("png", "PNG"), ("tif", "TIFF")])
def test_truncated_file_is_an_error(
    tmp_path: Path, astronaut: np.ndarray, ext: str, fmt: str
) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    whole = tmp_path / f"whole.{ext}"
    PILImage.fromarray(astronaut).save(whole, fmt)
    cut = tmp_path / f"cut.{ext}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageReadError, match=rf"cut\.{ext}"):
        open_image(cut)


@pytest.mark.parametrize("ext, fmt", [("jpg", "JPEG"), ("png", "PNG"), ("tif", "TIFF")])
def test_truncated_file_says_its_data_ends_early_not_a_byte_count(
    tmp_path: Path, astronaut: np.ndarray, ext: str, fmt: str
) -> None:
    """The trial's JPEG missing ~8 KB was reported as "(2 bytes not processed)": Pillow's
    count of bytes left in its buffer, not of what is missing."""
    whole = tmp_path / f"whole.{ext}"
    PILImage.fromarray(astronaut).save(whole, fmt)
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) * 3 // 4])
    with pytest.raises(ImageReadError) as raised:
        open_image(cut)
    assert str(raised.value) == (f"cut.{ext} is truncated: its image data ends early (the end "
                                 "of the file is missing)")


def test_truncated_16bit_png_is_an_error(tmp_path: Path, rgb16: np.ndarray) -> None:
    whole = save_image(Image.from_array(rgb16), tmp_path / "whole16.png")
    cut = tmp_path / "cut16.png"
    cut.write_bytes(whole.read_bytes()[:-200])
    with pytest.raises(ImageReadError, match="cut16.png"):
        open_image(cut)


def test_random_bytes_with_an_image_name(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError, match="noise.jpg is damaged"):
        open_image(path)


@pytest.mark.parametrize(
    "name, content",
    [("notes.txt", b"hello, not a photo"), ("photo.jxl", b"\xff\x0a" + b"\0" * 64)],
)
def test_unsupported_formats(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UnsupportedFormatError, match=rf"^{name}: .* not supported"):
        open_image(tmp_path / name)


def test_known_but_unsupported_format_by_content(tmp_path: Path, coffee: np.ndarray) -> None:
    path = tmp_path / "pic.ico"
    PILImage.fromarray(coffee).save(path, "ICO")
    with pytest.raises(UnsupportedFormatError, match="ICO is not supported"):
        open_image(path)


def test_permission_denied(
    tmp_path: Path, coffee: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.png"
    PILImage.fromarray(coffee).save(path)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(imageio_read, "open", denied, raising=False)
    with pytest.raises(ImageReadError, match="locked.png: permission denied"):
        open_image(path)


def without_root(check: Callable[[], None]) -> None:
    """Run `check` as an ordinary user: as root (CI), in a child that drops to nobody,
    so permission tests test permissions instead of skipping."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        check()
        return
    pid = os.fork()
    if pid == 0:  # child: no pytest reporting here, only an exit status
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            check()
            code = 0
        except BaseException:  # noqa: B036 - any failure, reported through the status
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the check failed as an ordinary user"


def shared_folder() -> Path:
    """A folder an unprivileged child can reach (pytest's tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="kintsugi-perm-"))
    folder.chmod(0o755)
    return folder


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop root")
def test_permission_denied_for_real(coffee: np.ndarray) -> None:
    folder = shared_folder()
    try:
        path = folder / "locked.png"
        PILImage.fromarray(coffee).save(path)
        path.chmod(0)

        def check() -> None:
            with pytest.raises(ImageReadError, match="locked.png: permission denied"):
                open_image(path)

        without_root(check)
    finally:
        shutil.rmtree(folder)


def test_errors_are_one_line_kintsugi_errors(tmp_path: Path) -> None:
    (tmp_path / "e.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(KintsugiError) as err:
        open_image(tmp_path / "e.png")
    assert "\n" not in str(err.value) and "e.png" in str(err.value)


# --------------------------------------------------------------------------- writing


def test_format_from_extension_or_argument(tmp_path: Path, coffee: np.ndarray) -> None:
    image = Image.from_array(coffee)
    out = save_image(image, tmp_path / "a.JPEG")
    with PILImage.open(out) as im:
        assert im.format == "JPEG"
    out = save_image(image, tmp_path / "b.dat", format="tiff")
    with PILImage.open(out) as im:
        assert im.format == "TIFF"
    with pytest.raises(ImageWriteError, match="cannot write"):
        save_image(image, tmp_path / "c.bmp")
    with pytest.raises(ImageWriteError, match="cannot write"):
        save_image(image, tmp_path / "d.png", format="JXL")
    assert not (tmp_path / "c.bmp").exists()


def test_jpeg_quality_and_subsampling(tmp_path: Path, astronaut: np.ndarray) -> None:
    from PIL import JpegImagePlugin

    image = Image.from_array(astronaut)
    high = save_image(image, tmp_path / "high.jpg")
    low = save_image(image, tmp_path / "low.jpg", quality=60)
    with PILImage.open(high) as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    with PILImage.open(low) as im:
        assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
    assert high.stat().st_size > low.stat().st_size


def test_webp_quality_100_is_lossless(tmp_path: Path, astronaut: np.ndarray) -> None:
    out = save_image(Image.from_array(astronaut), tmp_path / "l.webp", quality=100)
    assert np.array_equal(as_uint8(open_image(out)), astronaut)
    lossy = save_image(Image.from_array(astronaut), tmp_path / "q.webp")
    assert 0 < mean_diff(as_uint8(open_image(lossy)), astronaut) < 8


def test_png_output_is_standard(tmp_path: Path, chelsea: np.ndarray) -> None:
    out = save_image(Image.from_array(chelsea), tmp_path / "c.png")
    assert np.array_equal(cv2_read(out), chelsea)
    with PILImage.open(out) as im:
        im.verify()  # checks every chunk's CRC


def test_refuses_to_overwrite_the_original(tmp_path: Path, coffee: np.ndarray) -> None:
    src = tmp_path / "original.png"
    PILImage.fromarray(coffee).save(src)
    before = src.read_bytes()
    image = open_image(src)
    with pytest.raises(ImageWriteError, match="original"):
        save_image(image.replace(pixels=1 - image.pixels), src)
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(ImageWriteError, match="original"):
        save_image(image, link)
    assert src.read_bytes() == before


def test_missing_folder(tmp_path: Path, coffee: np.ndarray) -> None:
    with pytest.raises(ImageWriteError, match="does not exist"):
        save_image(Image.from_array(coffee), tmp_path / "nope" / "out.png")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_disk_full_leaves_nothing(
    tmp_path: Path, coffee: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd: int, mode: str) -> None:
            self.inner = real_fdopen(fd, mode)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

        def write(self, data: bytes) -> int:
            self.inner.write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imageio_write.os, "fdopen", FullDisk)
    with pytest.raises(ImageWriteError, match="disk is full"):
        save_image(Image.from_array(coffee), tmp_path / "out.png")
    assert leftovers(tmp_path) == []


def test_failed_rename_leaves_old_file_untouched(
    tmp_path: Path, coffee: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out.jpg"
    dest.write_bytes(b"previous result")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imageio_write.os, "replace", full)
    with pytest.raises(ImageWriteError, match="disk is full"):
        save_image(Image.from_array(coffee), dest)
    assert leftovers(tmp_path) == ["out.jpg"] and dest.read_bytes() == b"previous result"


def test_read_only_folder(
    tmp_path: Path, coffee: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    with pytest.raises(ImageWriteError, match="read-only"):
        save_image(Image.from_array(coffee), tmp_path / "out.png")
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop root")
def test_read_only_folder_for_real(coffee: np.ndarray) -> None:
    folder = shared_folder()
    locked = folder / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:

        def check() -> None:
            with pytest.raises(ImageWriteError, match="read-only"):
                save_image(Image.from_array(coffee), locked / "out.png")

        without_root(check)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)
        shutil.rmtree(folder)


def test_encoding_error_becomes_write_error(
    tmp_path: Path, coffee: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> bytes:
        raise ValueError("encoder exploded")

    monkeypatch.setattr(imageio_write, "encode_jpeg", broken)
    with pytest.raises(ImageWriteError, match="encoder exploded"):
        save_image(Image.from_array(coffee), tmp_path / "x.jpg")
    assert leftovers(tmp_path) == []


def test_overwrites_a_previous_output_atomically(tmp_path: Path, coffee: np.ndarray) -> None:
    dest = tmp_path / "out.png"
    dest.write_bytes(b"old")
    save_image(Image.from_array(coffee), dest)
    assert np.array_equal(cv2_read(dest), coffee)
    assert leftovers(tmp_path) == ["out.png"]


# ---------------------------------------------------------------------- performance


def test_large_jpeg_reads_fast(tmp_path: Path) -> None:
    skimage_data = pytest.importorskip("skimage.data")

    big = np.ascontiguousarray(np.tile(skimage_data.astronaut(), (4, 6, 1))[:2000, :3000])
    path = tmp_path / "big.jpg"
    PILImage.fromarray(big).save(path, quality=90)
    open_image(path)  # warm-up: imports, allocator
    start = time.perf_counter()
    image = open_image(path)
    elapsed = time.perf_counter() - start
    assert (image.width, image.height) == (3000, 2000)
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
