"""Does `kintsugi train` improve a real model? Fine-tune rrdn-x2 on CPU, measure held-out PSNR.

The degradation is fixed and documented (kintsugi.train.degrade.FixedDegradation): Gaussian
blur sigma 1.0 px, bicubic downsampling x2, Gaussian noise sigma 5/255, JPEG quality 60.
Training photos and held-out photos are disjoint real photos from installed packages:
scikit-image's data (BSD-3-Clause) and, when Debian's opencv-doc is installed, OpenCV's
sample photos (Apache-2.0 / BSD-3-Clause, /usr/share/doc/opencv-doc/copyright).

Held-out evaluation: a 256x256 centre crop of each held-out photo, degraded with a seed of
its own, upscaled by the starting model and by the fine-tuned one (both loaded through
kintsugi.load_model in fp32); PSNR on RGB in [0, 1] against the crop, plus bicubic for reference.

    python bench/bench_finetune.py --steps 5000 --size 64 --batch 8

Measured here (1 thread at nice 10 on 2 CPU cores shared with other jobs, bf16 autocast on an
AMX CPU): 5000 steps in 4588 s (0.92 s/step); held-out mean PSNR 26.09 dB (rrdn-x2) ->
27.14 dB (fine-tuned), bicubic 26.30 dB; every held-out photo gains (+0.30 to +1.63 dB).
The earlier run, 42 steps of batch 4 at 32 px in fp32 on 2 threads under a load of ~20
(98 s/step: thread oversubscription, see bench_train_step.py), reached 26.51 dB. Ctrl-C
during training stops at a step boundary and the benchmark evaluates what was trained so far.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
SKIMAGE_TRAIN = ("chelsea", "coffee", "rocket")
OPENCV_TRAIN = ("aero1.jpg", "aero3.jpg", "home.jpg", "squirrel_cls.jpg", "messi5.jpg", "left.jpg",
                "leuvenA.jpg", "orange.jpg", "apple.jpg", "butterfly.jpg", "fruits.jpg", "board.jpg")
SKIMAGE_HELD = ("astronaut",)
OPENCV_HELD = ("baboon.jpg", "building.jpg", "leuvenB.jpg", "right.jpg")
CROP = 256


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    return np.asarray(getattr(data, name)())


def _opencv(name: str) -> np.ndarray | None:
    path = OPENCV / name
    return np.asarray(Image.open(path).convert("RGB")) if path.is_file() else None


def photos(skimage_names: tuple[str, ...], opencv_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {name: _skimage(name) for name in skimage_names}
    for name in opencv_names:
        image = _opencv(name)
        if image is not None:
            out[name] = image
    return out


def held_out_pairs(scale: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from kintsugi.train.degrade import FixedDegradation

    degrade = FixedDegradation(scale)
    pairs = {}
    for i, (name, image) in enumerate(photos(SKIMAGE_HELD, OPENCV_HELD).items()):
        hr = torch.from_numpy(image.copy()).permute(2, 0, 1).float()[None] / 255.0
        top, left = (hr.shape[-2] - CROP) // 2, (hr.shape[-1] - CROP) // 2
        hr = hr[..., top:top + CROP, left:left + CROP]
        pairs[name] = (degrade(hr, torch.Generator().manual_seed(500 + i)), hr)
    return pairs


def psnr(out: torch.Tensor, ref: torch.Tensor) -> float:
    mse = F.mse_loss(out.clamp(0, 1), ref).item()
    return 10 * np.log10(1.0 / mse)


@torch.no_grad()
def evaluate(model_ref: str | Path, pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    import kintsugi

    # fp32 for both models: "auto" would pick bf16 on AMX CPUs and blur the comparison.
    net = kintsugi.load_model(model_ref, device="cpu", precision="fp32").net
    return {name: psnr(net(lr), hr) for name, (lr, hr) in pairs.items()}


def idle_cores() -> int:
    """Cores not busy with other work. On a shared machine, more compute threads than idle
    cores is ruinous, not just slower: every parallel op ends at a barrier that waits for a
    descheduled thread (measured here: 2 threads under a load of 6 on 2 cores, 4-9 s/step;
    1 thread, 0.9 s/step)."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, cores - round(os.getloadavg()[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--size", type=int, default=48, help="HR patch side")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: the idle cores, by the load average; at least 1)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                        help="training precision (default: bf16 on CPUs with native bf16, else fp32)")
    parser.add_argument("--out", type=Path, default=None, help="keep the run here (default: a temp dir)")
    args = parser.parse_args()
    from kintsugi.engine.device import cpu_has_native_bf16
    from kintsugi.train import TrainConfig, train

    threads = args.threads or idle_cores()
    torch.set_num_threads(threads)
    precision = args.precision or ("bf16" if cpu_has_native_bf16() else "fp32")

    pairs = held_out_pairs(scale=2)
    before = evaluate("rrdn-x2", pairs)
    bicubic = {name: psnr(F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False), hr)
               for name, (lr, hr) in pairs.items()}

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "photos"
        data.mkdir()
        train_photos = photos(SKIMAGE_TRAIN, OPENCV_TRAIN)
        for name, image in train_photos.items():
            Image.fromarray(image).save(data / f"{Path(name).stem}.png")
        run = args.out or Path(tmp) / "rrdn-x2-finetuned"
        config = TrainConfig(target="rrdn", data=data, out=run, init="rrdn-x2", size=args.size,
                             steps=args.steps, batch=args.batch, lr=args.lr, device="cpu", precision=precision,
                             degradation="fixed", val_every=max(1, args.steps // 20), log_every=10,
                             save_every=args.steps)
        began = time.monotonic()
        result = train(config)
        seconds = time.monotonic() - began
        after = evaluate(result.model_file, pairs)

    print(f"rrdn-x2 fine-tuned {result.step} steps (batch {args.batch}, HR patches {args.size} px, "
          f"lr {args.lr}, {precision}, {threads} threads) on {len(train_photos)} photos in {seconds:.0f} s "
          f"({seconds / max(1, result.step):.2f} s/step)")
    print(f"{'held-out photo':<16} {'bicubic':>8} {'rrdn-x2':>8} {'tuned':>8} {'gain':>7}")
    for name in pairs:
        print(f"{name:<16} {bicubic[name]:8.2f} {before[name]:8.2f} {after[name]:8.2f} {after[name] - before[name]:+7.2f}")
    mean = {k: float(np.mean(list(v.values()))) for k, v in (("bicubic", bicubic), ("before", before), ("after", after))}
    print(f"{'mean':<16} {mean['bicubic']:8.2f} {mean['before']:8.2f} {mean['after']:8.2f} "
          f"{mean['after'] - mean['before']:+7.2f}  (PSNR dB, RGB, 256 px crops)")
    print(json.dumps({"steps": result.step, "seconds": round(seconds, 1), "mean_psnr": mean,
                      "train_val_psnr": result.val_psnr}))


if __name__ == "__main__":
    main()
