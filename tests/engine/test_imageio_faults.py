"""Faults found by running Pillow's and OpenCV's own test files through Kintsugi (issue 7, 3b).

Each test makes its own small file of the kind that failed.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from kintsugi.engine.errors import ImageTooLargeError, UnsupportedFormatError
from kintsugi.engine.imageio import open_image, save_image, sniff

tifffile = pytest.importorskip("tifffile")


def _ramp(dtype: type, lo: float, hi: float) -> np.ndarray:
    """A 12x16 gradient from lo to hi, so the mapping can be checked pixel by pixel."""
    return np.linspace(lo, hi, 12 * 16).reshape(12, 16).astype(dtype)


# --------------------------------------------------------------------------- DPI


def _jpeg_with_exif_dpi(path: Path, dpi: float) -> Path:
    exif = PILImage.Exif()
    exif[282], exif[283], exif[296] = dpi, dpi, 2  # XResolution, YResolution, inch
    PILImage.new("RGB", (8, 6), "teal").save(path, "JPEG", exif=exif.tobytes())
    return path


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "webp"])
def test_impossible_dpi_is_dropped_and_the_photo_saves(tmp_path: Path, ext: str) -> None:
    # Pillow's exif_gps.jpg says 4294967295 DPI; PNG's pHYs could not hold it.
    image = open_image(_jpeg_with_exif_dpi(tmp_path / "gps.jpg", 4294967295.0))
    assert image.metadata.dpi is None
    out = save_image(image, tmp_path / f"out.{ext}")
    assert open_image(out).width == 8


def test_dpi_set_by_a_caller_is_checked_when_writing(tmp_path: Path) -> None:
    image = open_image(_jpeg_with_exif_dpi(tmp_path / "a.jpg", 300.0))
    assert image.metadata.dpi == (300.0, 300.0)
    image.metadata.dpi = (1e12, 1e12)
    with PILImage.open(save_image(image, tmp_path / "out.png")) as png:
        assert "dpi" not in png.info
    # JPEG's JFIF field is 16-bit: 70000 would wrap around to 4464 dpi.
    image.metadata.dpi = (70000.0, 70000.0)
    with PILImage.open(save_image(image, tmp_path / "out.jpg")) as jpeg:
        assert jpeg.info.get("jfif_density") != (4464, 4464)


def test_plausible_dpi_is_kept(tmp_path: Path) -> None:
    image = open_image(_jpeg_with_exif_dpi(tmp_path / "scan.jpg", 4800.0))
    out = save_image(image, tmp_path / "out.png")
    assert open_image(out).metadata.dpi == pytest.approx((4800.0, 4800.0), abs=0.02)


# ------------------------------------------------------ TIFF sample types, DIB


def test_float_tiff_in_unit_range_is_read_as_is(tmp_path: Path) -> None:
    values = _ramp(np.float32, 0.0, 1.0)
    tifffile.imwrite(tmp_path / "f.tif", values)
    image = open_image(tmp_path / "f.tif")
    assert image.bit_depth == 16 and image.is_gray
    assert np.allclose(image.pixels[:, :, 0], values, atol=1e-6)


def test_float_tiff_outside_unit_range_is_mapped_not_clipped(tmp_path: Path) -> None:
    # Like Pillow's 10ct_32bit_128.tiff: -pi..pi, and no Photometric tag (OpenCV refuses it).
    values = _ramp(np.float32, -np.pi, np.pi)
    tifffile.imwrite(tmp_path / "phase.tif", values, photometric=None)
    image = open_image(tmp_path / "phase.tif")
    got = image.pixels[:, :, 0]
    assert image.bit_depth == 16
    assert got.min() == 0.0 and got.max() == 1.0
    assert np.allclose(got, (values + np.pi) / (2 * np.pi), atol=1e-5)


def test_float_tiff_in_0_200_keeps_black_at_zero(tmp_path: Path) -> None:
    values = _ramp(np.float32, 0, 200)
    tifffile.imwrite(tmp_path / "f200.tif", values)
    image = open_image(tmp_path / "f200.tif")
    assert np.allclose(image.pixels[:, :, 0], values / 200.0, atol=1e-5)


def test_float_rgb_tiff_that_pillow_cannot_open(tmp_path: Path) -> None:
    # Pillow has no 32-bit float RGB mode; OpenCV decodes it (metadata is not read then).
    values = np.stack([_ramp(np.float32, 0, 200), _ramp(np.float32, 0, 100)] * 2, axis=2)[..., :3]
    tifffile.imwrite(tmp_path / "rgb.tif", values, photometric="rgb")
    image = open_image(tmp_path / "rgb.tif")
    assert image.channels == 3 and image.bit_depth == 16
    assert np.allclose(image.pixels, values / 200.0, atol=1e-5)


def test_float_rgb_tiff_too_large_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((4, 4, 3), np.float32), photometric="rgb")
    _patch_tiff_entry(path, 256, 100_000)
    _patch_tiff_entry(path, 257, 100_000)
    with pytest.raises(ImageTooLargeError, match="huge.tif is 100000x100000"):
        open_image(path)


def test_int32_tiff_holding_16_bit_values(tmp_path: Path) -> None:
    # Like Pillow's 16_bit_binary_pgm.tiff: int32 samples, 0..65535.
    values = _ramp(np.int32, 0, 65535)
    tifffile.imwrite(tmp_path / "i32.tif", values)
    image = open_image(tmp_path / "i32.tif")
    assert image.bit_depth == 16
    assert np.array_equal(image.to_uint(16)[:, :, 0], values.astype(np.uint16))


def test_int32_tiff_with_wide_range_is_mapped(tmp_path: Path) -> None:
    values = _ramp(np.int32, -100_000, 3_000_000)
    tifffile.imwrite(tmp_path / "wide.tif", values)
    got = open_image(tmp_path / "wide.tif").pixels[:, :, 0]
    assert np.allclose(got, (values + 100_000) / 3_100_000.0, atol=1e-5)


def test_signed_16_bit_tiff(tmp_path: Path) -> None:
    # Like Pillow's 16bit.s.tif: int16 samples, 0..32767 is its full positive range.
    values = _ramp(np.int16, 0, 32767)
    tifffile.imwrite(tmp_path / "s16.tif", values)
    image = open_image(tmp_path / "s16.tif")
    assert image.bit_depth == 16
    assert np.allclose(image.pixels[:, :, 0], values / 32767.0, atol=1e-6)


def test_16_bit_cmyk_tiff(tmp_path: Path) -> None:
    # Like Pillow's tiff_strip_cmyk_16l_jpeg.tif; OpenCV cannot decode it.
    cmyk = np.zeros((12, 16, 4), np.uint16)
    cmyk[:, :8, 0] = 65535  # cyan on the left half, plain paper on the right
    tifffile.imwrite(tmp_path / "cmyk.tif", cmyk, photometric="separated")
    image = open_image(tmp_path / "cmyk.tif")
    assert image.channels == 3
    left, right = image.pixels[6, 2], image.pixels[6, 12]
    assert left[0] < 0.2 and left[1] > 0.8 and left[2] > 0.8  # cyan: no red
    assert np.all(right > 0.95)


def test_headerless_dib(tmp_path: Path) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, "BMP")
    dib = tmp_path / "clip.dib"
    dib.write_bytes(buf.getvalue()[14:])  # a clipboard DIB has no BITMAPFILEHEADER
    assert sniff(dib) == "DIB"
    assert np.array_equal(open_image(dib).to_uint(8), rgb)


def _patch_tiff_entry(path: Path, tag: int, value_or_offset: int) -> None:
    """Overwrite the value/offset field of one entry of a little-endian TIFF's first IFD."""
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags[tag].offset
    data = bytearray(path.read_bytes())
    data[entry + 8 : entry + 12] = value_or_offset.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _tiff_claiming_webp(path: Path) -> Path:
    """A TIFF whose Compression tag says WebP, which this build's libtiff cannot decode."""
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    _patch_tiff_entry(path, 259, 50001)
    return path


