"""Convert the four UpscalerJS RRDN models and write models/_fragments/tfjs.toml.

Dev tool (not shipped): the lead's `kintsugi models convert` reproduces the same files from
the manifest; this script is how the entries (hashes included) were produced.

    PYTHONPATH=app python tools/tfjs_reference/write_models.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import tomli_w

from kintsugi.convert import save_safetensors, sha256_file
from kintsugi.convert.tfjs import check_rrdn_topology, convert_tfjs, read_tfjs_model

ROOT = Path(__file__).resolve().parents[2]
TARBALL = "upscalerjs-esrgan-thick-1.0.0.tgz"
PURPOSE = {
    scale: (
        f"Faithful x{scale} enlargement of clean photos: sharper edges than bicubic, "
        "invents no texture; no denoising or sharpening."
    )
    for scale in (2, 3, 4, 8)
}


def entry_for(package: Path, scale: int) -> dict[str, Any]:
    model_json = f"package/models/x{scale}/model.json"
    model = read_tfjs_model(package, model_json)
    params = check_rrdn_topology(model)
    files = [{"path": p, "sha256": model.file_sha256[p]} for p in model.file_sha256]
    return {
        "id": f"rrdn-x{scale}",
        "name": f"ESRGAN thick (idealo RRDN) x{scale}",
        "arch": "rrdn",
        "kind": "upscaler",
        "scale": scale,
        "purpose": PURPOSE[scale],
        "input_range": "0..1",
        "dtype": "float16",
        "file": f"rrdn-x{scale}.safetensors",
        "sha256": "",
        "licence": "MIT",
        "licence_file": "licenses/upscalerjs-esrgan-thick.txt",
        "converter": "tfjs",
        "params": params,
        "source": {
            "registry": "npm",
            "package": "@upscalerjs/esrgan-thick",
            "version": "1.0.0",
            "artifact": TARBALL,
            "files": files,
        },
    }


def main() -> int:
    package = Path(os.environ.get("KINTSUGI_PACKAGE_CACHE", "/work/cache")) / TARBALL
    entries = []
    for scale in (2, 3, 4, 8):
        entry = entry_for(package, scale)
        path = ROOT / "models" / entry["file"]
        state = convert_tfjs(package, entry)
        save_safetensors(state, path, {"kintsugi_id": entry["id"], "arch": entry["arch"]})
        entry["sha256"] = sha256_file(path)
        entries.append(entry)
        sys.stderr.write(f"{entry['id']}: {entry['sha256']}\n")
    header = (
        "# idealo ISR RRDN models (C4 D3 G32 G0 64 T10) from npm @upscalerjs/esrgan-thick 1.0.0,\n"
        "# converted from TF.js float32 by kintsugi.convert.tfjs and stored float16: max abs\n"
        "# difference to TF.js (cpu backend) on skimage photo crops <= 2.6e-4 (fp32: 7.2e-7).\n"
        "# The package says only: trained on DIV2K, patch 128 (129 for x3), no artefact\n"
        "# reduction, no sharpening; it does not state the training loss. Outputs look\n"
        "# PSNR-trained (smooth, no invented texture); x4 beats bicubic by 0.1-1.3 dB PSNR on\n"
        "# four 256 px skimage crops downscaled bicubically.\n\n"
    )
    text = header + tomli_w.dumps({"model": entries})
    (ROOT / "models" / "_fragments" / "tfjs.toml").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
