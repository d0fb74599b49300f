"""Metadata kept as an independent reader sees it: exiftool (Debian libimage-exiftool-perl).

Issue 14, fault 12: Pillow's test file broken_exif_dpi.jpg stores its resolution as text
("300300"), which cannot be written back as the number the tag must be; the whole EXIF was
dropped with it (3 of 61 tags kept). The file here is built the same way at test time (the
original is a photographer's photo, not ours to ship).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import TiffImagePlugin

from kintsugi.engine.imageio import open_image, save_image

EXIFTOOL = shutil.which("exiftool")
if EXIFTOOL is None:
    # make test installs it (make test-tools); in CI a missing reader fails, never skips
    if os.environ.get("CI") == "true":
        pytest.fail("exiftool is missing: make test-tools installs libimage-exiftool-perl",
                    pytrace=False)
    pytest.skip("exiftool is not installed (Debian: libimage-exiftool-perl; make test-tools)",
                allow_module_level=True)

X_RESOLUTION, Y_RESOLUTION, EXIF_IFD = 0x011A, 0x011B, 0x8769


def _jpeg_with_text_resolution(path: Path) -> Path:
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"MM")
    ifd[0x010F] = "NIKON CORPORATION"  # Make
    ifd[0x0110] = "NIKON D800"  # Model
    ifd[0x013B] = "Rose Tanaka"  # Artist
    ifd[0x8298] = "(c) 2013 Rose Tanaka"  # Copyright
    ifd[0x0128] = 2  # ResolutionUnit: inches
    for tag, text in ((X_RESOLUTION, "300300\x02"), (Y_RESOLUTION, "300\x02")):
        ifd.tagtype[tag] = 2  # ASCII, where a RATIONAL belongs
        ifd[tag] = text
    rational = TiffImagePlugin.IFDRational
    ifd[EXIF_IFD] = {0x829A: rational(1, 250), 0x829D: rational(8, 1), 0x8827: 400,
                     0x9003: "2013:09:11 16:45:13"}
    exif = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + ifd.tobytes(8)
    PILImage.new("RGB", (64, 48), (120, 90, 60)).save(path, exif=exif)
    return path


def _exif_tags(path: Path) -> dict[str, object]:
    run = subprocess.run([str(EXIFTOOL), "-j", "-G1", "-EXIF:all", str(path)],
                         capture_output=True, text=True, check=True)
    return {k: v for k, v in json.loads(run.stdout)[0].items() if k != "SourceFile"}


def test_only_the_tags_that_cannot_be_written_are_dropped(tmp_path, caplog) -> None:
    source = _jpeg_with_text_resolution(tmp_path / "broken_dpi.jpg")
    before = _exif_tags(source)
    assert before["IFD0:XResolution"] == "300300\x02" and before["IFD0:Artist"] == "Rose Tanaka"
    out = save_image(open_image(source), tmp_path / "out.jpg")
    after = _exif_tags(out)
    dropped = {"IFD0:XResolution", "IFD0:YResolution"}
    kept = {k: v for k, v in before.items() if k not in dropped}
    assert after == {**kept, "IFD0:Orientation": "Horizontal (normal)"}  # pixels are upright
    assert "XResolution, YResolution" in caplog.text
