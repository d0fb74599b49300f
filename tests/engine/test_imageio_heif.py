"""HEIC (pillow-heif) and AVIF (Pillow) in and out, from files those libraries make of a
real photo with an EXIF orientation and an ICC profile (issue 10, section 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import features

from fixtures import make_images
from kintsugi.engine import imageio
from kintsugi.engine.errors import ImageWriteError, UnsupportedFormatError
from kintsugi.engine.imageio import Image, open_image, output_format_for, save_image, sniff
from kintsugi.engine.imageio import heif as heif_support

pillow_heif = pytest.importorskip("pillow_heif")
if not features.check("avif"):
    pytest.skip("this Pillow has no AVIF support", allow_module_level=True)

APP = str(Path(__file__).resolve().parents[2] / "app")
SAVE_OPTIONS = {"AVIF": {"subsampling": "4:4:4"}, "HEIF": {"chroma": 444}}
EXT = {"AVIF": "avif", "HEIF": "heic"}
ICC = make_images.srgb_icc()  # once: a new one carries a new creation time


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def upright() -> np.ndarray:
    pytest.importorskip("skimage")
    return make_images.photo("astronaut", 96, 128)


def phone_photo(folder: Path, fmt: str, upright: np.ndarray, orientation: int) -> Path:
    """What a phone leaves: stored pixels turned by `orientation`, EXIF, an ICC profile.

    pillow-heif turns the EXIF orientation into the HEIF irot/imir boxes (as an iPhone
    writes them); Pillow's AVIF keeps it as an EXIF tag. Either way a viewer shows
    `upright`.
    """
    if fmt == "HEIF":
        assert heif_support.heif_writable()  # registers pillow-heif's writer with Pillow
    path = folder / f"IMG_0001.{EXT[fmt]}"
    stored = make_images.stored_for_orientation(upright, orientation)
    PILImage.fromarray(stored).save(
        path,
        fmt,
        quality=95,
        # as bytes: pillow-heif reads the orientation for its irot box from those only
        exif=make_images.camera_exif(orientation=orientation).tobytes(),
        icc_profile=ICC,
        **SAVE_OPTIONS[fmt],
    )
    return path


@pytest.mark.parametrize("orientation", [6, 3])
@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_phone_photo_is_read_upright_with_its_profile_and_exif(
    tmp_path: Path, upright: np.ndarray, fmt: str, orientation: int
) -> None:
    path = phone_photo(tmp_path, fmt, upright, orientation)
    assert sniff(path) == fmt
    image = open_image(path)
    got = image.to_uint(8)
    assert got.shape == upright.shape
    assert psnr(got, upright) > 38  # lossy, but the right way up
    stored = make_images.stored_for_orientation(upright, orientation)
    if stored.shape == upright.shape:
        assert psnr(got, stored) < 25
    meta = image.metadata
    assert meta.icc_profile == ICC
    assert meta.source_format == fmt
    exif = PILImage.Exif()
    exif.load(meta.exif)
    assert exif[make_images.MAKE] == "Nikon" and exif[make_images.ORIENTATION] == 1


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_result_is_png_by_default_keeping_profile_and_exif(
    tmp_path: Path, upright: np.ndarray, fmt: str
) -> None:
    image = open_image(phone_photo(tmp_path, fmt, upright, 6))
    out_format = output_format_for(image.metadata.source_format)
    assert out_format == "PNG"
    out = save_image(image, tmp_path / "result.png", format=out_format)
    back = open_image(out)
    assert np.array_equal(back.to_uint(8), image.to_uint(8))
    assert back.metadata.icc_profile == ICC
    with PILImage.open(out) as png:
        exif = png.getexif()
        assert exif[make_images.MAKE] == "Nikon" and exif.get(make_images.ORIENTATION) == 1


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_writes_heic_and_avif_at_least_as_well_as_jpeg(
    tmp_path: Path, upright: np.ndarray, srgb_icc: bytes, xmp_packet: bytes, fmt: str
) -> None:
    source = tmp_path / "photo.png"
    PILImage.fromarray(upright).save(
        source, exif=make_images.camera_exif(orientation=1), icc_profile=srgb_icc
    )
    image = open_image(source)
    image.metadata.xmp = xmp_packet
    out = save_image(image, tmp_path / f"photo.{EXT[fmt]}", quality=90)
    back = open_image(out)
    assert back.metadata.source_format == fmt
    # Rate and distortion: against the JPEG of the same size or larger, no worse.
    for quality in range(90, 101):
        jpeg = save_image(image, tmp_path / "photo.jpg", quality=quality)
        if jpeg.stat().st_size >= out.stat().st_size:
            break
    assert psnr(back.to_uint(8), upright) >= psnr(open_image(jpeg).to_uint(8), upright)
    assert back.metadata.icc_profile == srgb_icc
    assert back.metadata.xmp is not None and b"Grandma Rose" in back.metadata.xmp
    exif = PILImage.Exif()
    exif.load(back.metadata.exif)
    assert exif[make_images.MODEL] == "FM2 scan"


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_alpha_survives_and_16_bit_is_refused(tmp_path: Path, fmt: str) -> None:
    rgba = np.zeros((16, 24, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 12:, 3] = 255  # left half transparent
    out = save_image(Image.from_array(rgba), tmp_path / f"a.{EXT[fmt]}", quality=100)
    back = open_image(out)
    assert back.alpha is not None
    assert back.alpha[:, :10].max() < 0.05 and back.alpha[:, 14:].min() > 0.95
    with pytest.raises(ImageWriteError, match="8-bit only"):
        save_image(Image.from_array(rgba), tmp_path / f"b.{EXT[fmt]}", bit_depth=16)


def test_without_any_heif_plugin_heic_is_refused_saying_how_to_get_it(
    tmp_path: Path, upright: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = phone_photo(tmp_path, "HEIF", upright, 1)
    monkeypatch.setattr(heif_support, "_registered", "")
    with pytest.raises(UnsupportedFormatError, match=r"IMG_0001.heic: .*pi-heif"):
        open_image(path)
    assert sniff(path) is None
    with pytest.raises(ImageWriteError, match=r"kintsugi\[heif\]"):
        save_image(Image.from_array(upright), tmp_path / "out.heic")
    # AVIF needs nothing optional
    assert imageio.sniff(phone_photo(tmp_path, "AVIF", upright, 1)) == "AVIF"


def test_the_default_install_reads_heic_with_pi_heif_and_refuses_to_write_it(
    tmp_path: Path, upright: np.ndarray
) -> None:
    """pillow-heif (GPL encoder) blocked, as in an install without the heif extra: the
    decode-only pi-heif opens an iPhone-style photo, and writing HEIC says what to add."""
    pytest.importorskip("pi_heif")
    heic = phone_photo(tmp_path, "HEIF", upright, 6)
    code = (
        "import sys; sys.modules['pillow_heif'] = None\n"  # import pillow_heif now fails
        "from kintsugi.engine.imageio import Image, open_image, save_image\n"
        f"image = open_image({str(heic)!r})\n"
        "print(image.metadata.source_format, image.height, image.width, 'pi_heif' in sys.modules)\n"
        "try:\n"
        f"    save_image(Image.from_array(image.to_uint(8)), {str(tmp_path / 'out.heic')!r})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, 'kintsugi[heif]' in str(exc))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": APP}, capture_output=True, text=True
    )
    h, w = upright.shape[:2]
    assert out.stdout.split() == ["HEIF", str(h), str(w), "True", "ImageWriteError", "True"], (
        out.stdout + out.stderr
    )
    assert not (tmp_path / "out.heic").exists()


def test_pillow_heif_is_loaded_only_for_a_heif_file(tmp_path: Path, upright: np.ndarray) -> None:
    jpeg = tmp_path / "a.jpg"
    PILImage.fromarray(upright).save(jpeg)
    heic = phone_photo(tmp_path, "HEIF", upright, 1)
    code = (
        "import sys; from kintsugi.engine.imageio import open_image\n"
        f"open_image({str(jpeg)!r}); print('pillow_heif' in sys.modules)\n"
        f"open_image({str(heic)!r}); print('pillow_heif' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": APP}, capture_output=True, text=True
    )
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_cli_upscales_a_heic_keeping_orientation_and_profile(
    tmp_path: Path, upright: np.ndarray
) -> None:
    from kintsugi.cli import main

    path = phone_photo(tmp_path, "HEIF", upright, 6)
    assert main(["upscale", str(path), "--model", "waifu2x-photo-x2"]) == 0
    result = open_image(tmp_path / "IMG_0001_x2.png")
    assert (result.height, result.width) == (2 * upright.shape[0], 2 * upright.shape[1])
    assert result.metadata.icc_profile == ICC
    assert main(["upscale", str(path), "--model", "waifu2x-photo-x2", "--format", "avif",
                 "-o", str(tmp_path / "big.avif")]) == 0
    assert open_image(tmp_path / "big.avif").metadata.source_format == "AVIF"
