"""The CLI's stderr holds Kintsugi's lines only: the image libraries' own messages (Pillow
warnings and log records, libpng/libtiff/OpenCV prints) go to the debug log (issue 7, 3b)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

tifffile = pytest.importorskip("tifffile")

APP = str(Path(__file__).resolve().parents[2] / "app")
NOISE = ("Warning", "warnings.warn", "[ERROR", "libpng", "libtiff", "compression support",
         "ERROR:", "Traceback", "DEBUG")


def _patch_tiff_entry(path: Path, tag: int, value_or_offset: int) -> None:
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags[tag].offset
    data = bytearray(path.read_bytes())
    data[entry + 8 : entry + 12] = value_or_offset.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _noisy_files(folder: Path) -> dict[str, Path]:
    rgb = np.full((6, 8, 3), 120, np.uint8)
    files = {name: folder / name for name in
             ("warns.tif", "phase.tif", "webp.tif", "samples.tif", "broken16.png")}
    # Good files whose reading made the libraries talk:
    # a private tag pointing past the end (Pillow: UserWarning with its source line);
    tifffile.imwrite(files["warns.tif"], rgb, photometric="rgb",
                     extratags=[(65000, "s", 0, "x" * 100, False)])
    _patch_tiff_entry(files["warns.tif"], 65000, 1_000_000)
    # a float TIFF without Photometric (OpenCV: "[ERROR:0@...] ... can't read header").
    phase = np.linspace(-3, 3, 48, dtype=np.float32).reshape(6, 8)
    tifffile.imwrite(files["phase.tif"], phase, photometric=None)
    # Bad files, each of which must give exactly one line from Kintsugi:
    # WebP compression (libtiff: "WEBP compression support is not configured", three times);
    tifffile.imwrite(files["webp.tif"], rgb, photometric="rgb")
    _patch_tiff_entry(files["webp.tif"], 259, 50001)
    # 65535 samples per pixel (Pillow's logger: "More samples per pixel than can be decoded");
    tifffile.imwrite(files["samples.tif"], rgb, photometric="rgb")
    _patch_tiff_entry(files["samples.tif"], 277, 65535)
    # a 16-bit PNG with a broken zlib stream (libpng: "libpng error: IDAT: ...").
    buf = io.BytesIO()
    PILImage.fromarray(np.full((6, 8), 40000, np.uint16)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    idat = data.index(b"IDAT")
    data[idat + 6 : idat + 12] = b"\xff" * 6
    files["broken16.png"].write_bytes(bytes(data))
    return files


def _upscale(files: list[Path], out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": APP, "KINTSUGI_THREADS": "1"}
    args = [sys.executable, "-m", "kintsugi", "upscale", *map(str, files),
            "--model", "waifu2x-photo-x2", "--out-dir", str(out), *extra]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a CLI process: torch and a model load
def test_cli_stderr_is_kintsugis_lines_only(tmp_path: Path) -> None:
    files = _noisy_files(tmp_path)
    run = _upscale(list(files.values()), tmp_path / "out")
    lines = run.stderr.splitlines()
    errors = [line for line in lines if line.startswith("kintsugi: error:")]
    assert errors == [
        "kintsugi: error: webp.tif: TIFF with WebP compression is not supported "
        "(save it with LZW, Deflate, JPEG or no compression)",
        "kintsugi: error: samples.tif is damaged or is not really a TIFF file",
        "kintsugi: error: broken16.png is truncated or damaged "
        "(broken data stream when reading image file)",
    ], run.stderr
    assert not [line for line in lines if any(word in line for word in NOISE)], run.stderr
    # Every other line is Kintsugi's progress or summary, about one of these files.
    others = [line for line in lines if line not in errors]
    stems = [path.stem for path in files.values()]
    assert all(any(s in line for s in stems) or "done" in line for line in others), run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["phase_x2.tif", "warns_x2.tif"]


@pytest.mark.slow
def test_cli_debug_shows_the_libraries_words(tmp_path: Path) -> None:
    files = _noisy_files(tmp_path)
    run = _upscale([files["broken16.png"], files["samples.tif"]], tmp_path / "out", "--debug")
    assert "kintsugi: DEBUG: libpng error: IDAT" in run.stderr
    assert "More samples per pixel than can be decoded" in run.stderr
