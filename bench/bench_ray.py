"""Files per minute: the local batch against the Ray batch on this machine, same folder.

    python bench/bench_ray.py [--files 12] [--size 96] [--model realesrgan-x4plus] [--workers N]

Both runs upscale the same photos (crops of a real photo) into separate folders; the outputs
are checked to be byte-identical. The Ray figure is given twice: with the start of a local
Ray instance (what one `kintsugi upscale --ray` pays) and on an instance already running (what
a long archive batch sees). On a 2-core machine expect little or no gain: the point is that
the same batch runs unchanged on a cluster.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from kintsugi.engine.batch import BatchOptions, plan_batch, run_batch


def make_photos(folder: Path, count: int, size: int) -> None:
    from skimage import data

    image = data.astronaut()  # a real 512x512 photo
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for n in range(count):
        top, left = rng.integers(0, image.shape[0] - size, 2)
        PILImage.fromarray(image[top:top + size, left:left + size]).save(folder / f"p{n:03}.png")


def files_per_minute(count: int, seconds: float) -> float:
    return count * 60.0 / seconds


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--size", type=int, default=96, help="side of each photo in px")
    parser.add_argument("--model", default=None, help="model id (default: the default model)")
    parser.add_argument("--workers", type=int, default=None, help="Ray workers (default: cores)")
    args = parser.parse_args()

    import ray
    import torch

    from kintsugi.engine.cluster import run_batch_on_ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_photos(root / "in", args.files, args.size)
        opts = BatchOptions(model=args.model)

        def plan(name: str):
            return plan_batch([root / "in"], root / name, opts)

        t0 = time.perf_counter()
        local = run_batch(plan("local"), opts)
        local_s = time.perf_counter() - t0

        # torch's threads spin-wait for each other: on a busy machine one thread can beat two.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        local1 = run_batch(plan("local-1-thread"), opts)
        local1_s = time.perf_counter() - t0
        torch.set_num_threads(threads)

        t0 = time.perf_counter()
        cold = run_batch_on_ray(plan("ray-cold"), opts, workers=args.workers)
        cold_s = time.perf_counter() - t0

        ray.init(num_cpus=args.workers, include_dashboard=False, configure_logging=False,
                 log_to_driver=False)
        try:
            t0 = time.perf_counter()
            warm = run_batch_on_ray(plan("ray-warm"), opts, workers=args.workers)
            warm_s = time.perf_counter() - t0
        finally:
            ray.shutdown()

        assert local.done == local1.done == cold.done == warm.done == args.files
        same = (outputs(root / "local") == outputs(root / "local-1-thread")
                == outputs(root / "ray-cold") == outputs(root / "ray-warm"))

    model = args.model or "default model"
    print(f"{args.files} photos {args.size}x{args.size}, {model}, outputs byte-identical: {same}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'run':34} {'seconds':>8} {'files/min':>10} {'vs local':>9}")
    for name, seconds in [(f"local batch ({threads} torch threads)", local_s),
                          ("local batch (1 torch thread)", local1_s),
                          ("Ray, incl. starting a local Ray", cold_s),
                          ("Ray, instance already running", warm_s)]:
        print(f"{name:34} {seconds:8.1f} {files_per_minute(args.files, seconds):10.1f} "
              f"{local_s / seconds:8.2f}x")


if __name__ == "__main__":
    main()
