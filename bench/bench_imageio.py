"""How long opening and sniffing a photo takes, against plain Pillow / OpenCV decoding;
what saving a healed JPEG costs, and keeps, against re-encoding it.

Files: a 12 MP camera JPEG (EXIF, ICC), a 12 MP 16-bit RGB TIFF, a 12 MP HEIC (when
pillow-heif is installed), all made from scikit-image's astronaut. Reported: best of
N rounds of `open_image` (decode, orientation, metadata, float conversion), of the bare
library decode it wraps, their ratio, and `sniff`. Then a 200x200 px edit of an upright
12 MP JPEG saved as JPEG with `edit_of` (the original's untouched blocks kept) and
without (re-encoded at quality 92): seconds, and the share of pixels that decode
differently from the original.

    python bench/bench_imageio.py [--rounds N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms

from timing import fastest


def photo_12mp() -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut(), (4000, 3000), interpolation=cv2.INTER_CUBIC)


def make_files(folder: Path) -> dict[str, Path]:
    rgb = photo_12mp()
    exif = PILImage.Exif()
    exif[0x010F], exif[0x0112] = "Camera", 6
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    files = {"JPEG": folder / "photo.jpg", "TIFF 16-bit": folder / "photo16.tif"}
    PILImage.fromarray(rgb).save(files["JPEG"], quality=92, exif=exif, icc_profile=icc)
    cv2.imwrite(str(files["TIFF 16-bit"]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        files["HEIC"] = folder / "photo.heic"
        PILImage.fromarray(rgb).save(files["HEIC"], "HEIF", quality=90, exif=exif.tobytes(), icc_profile=icc)
    except ImportError:
        print("pillow-heif not installed: no HEIC row")
    return files


def bare_decode(kind: str, path: Path) -> Callable[[], object]:
    if kind == "TIFF 16-bit":
        return lambda: cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)

    def pillow() -> object:
        with PILImage.open(path) as im:
            return np.asarray(im.convert("RGB"))

    return pillow


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def edited_jpeg_rows(folder: Path, rounds: int) -> None:
    from kintsugi.engine.imageio import Image, open_image, save_image

    path = folder / "upright.jpg"
    PILImage.fromarray(photo_12mp()).save(path, quality=92)
    original = open_image(path)
    pixels = original.pixels.copy()
    pixels[1400:1600, 2000:2200] = 1.0 - pixels[1400:1600, 2000:2200]
    edit = Image(pixels, None, original.metadata, 8)
    before = np.asarray(PILImage.open(path))
    print(f"{'save a 200x200 edit':<24} {'seconds':>8} {'pixels changed':>15}")
    for label, edit_of in (("keeping blocks", original), ("re-encoded q92", None)):
        quality = None if edit_of is not None else 92
        out = folder / f"{label.split()[0]}.jpg"
        seconds = fastest(lambda o=out, e=edit_of, q=quality: save_image(
            edit, o, edit_of=e, quality=q), rounds)
        changed = np.any(np.asarray(PILImage.open(out)) != before, axis=2).mean()
        print(f"{label:<24} {seconds:>6.2f} s {changed:>14.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    from kintsugi.engine.imageio import open_image, sniff

    print(f"import kintsugi: {import_seconds('kintsugi'):.3f} s;"
          f" import kintsugi.engine.imageio: {import_seconds('kintsugi.engine.imageio'):.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        print(f"{'file':<12} {'open_image':>11} {'bare decode':>12} {'ratio':>6} {'sniff':>9}")
        for kind, path in files.items():
            ours = fastest(lambda p=path: open_image(p), rounds)
            bare = fastest(bare_decode(kind, path), rounds)
            sniffed = fastest(lambda p=path: sniff(p), rounds)
            print(f"{kind:<12} {ours:>9.3f} s {bare:>10.3f} s {ours / bare:>6.2f} {sniffed * 1e3:>6.2f} ms")
        edited_jpeg_rows(Path(tmp), rounds)


if __name__ == "__main__":
    main()
