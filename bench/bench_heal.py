"""Where healing helps, measured: synthetic retouching artefacts painted into 96x96 regions
of real photos, healed with kintsugi.heal, scored against the untouched photo.

Artefacts (as in tests/engine/test_heal.py): Gaussian noise sigma 0.05 plus 8x8 blockiness
(one offset per block, sigma 0.03), seed fixed per region. Reported per region and factor:
PSNR of the region before and after healing, and how much of the blockiness the artefacts
added is left (excess blockiness above the untouched photo's own: 100% = none removed).
Photos: scikit-image's astronaut, chelsea, coffee (BSD-3); OpenCV's baboon and messi5
(Debian opencv-doc, when installed). The default healer is the default shipped upscaler.

    python bench/bench_heal.py [--factors 2 3]

Measured here (2 cores shared with other jobs, so seconds are not comparable), factor 2 /
3, PSNR gain and blockiness left: astronaut face +1.54 dB 47% / -1.10 dB 118%; shifted
face +2.68 69% / +0.03 -23%; chelsea +1.78 65% / +0.48 26%; coffee cup +4.42 87% /
+3.65 57%; baboon fur -1.35 -46% / -1.83 -102%; messi5 shirt text -2.69 155% / -3.61 116%.
After the healed region kept the photo's tones (heal._with_tones_of), factor 2 (opencv-doc
absent): astronaut face +1.83 44%, shifted +2.92 72%, chelsea +2.73 65%, coffee +4.69 85%.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "engine"))
from test_heal import excess_blockiness, psnr  # noqa: E402 - the test's own measures

OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
SIZE, REGION = 192, 96


def crops() -> dict[str, np.ndarray]:
    from skimage import data

    found = {
        "astronaut face": data.astronaut()[40:232, 140:332],
        "astronaut face, shifted": data.astronaut()[60:252, 150:342],
        "chelsea (cat face)": data.chelsea()[50:242, 100:292],
        "coffee (cup)": data.coffee()[100:292, 200:392],
    }
    for name, path, (cy, cx) in (("baboon (fur)", "baboon.jpg", (256, 256)),
                                 ("messi5 (shirt text)", "messi5.jpg", (171, 274))):
        if (OPENCV / path).is_file():
            image = np.asarray(PILImage.open(OPENCV / path).convert("RGB"))
            found[name] = image[cy - SIZE // 2:cy + SIZE // 2, cx - SIZE // 2:cx + SIZE // 2]
    return {k: np.ascontiguousarray(v) for k, v in found.items()}


def retouched(clean: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    region = REGION_SLICES
    out = clean.copy()
    out[region] += rng.normal(0, 0.05, (REGION, REGION, 3)).astype(np.float32)
    blocks = rng.normal(0, 0.03, (REGION // 8, REGION // 8, 1)).astype(np.float32)
    out[region] += np.repeat(np.repeat(blocks, 8, 0), 8, 1)
    return (np.rint(np.clip(out, 0, 1) * 255) / 255).astype(np.float32)


REGION_SLICES = (slice(48, 48 + REGION), slice(48, 48 + REGION))


def main() -> None:
    import kintsugi

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[2, 3])
    factors = parser.parse_args().factors
    torch.set_num_threads(2)
    mask = np.zeros((SIZE, SIZE), np.float32)
    mask[REGION_SLICES] = 1.0
    print(f"{'region':<26}{'factor':>7}{'PSNR before':>13}{'after':>8}{'gain':>7}"
          f"{'blockiness left':>17}{'seconds':>9}")
    for seed, (name, photo) in enumerate(crops().items()):
        clean = kintsugi.Image.from_array(photo)
        damaged = retouched(clean.pixels, seed)
        own = excess_blockiness(clean.pixels[REGION_SLICES])
        added = excess_blockiness(damaged[REGION_SLICES]) - own
        for factor in factors:
            start = time.perf_counter()
            healed = kintsugi.heal(clean.replace(pixels=damaged), mask, factor=factor).pixels
            seconds = time.perf_counter() - start
            before = psnr(damaged[REGION_SLICES], clean.pixels[REGION_SLICES])
            after = psnr(healed[REGION_SLICES], clean.pixels[REGION_SLICES])
            left = (excess_blockiness(healed[REGION_SLICES]) - own) / added
            print(f"{name:<26}{factor:>7}{before:>11.2f} dB{after:>8.2f}{after - before:>+7.2f}"
                  f"{left:>16.0%}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