def test_tiff_in_a_compression_we_cannot_decode_is_unsupported_not_damaged(
    tmp_path: Path,
) -> None:
    path = _tiff_claiming_webp(tmp_path / "webp.tif")
    with pytest.raises(UnsupportedFormatError, match="webp.tif: TIFF with WebP compression"):
        open_image(path)


# ------------------------------------------------------------------- library noise


def _pillow_warning_tiff(path: Path) -> Path:
    """A valid TIFF with a private tag whose data lies past the end: Pillow warns, reads on."""
    rgb = np.full((6, 8, 3), 120, np.uint8)
    tifffile.imwrite(path, rgb, photometric="rgb", extratags=[(65000, "s", 0, "x" * 100, False)])
    _patch_tiff_entry(path, 65000, path.stat().st_size + 10_000)
    return path


def test_library_warnings_go_to_kintsugi_debug_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = _pillow_warning_tiff(tmp_path / "odd.tif")
    with caplog.at_level(logging.DEBUG, logger="kintsugi"):
        image = open_image(path)
    assert image.width == 8
    assert capfd.readouterr().err == ""
    library = [r for r in caplog.records if r.name == "kintsugi.engine.imageio.libraries"]
    assert any(r.getMessage().startswith("UserWarning: ") for r in library)
    assert all(r.levelno == logging.DEBUG for r in library)
