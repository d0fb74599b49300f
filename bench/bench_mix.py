"""Which Mix to start from: PSNR / SSIM of the x4 mix of `rrdn-x4` (faithful, Mix 0) and
`realesrgan-x4plus` (realistic, Mix 1) against the real high-resolution photo.

The patches and degradations are bench_models.py's (real photo patches shrunk 4x by area
averaging, then clean, noisy, JPEG q40, or blurred + JPEG q60); each model runs once per
patch and the mixes are kintsugi.blend of the two results. With --out, the shipped sample
portrait (resources/samples/astronaut-portrait.png) shrunk 4x and enlarged at each mix is
written as one PNG per degradation, beside the original, to look at.

    python bench/bench_mix.py [--photos N] [--out FOLDER]

Measured here (22 patches, opencv-doc installed; README "Which Mix a result opens at"):
Mix 0.25 best or tied-best PSNR and SSIM on clean, noisy and JPEG photos, 0.5 best on
blurred JPEGs by 0.12 dB; Mix 1 lowest PSNR under all four.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import DEGRADATIONS, PATCH, degrade, patches, photos, scores  # noqa: E402

MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
ENDS = ("rrdn-x4", "realesrgan-x4plus")
SCALE = 4
PORTRAIT = Path(__file__).resolve().parent.parent / "resources" / "samples" / "astronaut-portrait.png"


def mixes(low: Any, models: dict[str, Any]) -> dict[float, np.ndarray]:
    import kintsugi

    faithful, realistic = (kintsugi.upscale(low, models[m], scale=SCALE) for m in ENDS)
    return {mix: kintsugi.blend(faithful, realistic, mix).pixels for mix in MIXES}


def measure(hr: list[np.ndarray], models: dict[str, Any]) -> dict[tuple[str, float], list]:
    import kintsugi

    table: dict[tuple[str, float], list[tuple[float, float]]] = defaultdict(list)
    rng = np.random.default_rng(SCALE)
    for truth in hr:
        small = cv2.resize(truth, (PATCH // SCALE, PATCH // SCALE), interpolation=cv2.INTER_AREA)
        for kind in DEGRADATIONS:
            low = kintsugi.Image.from_array(degrade(small, kind, rng))
            for mix, pixels in mixes(low, models).items():
                table[(kind, mix)].append(scores(pixels, truth))
    return table


def seconds_per_model(models: dict[str, Any]) -> dict[str, float]:
    """Each end's time on a 128x128 input (x4 -> 512x512), fastest of three runs."""
    import kintsugi

    low = kintsugi.Image.from_array(np.random.default_rng(0).random((128, 128, 3), np.float32))
    times = {}
    for name in ENDS:
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            kintsugi.upscale(low, models[name], scale=SCALE)
            runs.append(time.perf_counter() - start)
        times[name] = min(runs)
    return times


def write_portraits(models: dict[str, Any], folder: Path) -> None:
    import kintsugi

    folder.mkdir(parents=True, exist_ok=True)
    truth = kintsugi.open_image(PORTRAIT).pixels
    h, w = truth.shape[:2]
    small = cv2.resize(truth, (w // SCALE, h // SCALE), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    for kind in DEGRADATIONS:
        results = mixes(kintsugi.Image.from_array(degrade(small, kind, rng)), models)
        row = np.concatenate([truth, *results.values()], axis=1)
        cv2.imwrite(str(folder / f"portrait-{kind}.png"),
                    cv2.cvtColor(np.rint(np.clip(row, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
        print(f"{folder / f'portrait-{kind}.png'}: original, then Mix {', '.join(map(str, MIXES))}; "
              "PSNR " + " ".join(f"{scores(p, truth)[0]:.2f}" for p in results.values()))


def run() -> None:
    import torch

    import kintsugi

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--out", type=Path, default=None, help="write the portrait comparisons here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = photos()[: args.photos]
    hr = patches(images)
    models = {m: kintsugi.load_model(m, device="cpu") for m in ENDS}
    print(f"{len(hr)} patches of {PATCH}x{PATCH} from {len(images)} photos: "
          f"{', '.join(n for n, _ in images)}")
    table = measure(hr, models)
    print(f"\nx{SCALE}: mean PSNR dB / SSIM by Mix (0 = {ENDS[0]}, 1 = {ENDS[1]})")
    print(f"{'Mix':>6}" + "".join(f"{k:>17}" for k in DEGRADATIONS))
    for mix in MIXES:
        cells = "".join(f"{np.mean([p for p, _ in table[(k, mix)]]):10.2f} / "
                        f"{np.mean([q for _, q in table[(k, mix)]]):4.3f}" for k in DEGRADATIONS)
        print(f"{mix:6.2f}{cells}")
    times = seconds_per_model(models)
    print("\nseconds per 128x128 input: " + ", ".join(f"{m} {t:.2f}" for m, t in times.items()))
    if args.out:
        write_portraits(models, args.out)


if __name__ == "__main__":
    run()
