"""Saving an edit of a JPEG as JPEG (save_image(edit_of=...)): the original's compressed
blocks are kept away from the edit, so those pixels decode exactly as the original's and
the rest of the photo suffers no generation loss."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

import kintsugi
from kintsugi.engine.imageio import jpeg_edit

# Pixels farther than this from an edited pixel must decode exactly as the original's:
# up to one 16 px block (subsampled chroma) of alignment plus the decoder's reach across
# a block edge.
EXACT_BEYOND = 16 + jpeg_edit.DECODER_REACH


def jpeg_original(tmp_path, photo: np.ndarray, name: str = "photo.jpg", **save) -> kintsugi.Image:
    path = tmp_path / name
    PILImage.fromarray(photo).save(path, "JPEG", quality=save.pop("quality", 80), **save)
    return kintsugi.open_image(path)


def edited_copy(original: kintsugi.Image, box: tuple[int, int, int, int]) -> kintsugi.Image:
    y0, y1, x0, x1 = box
    pixels = original.pixels.copy()
    pixels[y0:y1, x0:x1] = 1.0 - pixels[y0:y1, x0:x1]
    return kintsugi.Image(pixels, None, original.metadata, original.bit_depth)


def decoded(path) -> np.ndarray:
    with PILImage.open(path) as pil:
        return np.asarray(pil).copy()


def far_from(box: tuple[int, int, int, int], shape: tuple[int, ...], reach: int) -> np.ndarray:
    y0, y1, x0, x1 = box
    near = np.zeros(shape[:2], np.uint8)
    near[y0:y1, x0:x1] = 1
    return cv2.dilate(near, np.ones((2 * reach + 1,) * 2, np.uint8)) == 0


# An odd size (partial blocks and MCUs at the right and bottom) in 4:2:0 and 4:4:4.
@pytest.mark.parametrize("subsampling", [2, 0])
def test_pixels_away_from_the_edit_decode_exactly_as_the_original(
        subsampling, astronaut_full, tmp_path):
    original = jpeg_original(tmp_path, astronaut_full[:301, :203], subsampling=subsampling)
    box = (120, 170, 60, 130)
    edit = edited_copy(original, box)
    out = kintsugi.save_image(edit, tmp_path / "healed.jpg", edit_of=original)
    plain = kintsugi.save_image(edit, tmp_path / "plain.jpg")

    before, after, again = decoded(tmp_path / "photo.jpg"), decoded(out), decoded(plain)
    far = far_from(box, before.shape, EXACT_BEYOND)
    assert far.mean() > 0.4
    assert np.array_equal(after[far], before[far])
    # Without edit_of the whole photo is re-encoded: the same pixels change.
    assert not np.array_equal(again[far], before[far])
    # The edit itself is in the file, at the original's quality.
    y0, y1, x0, x1 = box
    inside = np.abs(after[y0:y1, x0:x1].astype(int) - edit.to_uint(8)[y0:y1, x0:x1]).mean()
    assert inside < 6


def test_metadata_and_provenance_are_kept(astronaut_full, tmp_path):
    exif = PILImage.Exif()
    exif[0x010F] = "Test camera maker"
    original = jpeg_original(tmp_path, astronaut_full[:128, :128], exif=exif.tobytes(),
                             icc_profile=_srgb_icc())
    edit = edited_copy(original, (40, 60, 40, 60))
    out = kintsugi.save_image(edit, tmp_path / "healed.jpg", edit_of=original,
                              provenance={"healed": "factor 2"})
    with PILImage.open(out) as pil:
        assert pil.getexif()[0x010F] == "Test camera maker"
        assert pil.info.get("icc_profile") == original.metadata.icc_profile
    assert "factor 2" in (kintsugi.open_image(out).metadata.exif or b"").decode("latin-1")


def _srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_a_gray_jpeg_keeps_its_blocks_too(astronaut_full, tmp_path):
    gray = cv2.cvtColor(astronaut_full[:160, :160], cv2.COLOR_RGB2GRAY)
    original = jpeg_original(tmp_path, gray)
    box = (70, 90, 70, 90)
    out = kintsugi.save_image(edited_copy(original, box), tmp_path / "healed.jpg",
                              edit_of=original)
    before, after = decoded(tmp_path / "photo.jpg"), decoded(out)
    far = far_from(box, before.shape, EXACT_BEYOND)
    assert after.ndim == 2 and np.array_equal(after[far], before[far])


def test_an_explicit_quality_re_encodes_the_whole_photo(astronaut_full, tmp_path):
    original = jpeg_original(tmp_path, astronaut_full[:96, :128])
    box = (10, 20, 10, 20)
    out = kintsugi.save_image(edited_copy(original, box), tmp_path / "out.jpg",
                              edit_of=original, quality=95)
    before, after = decoded(tmp_path / "photo.jpg"), decoded(out)
    far = far_from(box, before.shape, EXACT_BEYOND)
    assert not np.array_equal(after[far], before[far])


@pytest.mark.parametrize("case", ["rotated", "resized", "png original"])
def test_an_edit_that_cannot_keep_blocks_is_written_as_a_new_jpeg(case, astronaut_full,
                                                                  tmp_path, caplog):
    photo = astronaut_full[:96, :128]
    if case == "png original":
        PILImage.fromarray(photo).save(tmp_path / "photo.png")
        original = kintsugi.open_image(tmp_path / "photo.png")
    else:
        exif = PILImage.Exif()
        if case == "rotated":
            exif[0x0112] = 6  # stored sideways: the decoded pixels are not the file's blocks
        original = jpeg_original(tmp_path, photo, exif=exif.tobytes())
    edit = edited_copy(original, (10, 20, 10, 20))
    if case == "resized":
        edit = kintsugi.Image(np.ascontiguousarray(edit.pixels[:, :-8]), None, edit.metadata, 8)
    caplog.set_level("INFO", logger="kintsugi.engine.imageio.jpeg_edit")
    out = kintsugi.save_image(edit, tmp_path / "out.jpg", edit_of=original)
    assert decoded(out).shape[:2] == edit.pixels.shape[:2]
    assert "saving the edit as a new JPEG" in caplog.text


def test_heal_command_keeps_a_jpeg_original_s_blocks(astronaut_full, tmp_path):
    from kintsugi.cli import main

    original = jpeg_original(tmp_path, astronaut_full[:192, :192])
    mask = np.zeros((192, 192), np.uint8)
    mask[90:110, 90:110] = 255
    PILImage.fromarray(mask).save(tmp_path / "mask.png")
    code = main(["heal", str(tmp_path / "photo.jpg"), "--mask", str(tmp_path / "mask.png"),
                 "--model", "waifu2x-photo-x2", "--feather", "8"])
    assert code == 0
    before, after = decoded(tmp_path / "photo.jpg"), decoded(tmp_path / "photo_healed.jpg")
    # The feathered mask reaches 8 px beyond the painted square.
    far = far_from((90 - 8, 110 + 8, 90 - 8, 110 + 8), before.shape, EXACT_BEYOND)
    assert np.array_equal(after[far], before[far])
    assert not np.array_equal(after[95:105, 95:105], before[95:105, 95:105])
    assert original.metadata.source_format == "JPEG"


def test_a_bytes_check_of_the_promise_catches_a_bad_splice(astronaut_full, tmp_path):
    """The splice verifies itself: kept blocks that would not decode exactly are refused."""
    jpeg_original(tmp_path, astronaut_full[:64, :64])
    buf = io.BytesIO()
    PILImage.fromarray(astronaut_full[64:128, :64]).save(buf, "JPEG", quality=80)
    everywhere = np.zeros((64, 64), bool)
    assert jpeg_edit._kept_pixels_exact(buf.getvalue(), tmp_path / "photo.jpg", everywhere) is False
    assert jpeg_edit._kept_pixels_exact((tmp_path / "photo.jpg").read_bytes(),
                                        tmp_path / "photo.jpg", everywhere) is True
