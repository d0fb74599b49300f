"""Peak memory of upscaling a 3000x2000 photo x4, against the size of the output image.

The network is replaced by a cheap x4 stand-in (nearest-neighbour) so the run takes seconds
on a CPU: what is measured is everything around the network (reading, tiling, blending,
consistency lock, writing), which is where unbounded copies would hide. The real network's
own working set is bounded by the tile size (see bench_upscale.py for its peak per tile).

    python bench/bench_memory.py [--consistency] [--format png|jpg|tif]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image as PILImage

WIDTH, HEIGHT, SCALE = 3000, 2000, 4


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_photo(folder: Path) -> Path:
    from skimage import data

    tile = data.astronaut()
    reps = (HEIGHT // tile.shape[0] + 1, WIDTH // tile.shape[1] + 1, 1)
    photo = np.tile(tile, reps)[:HEIGHT, :WIDTH]
    path = folder / "big.jpg"
    PILImage.fromarray(photo).save(path, quality=90)
    return path


def main() -> None:
    import kintsugi

    parser = argparse.ArgumentParser()
    parser.add_argument("--consistency", action="store_true")
    parser.add_argument("--format", default="png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = make_photo(Path(tmp))
        model = kintsugi.load_model("realesrgan-x4plus", device="cpu", precision="fp32")
        model.net = lambda x: F.interpolate(x, scale_factor=SCALE, mode="nearest")
        base = rss_mb()
        t0 = time.perf_counter()
        image = kintsugi.open_image(src)
        out = kintsugi.upscale(image, model, consistency=args.consistency, tile=256)
        after_upscale = rss_mb()
        kintsugi.save_image(out, Path(tmp) / f"big_x4.{args.format}")
        seconds = time.perf_counter() - t0
        peak = rss_mb()
    output_mb = WIDTH * HEIGHT * SCALE * SCALE * 3 * 4 / 2**20  # float32 result
    print(f"{WIDTH}x{HEIGHT} x{SCALE}, consistency {'on' if args.consistency else 'off'}, "
          f"writing {args.format.upper()} ({seconds:.1f} s)")
    print(f"output image (float32):      {output_mb:8.0f} MB")
    print(f"peak RSS growth, upscale:    {after_upscale - base:8.0f} MB "
          f"({(after_upscale - base) / output_mb:.2f} x output)")
    print(f"peak RSS growth, with write: {peak - base:8.0f} MB "
          f"({(peak - base) / output_mb:.2f} x output)")


if __name__ == "__main__":
    main()
