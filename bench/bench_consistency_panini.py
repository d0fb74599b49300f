"""Reproduce the null-space paper's consistency figure with an untrained Panini backbone.

The paper (AAAI 2023, Table: PSNR(y, P_down(x_hat))) reports 145.7 dB for an untrained Panini
backbone with pooling decomposition at 8x on 100 CelebA-HQ faces. CelebA-HQ cannot be had
here; real photo crops from scikit-image stand in. The backbone is a full-size, randomly
initialised Panini (StyleGAN2 config-f 1024 generator) taking 128 px inputs (8x). Reported:
PSNR of the input against the 8x8 average pooling of the result, without and with the
consistency lock, in float32 and in the saved 8-bit file.

    python bench/bench_consistency_panini.py [--count N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CROPS = {  # (photo, top, left, side): faces and textures from scikit-image
    "astronaut face": ("astronaut", 20, 140, 256),
    "camera face": ("camera", 40, 170, 200),
    "chelsea": ("chelsea", 0, 80, 300),
    "coffee": ("coffee", 50, 150, 300),
    "rocket": ("rocket", 100, 150, 256),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def crop(name: str, top: int, left: int, side: int) -> np.ndarray:
    import cv2
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    piece = image[top : top + side, left : left + side, :3]
    return cv2.resize(piece, (128, 128), interpolation=cv2.INTER_AREA)


def untrained_panini_file(folder: Path) -> Path:
    from kintsugi.archs.panini import Panini
    from kintsugi.convert import save_safetensors

    torch.manual_seed(0)
    net = Panini(variant="mfr", in_size=128, head_channels=(64,))
    path = folder / "panini-untrained-8x.safetensors"
    save_safetensors(net.state_dict(), path, {"note": "random initialisation"})
    return path


def main() -> None:
    import kintsugi
    from kintsugi.engine.consistency import pool

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=len(CROPS))
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        model = kintsugi.load_model(untrained_panini_file(Path(tmp)), device="cpu")
        print(f"untrained Panini {model.net.in_size} -> {model.net.out_size} px (x{model.scale})\n")
        print(f"{'photo':16} {'free dB':>9} {'locked dB':>10} {'locked 8-bit file dB':>21} {'s':>6}")
        rows = []
        for name, spec in list(CROPS.items())[: args.count]:
            low = kintsugi.Image.from_array(crop(*spec))
            t0 = time.perf_counter()
            free = kintsugi.restore(low, model, faces=None)
            locked = kintsugi.restore(low, model, faces=None, consistency=True)
            seconds = (time.perf_counter() - t0) / 2
            path = kintsugi.save_image(locked, Path(tmp) / f"{name}.png")
            saved = kintsugi.open_image(path)
            row = [psnr(low.pixels, pool(r.pixels, 8)) for r in (free, locked, saved)]
            rows.append(row)
            print(f"{name:16} {row[0]:9.1f} {row[1]:10.1f} {row[2]:21.1f} {seconds:6.1f}")
        mean = np.mean(np.minimum(np.array(rows), 400), axis=0)
        print(f"{'mean':16} {mean[0]:9.1f} {mean[1]:10.1f} {mean[2]:21.1f}")
        print("\npaper (untrained Panini + PD, 8x, CelebA-HQ): 145.7 dB")


if __name__ == "__main__":
    main()
