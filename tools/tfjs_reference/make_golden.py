"""Write tests/fixtures/golden/tfjs_rrdn-x{2,3,4,8}.npz from the TF.js reference engine.

Dev tool (not shipped). Needs node and `npm install` in this folder, the UpscalerJS tarball
in $KINTSUGI_PACKAGE_CACHE (default /work/cache) and scikit-image for the photos.

    python tools/tfjs_reference/make_golden.py

Each npz holds, per crop, "<name>__input" (H, W, 3) float32 in [0, 1] and
"<name>__output" (s*H, s*W, 3) float32 as TF.js computed it, plus "info" (provenance).
Crops are small and non-square (to catch H/W mix-ups) and kept few so the fixtures stay
under ~2 MB together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from skimage import data

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARBALL = "upscalerjs-esrgan-thick-1.0.0.tgz"

# scale -> [(photo, top, left, height, width)]
CROPS: dict[int, list[tuple[str, int, int, int, int]]] = {
    2: [("astronaut", 96, 176, 48, 40), ("coffee", 120, 220, 32, 32), ("chelsea", 90, 120, 32, 32)],
    3: [("coffee", 60, 300, 40, 32), ("chelsea", 140, 200, 32, 32)],
    4: [("chelsea", 90, 120, 32, 40), ("astronaut", 300, 260, 32, 32)],
    8: [("astronaut", 96, 176, 32, 32)],
}


def crop(photo: str, top: int, left: int, height: int, width: int) -> np.ndarray:
    image = getattr(data, photo)()[top : top + height, left : left + width, :3]
    return np.ascontiguousarray(image.astype(np.float32) / 255.0)


def run_tfjs(model_dir: Path, image: np.ndarray, workdir: Path) -> np.ndarray:
    height, width, _ = image.shape
    src, dst = workdir / "in.f32", workdir / "out.f32"
    image.astype("<f4").tofile(src)
    done = subprocess.run(
        ["node", str(HERE / "run.js"), str(model_dir), str(src), str(height), str(width), str(dst)],
        check=True,
        capture_output=True,
        text=True,
    )
    shape = json.loads(done.stdout.strip().splitlines()[-1])["shape"]
    return np.fromfile(dst, dtype="<f4").reshape(shape)


def main() -> int:
    cache = Path(os.environ.get("KINTSUGI_PACKAGE_CACHE", "/work/cache"))
    out_dir = ROOT / "tests" / "fixtures" / "golden"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with tarfile.open(cache / TARBALL) as tar:
            tar.extractall(workdir, filter="data")
        for scale, crops in CROPS.items():
            model_dir = workdir / "package" / "models" / f"x{scale}"
            arrays: dict[str, np.ndarray] = {}
            for photo, top, left, height, width in crops:
                name = f"{photo}_{top}_{left}_{height}x{width}"
                image = crop(photo, top, left, height, width)
                arrays[f"{name}__input"] = image
                arrays[f"{name}__output"] = run_tfjs(model_dir, image, workdir)
                sys.stderr.write(f"x{scale} {name} done\n")
            info = {
                "engine": "@tensorflow/tfjs 4.22.0, cpu backend",
                "package": "@upscalerjs/esrgan-thick 1.0.0",
                "model": f"package/models/x{scale}/model.json",
                "photos": "scikit-image 0.26 skimage.data, crop name = photo_top_left_HxW",
            }
            arrays["info"] = np.array(json.dumps(info, sort_keys=True))
            np.savez_compressed(out_dir / f"tfjs_rrdn-x{scale}.npz", **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
