"""Seconds per training step of `kintsugi train rrdn --init rrdn-x2` on the CPU, per setting.

Rows, each a short run of the real loop (kintsugi.train.train) on the fine-tuning benchmark's
training photos with its fixed degradation, timed by the loop's progress callback (median
step after the first, which warms oneDNN up):

  fp32, NCHW      the loop as it was: fp32, channels-first (the reference, ratio 1.00)
  fp32, NHWC      channels-last network and batches (now the default for upscalers)
  bf16, NHWC      --precision bf16: forward and loss under torch.autocast, fp32 weights

Wall and CPU seconds are both printed: on a shared machine the wall time counts other
people's work too, and more compute threads than idle cores is ruinous there (every
parallel op ends at a barrier that waits for a descheduled thread), so --threads defaults to 1.

    python bench/bench_train_step.py [--size 64] [--batch 8] [--steps 6] [--threads 1]

Measured here (AMX CPU, 1 thread, load average 2.7, 64 px, batch 8): fp32 NCHW 2.71 s,
fp32 NHWC 2.33 s (1.16x), bf16 NHWC 0.65 s (4.18x). Same loop on an idle moment, fp32, 2
threads, 32 px, batch 4: 0.26 s/step; with four busy processes beside it, 2 threads 4.0 s
and 1 thread 0.89 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from bench_finetune import OPENCV_TRAIN, SKIMAGE_TRAIN, photos  # noqa: E402

ROWS = (("fp32, NCHW", "fp32", False), ("fp32, NHWC", "fp32", True), ("bf16, NHWC", "bf16", True))


def step_times(data: Path, out: Path, args: argparse.Namespace, precision: str,
               channels_last: bool) -> tuple[float, float]:
    """Median (wall, CPU) seconds of the steps after the first."""
    from kintsugi.train import TrainConfig, train
    from kintsugi.train.targets import UpscalerTarget

    marks: list[tuple[float, float]] = []
    UpscalerTarget.channels_last = channels_last
    config = TrainConfig(target="rrdn", data=data, out=out, init="rrdn-x2", size=args.size, steps=args.steps,
                         batch=args.batch, lr=1e-5, device="cpu", precision=precision, degradation="fixed",
                         val_every=10**9, log_every=10**9, save_every=10**9)
    train(config, on_progress=lambda _p: marks.append((time.monotonic(), time.process_time())))
    walls = [b[0] - a[0] for a, b in pairwise(marks)]
    cpus = [b[1] - a[1] for a, b in pairwise(marks)]
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="HR patch side")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from kintsugi.engine.device import cpu_has_native_bf16

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "photos"
        data.mkdir()
        for name, image in photos(SKIMAGE_TRAIN, OPENCV_TRAIN).items():
            Image.fromarray(image).save(data / f"{Path(name).stem}.png")
        results = {label: step_times(data, Path(tmp) / f"run{i}", args, precision, layout)
                   for i, (label, precision, layout) in enumerate(ROWS)}

    print(f"rrdn-x2 training step, batch {args.batch}, HR {args.size} px, {args.threads} thread(s), "
          f"native bf16: {cpu_has_native_bf16()}")
    reference = results[ROWS[0][0]][0]
    print(f"{'setting':<12} {'wall s':>8} {'CPU s':>8} {'speed-up':>9}")
    for label, (wall, cpu) in results.items():
        print(f"{label:<12} {wall:8.3f} {cpu:8.3f} {reference / wall:8.2f}x")


if __name__ == "__main__":
    main()
