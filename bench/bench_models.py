"""What each shipped upscaler does, measured: PSNR / SSIM against the real high-resolution
patch, next to bicubic, on real photos under fixed degradations.

Patches come from packages already installed (scikit-image's sample photos, BSD-3; OpenCV's
sample images from the Debian `opencv-doc` package when present). Each 96x96 patch is shrunk
by the scale (area), degraded, enlarged back by every model, and scored on the RGB values
(4 px border left out). Degradations, applied to the small image:
  clean | noise (Gaussian, sigma 8/255) | jpeg (quality 40) | blur+jpeg (Gaussian sigma 1, q 60)
The x4 table adds the rrdn-x4 / realesrgan-x4plus blend at 25% realness (kintsugi.blend).

    python bench/bench_models.py [--scales 4 2] [--photos N]

Cost: roughly 2 CPU-minutes per photo (two patches, four degradations, every model;
estimated from a run on a shared machine); --photos 2 is the quick run.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

PATCH = 96
BORDER = 4
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left")
OPENCV_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_PHOTOS = ("baboon.jpg", "fruits.jpg", "building.jpg", "messi5.jpg", "lena.jpg", "aero1.jpg",
                 "home.jpg")
DEGRADATIONS = ("clean", "noise", "jpeg", "blur+jpeg")
MODELS = {
    4: ("bicubic", "rrdn-x4", "realesrgan-x4plus", "realsr-df2k-x4", "blend 25% x4plus"),
    2: ("bicubic", "rrdn-x2", "waifu2x-photo-x2", "waifu2x-photo-noise1-x2",
        "waifu2x-photo-noise3-x2", "realesrgan-x4plus"),
}


def photos() -> list[tuple[str, np.ndarray]]:
    import skimage.data
    from skimage import io as skio

    found = []
    for name in SKIMAGE_PHOTOS:
        if name == "motorcycle_left":
            image = skio.imread(Path(skimage.data.__file__).parent / "motorcycle_left.png")
        else:
            image = getattr(skimage.data, name)()
        found.append((name, np.asarray(image)[..., :3]))
    for name in OPENCV_PHOTOS:
        path = OPENCV_DIR / name
        if path.is_file():
            found.append((name.split(".")[0], np.asarray(PILImage.open(path).convert("RGB"))))
    return found


def patches(images: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """Two textured patches per photo, at fixed places (centre and lower left third)."""
    out = []
    for _name, image in images:
        h, w = image.shape[:2]
        for cy, cx in ((h // 2, w // 2), (2 * h // 3, w // 3)):
            y, x = max(0, cy - PATCH // 2), max(0, cx - PATCH // 2)
            out.append(image[y : y + PATCH, x : x + PATCH].astype(np.float32) / 255)
    return out


def degrade(small: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "noise":
        return np.clip(small + rng.normal(0, 8 / 255, small.shape).astype(np.float32), 0, 1)
    if kind == "jpeg":
        return _jpeg(small, 40)
    if kind == "blur+jpeg":
        return _jpeg(cv2.GaussianBlur(small, (0, 0), 1.0), 60)
    return small


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    PILImage.fromarray(np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return np.asarray(PILImage.open(buf), np.float32) / 255


def scores(out: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import structural_similarity

    a = np.clip(out, 0, 1)[BORDER:-BORDER, BORDER:-BORDER]
    b = truth[BORDER:-BORDER, BORDER:-BORDER]
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    psnr = 10 * np.log10(1 / max(mse, 1e-12))
    return psnr, float(structural_similarity(a, b, channel_axis=2, data_range=1.0))


def run() -> None:
    import argparse

    import torch

    import kintsugi

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--photos", type=int, default=None, help="use only the first N photos")
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = photos()[: args.photos]
    hr = patches(images)
    print(f"{len(hr)} patches of {PATCH}x{PATCH} from {len(images)} photos: "
          f"{', '.join(n for n, _ in images)}")
    models = {m: kintsugi.load_model(m, device="cpu") for scale in args.scales for m in MODELS[scale]
              if m != "bicubic" and not m.startswith("blend")}
    for scale in args.scales:
        names = MODELS[scale]
        table: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        seconds: dict[str, float] = defaultdict(float)
        rng = np.random.default_rng(scale)
        for truth in hr:
            small = cv2.resize(truth, (PATCH // scale, PATCH // scale), interpolation=cv2.INTER_AREA)
            for kind in DEGRADATIONS:
                low = kintsugi.Image.from_array(degrade(small, kind, rng))
                results = {}
                for name in names:
                    start = time.perf_counter()
                    if name == "bicubic":
                        pixels = cv2.resize(low.pixels, (PATCH, PATCH), interpolation=cv2.INTER_CUBIC)
                    elif name.startswith("blend"):
                        pixels = kintsugi.blend(results["rrdn-x4"], results["realesrgan-x4plus"], 0.25).pixels
                    else:
                        results[name] = kintsugi.upscale(low, models[name], scale=scale)
                        pixels = results[name].pixels
                    seconds[name] += time.perf_counter() - start
                    table[(kind, name)].append(scores(pixels, truth))
        _print_table(scale, names, table, seconds, len(hr))


def _print_table(scale: int, names: tuple[str, ...], table: dict, seconds: dict, n: int) -> None:
    print(f"\nx{scale}: mean PSNR dB / SSIM over {n} patches (best PSNR per column marked *)")
    header = f"{'model':26}" + "".join(f"{k:>17}" for k in DEGRADATIONS) + f"{'vs bicubic':>12}{'s/patch':>9}"
    print(header)
    best = {k: max(np.mean([p for p, _ in table[(k, m)]]) for m in names) for k in DEGRADATIONS}
    for name in names:
        cells, gains = "", []
        for kind in DEGRADATIONS:
            psnr = float(np.mean([p for p, _ in table[(kind, name)]]))
            ssim = float(np.mean([q for _, q in table[(kind, name)]]))
            mark = "*" if psnr >= best[kind] - 1e-9 else " "
            cells += f"{psnr:9.2f}{mark}/{ssim:5.3f} "
            gains.append(psnr - float(np.mean([p for p, _ in table[(kind, 'bicubic')]])))
        per = seconds[name] / (n * len(DEGRADATIONS))
        print(f"{name:26}{cells}{np.mean(gains):+11.2f}{per:9.3f}")


if __name__ == "__main__":
    run()
