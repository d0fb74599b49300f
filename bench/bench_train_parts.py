"""Costs of three training parts, each as a ratio to a reference measured in the same run.

  face alignment        detect + align + cache write per photo (first run) vs reading the
                        cached crops (resume, other ranks): the photos are scikit-image's
                        astronaut, camera, chelsea and coffee (BSD-3), 512 px
  discriminator step    one StyleGAN2 D step with R1 vs one without; and the amortised cost
                        of lazy R1 (every 16th step) per step
  Real-ESRGAN pairs     one batch with the x4plus defaults (sinc 0.1 per stage, final sinc
                        0.8, Poisson 0.5) vs the same model with sinc and Poisson off

    python bench/bench_train_parts.py [--threads 2] [--size 128] [--batch 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from timing import median


def alignment(folder: Path, size: int) -> tuple[float, float]:
    from kintsugi.train import align

    files = sorted(folder.glob("*.png"))
    align.aligned_faces(files[:1], size, folder / "warm")  # the detector loaded, not measured
    cache = folder / "cache"
    start = time.perf_counter()
    align.aligned_faces(files, size, cache)
    first = (time.perf_counter() - start) / len(files)
    cached = median(lambda: align.aligned_faces(files, size, cache), 5) / len(files)
    return first, cached


def discriminator(size: int, batch: int) -> tuple[float, float]:
    from kintsugi.train.discriminator import Discriminator, optimizer, train_step

    disc = Discriminator(size, width=0.25)
    opt = optimizer(disc, 1e-4, (0.0, 0.99), 16)
    real = torch.rand(batch, 3, size, size) * 2 - 1
    fake = torch.rand_like(real) * 2 - 1
    plain = median(lambda: train_step(disc, disc, opt, real, fake, gamma=0.0), 7)
    with_r1 = median(lambda: train_step(disc, disc, opt, real, fake, gamma=10.0, every=1), 7)
    return plain, with_r1


def degradation(folder: Path, size: int, batch: int) -> tuple[float, float]:
    from kintsugi.train import degrade

    photo = torch.from_numpy(np.array(Image.open(folder / "astronaut.png"))).permute(2, 0, 1).float() / 255
    hr = torch.stack([photo[:, i * 32:i * 32 + size, 100:100 + size] for i in range(batch)])
    full = degrade.RealESRGANDegradation(4)
    lean = degrade.RealESRGANDegradation(
        4, replace(degrade.STAGE1, sinc_prob=0.0, gaussian_noise_prob=1.0),
        replace(degrade.STAGE2, sinc_prob=0.0, gaussian_noise_prob=1.0), final_sinc_prob=0.0)

    def run(model: degrade.RealESRGANDegradation) -> float:
        gen = torch.Generator().manual_seed(0)  # the same seed for both; 30 draws each
        return median(lambda: model(hr, gen), 30)

    return run(lean), run(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=128, help="face / patch / D input size")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from skimage import data

    folder = Path(tempfile.mkdtemp(prefix="kintsugi-bench-"))
    for name in ("astronaut", "camera", "chelsea", "coffee"):
        Image.fromarray(np.asarray(getattr(data, name)())).save(folder / f"{name}.png")

    first, cached = alignment(folder, args.size)
    print(f"face alignment, per photo   detect+align+write {first * 1000:8.1f} ms   cached read "
          f"{cached * 1000:6.1f} ms   ratio {first / cached:6.1f}x")
    plain, r1 = discriminator(args.size, args.batch)
    lazy = plain + (r1 - plain) / 16
    print(f"D step ({args.size} px, batch {args.batch})   plain {plain * 1000:8.1f} ms   with R1 "
          f"{r1 * 1000:8.1f} ms   ratio {r1 / plain:5.2f}x   lazy (1/16) {lazy / plain:5.2f}x")
    lean, full = degradation(folder, args.size, args.batch)
    print(f"Real-ESRGAN batch ({args.batch}x{args.size} px)   no sinc/Poisson {lean * 1000:6.1f} ms   "
          f"defaults {full * 1000:6.1f} ms   ratio {full / lean:5.2f}x")


if __name__ == "__main__":
    main()
