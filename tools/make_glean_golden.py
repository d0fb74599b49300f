"""Dev-only: golden GLEAN output from the OFFICIAL implementation (open-mmlab mmagic, Apache-2.0).

The official module code is never part of this repository. Put an importable copy outside
it (default /work/scratch/mmagic_ref, or $KINTSUGI_MMAGIC_REF) with ``--assemble``, which
copies these mmagic files UNCHANGED from a local git mirror of open-mmlab/mmagic:

    mmagic/models/editors/glean/glean_styleganv2.py     (GLEANStyleGANv2)
    mmagic/models/editors/stylegan2/stylegan2_{generator,modules}.py
    mmagic/models/editors/stylegan1/{stylegan1_modules,stylegan_utils}.py
    mmagic/models/editors/pggan/pggan_modules.py        (equalised LR, PixelNorm)
    mmagic/models/editors/esrgan/rrdb_net.py            (RRDB)
    mmagic/models/archs/{upsample,sr_backbone,all_gather_layer}.py

and from a mirror of open-mmlab/mmcv the pure-PyTorch paths that mmcv itself runs on CPU:
``_upfirdn2d_ref`` (with its argument parsers) and ``bias_leakyrelu_ref`` /
``FusedBiasLeakyReLU``. Only the imports around them are stubs (a dict registry for
``MODELS``, ``BaseModule`` = ``nn.Module``, a no-op ``autocast``); mmcv's custom
``conv2d``/``conv_transpose2d`` are absent, so the official code takes its own fallback to
``torch.nn.functional``.

    python tools/make_glean_golden.py --assemble \
        --mmagic /work/.mirror/open-mmlab+mmagic/repo --mmcv /work/.mirror/open-mmlab+mmcv/repo
    python tools/make_glean_golden.py

Writes tests/fixtures/golden/glean_official_16to64.npz. The official configuration is
small (in 16 -> out 64, style 16, 2 mapping layers, RRDB 8 channels x 1 block, channel
multiplier 1: ch = 512 up to 32 px, 256 at 64 px), but its StyleGAN2 widths are fixed
by mmagic, so the 65 M weights are not stored: the fixture holds, for every official
state-dict key, its shape and a (scale, offset) and the weights are regenerated as
``numpy.random.default_rng(crc32(name)).standard_normal(shape, float32) * scale + offset``
(tests/archs/test_glean.py). The FIR kernel buffers are stored literally. Every tensor is
random, including the biases and noise strengths that are zero at initialisation.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import logging
import math
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden" / "glean_official_16to64.npz"
REF = Path(os.environ.get("KINTSUGI_MMAGIC_REF", "/work/scratch/mmagic_ref"))
LOG = logging.getLogger("make_glean_golden")

CONFIG = {"in_size": 16, "out_size": 64, "style_channels": 16, "num_mlps": 2, "rrdb_channels": 8,
          "num_rrdbs": 1, "channel_multiplier": 1}

MMAGIC_FILES = [
    "mmagic/models/editors/glean/glean_styleganv2.py",
    "mmagic/models/editors/esrgan/rrdb_net.py",
    "mmagic/models/editors/stylegan2/stylegan2_generator.py",
    "mmagic/models/editors/stylegan2/stylegan2_modules.py",
    "mmagic/models/editors/stylegan1/stylegan1_modules.py",
    "mmagic/models/editors/stylegan1/stylegan_utils.py",
    "mmagic/models/editors/pggan/pggan_modules.py",
    "mmagic/models/archs/upsample.py",
    "mmagic/models/archs/sr_backbone.py",
    "mmagic/models/archs/all_gather_layer.py",
]

# Package __init__ files and stubs: only the names the copied files import.
STUBS = {
    "mmagic/__init__.py": "",
    "mmagic/registry.py": '''
        class _Registry:
            def __init__(self):
                self.table = {}

            def register_module(self, name=None, module=None):
                def deco(cls):
                    self.table[name or cls.__name__] = cls
                    return cls
                return deco

            def build(self, cfg):
                cfg = dict(cfg)
                return self.table[cfg.pop("type")](**cfg)

        MODELS = _Registry()
        ''',
    "mmagic/models/__init__.py": "",
    "mmagic/models/archs/__init__.py": '''
        from .all_gather_layer import AllGatherLayer
        from .upsample import PixelShufflePack

        def pixel_unshuffle(*args, **kwargs):
            raise NotImplementedError
        ''',
    "mmagic/models/editors/__init__.py": "",
    "mmagic/models/editors/glean/__init__.py": "from .glean_styleganv2 import GLEANStyleGANv2\n",
    "mmagic/models/editors/esrgan/__init__.py": "",
    "mmagic/models/editors/stylegan2/__init__.py": "from .stylegan2_generator import StyleGAN2Generator\n",
    "mmagic/models/editors/stylegan1/__init__.py": '''
        from .stylegan1_modules import Blur, ConstantInput, EqualLinearActModule, NoiseInjection, make_kernel
        from .stylegan_utils import get_mean_latent, style_mixing
        ''',
    "mmagic/models/editors/pggan/__init__.py": '''
        from .pggan_modules import (EqualizedLR, EqualizedLRConvModule, EqualizedLRConvUpModule,
                                    EqualizedLRLinearModule, PixelNorm, equalized_lr)
        ''',
    "mmcv/__init__.py": "",
    "mmcv/ops/__init__.py": "",
    "mmcv/cnn/__init__.py": "",
    "mmcv/cnn/bricks/__init__.py": '''
        ConvModule = object  # only the discriminator's layers use it

        def build_norm_layer(*args, **kwargs):
            raise NotImplementedError
        ''',
    "mmengine/__init__.py": '''
        def print_log(*args, **kwargs):
            pass

        def is_seq_of(seq, kind):
            return isinstance(seq, (list, tuple)) and all(isinstance(x, kind) for x in seq)
        ''',
    "mmengine/model/__init__.py": '''
        import torch.nn as nn
        from .weight_init import normal_init

        class BaseModule(nn.Module):
            def __init__(self, init_cfg=None):
                super().__init__()
                self.init_cfg = init_cfg
        ''',
    "mmengine/model/weight_init.py": '''
        import torch.nn as nn

        def normal_init(module, mean=0, std=1, bias=0):
            nn.init.normal_(module.weight, mean, std)
            if getattr(module, "bias", None) is not None:
                nn.init.constant_(module.bias, bias)

        def constant_init(module, val, bias=0):
            nn.init.constant_(module.weight, val)
            if getattr(module, "bias", None) is not None:
                nn.init.constant_(module.bias, bias)

        def kaiming_init(module, a=0, mode="fan_out", nonlinearity="relu", bias=0, distribution="normal"):
            nn.init.kaiming_normal_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
            if getattr(module, "bias", None) is not None:
                nn.init.constant_(module.bias, bias)
        ''',
    "mmengine/dist.py": "def get_dist_info():\n    return 0, 1\n",
    "mmengine/runner/__init__.py": "",
    "mmengine/runner/amp.py": '''
        import contextlib

        @contextlib.contextmanager
        def autocast(enabled=True, **kwargs):
            assert not enabled, "fp16 is not part of this reference"
            yield
        ''',
    "mmengine/runner/checkpoint.py": "def _load_checkpoint_with_prefix(*args, **kwargs):\n    raise NotImplementedError\n",
}


def _git_show(repo: Path, path: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _top_level(source: str, names: set[str]) -> str:
    """The source text of the named top-level functions/classes (decorators included)."""
    lines = source.splitlines()
    parts = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names:
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            parts.append("\n".join(lines[start - 1:node.end_lineno]))
    return "\n\n\n".join(parts) + "\n"


def _write(dest: Path, rel: str, text: str) -> None:
    path = dest / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def assemble(mmagic: Path, mmcv: Path, dest: Path) -> None:
    """Copy the official files (unchanged) and write the import stubs into ``dest``."""
    for rel in MMAGIC_FILES:
        _write(dest, rel, _git_show(mmagic, rel))
    for rel, text in STUBS.items():
        _write(dest, rel, textwrap.dedent(text).lstrip())
    utils = _git_show(mmagic, "mmagic/models/utils/model_utils.py")
    _write(dest, "mmagic/models/utils/__init__.py",
           "import torch\nimport torch.nn as nn\nfrom mmengine.model.weight_init import constant_init, kaiming_init\n"
           "from torch.nn.modules.batchnorm import _BatchNorm\n\n"
           + _top_level(utils, {"default_init_weights", "make_layer", "get_module_device"}))
    up = _git_show(mmcv, "mmcv/ops/upfirdn2d.py")
    _write(dest, "mmcv/ops/upfirdn2d.py",
           "from typing import Dict, List, Union\nimport torch\nfrom torch.nn.functional import conv2d\n\n"
           + _top_level(up, {"_parse_scaling", "_parse_padding", "_get_filter_size", "_upfirdn2d_ref"})
           + "\n\ndef upfirdn2d(input, filter, up=1, down=1, padding=0, flip_filter=False, gain=1,"
             " use_custom_op=True):\n"
             "    return _upfirdn2d_ref(input, filter, up=up, down=down, padding=padding,"
             " flip_filter=flip_filter, gain=gain)\n")
    fused = _git_show(mmcv, "mmcv/ops/fused_bias_leakyrelu.py")
    _write(dest, "mmcv/ops/fused_bias_leakyrelu.py",
           "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
           + _top_level(fused, {"FusedBiasLeakyReLU", "bias_leakyrelu_ref"})
           + "\n\ndef fused_bias_leakyrelu(input, bias, negative_slope=0.2, scale=2**0.5):\n"
             "    return bias_leakyrelu_ref(input, bias, negative_slope, scale)\n")


def scale_offset(name: str, shape: tuple[int, ...]) -> tuple[float, float]:
    """Magnitudes that keep activations of a random network in a sane range."""
    if name.endswith(("weight_orig", "constant_input.input")) or "injected_noise_" in name:
        return 1.0, 0.0  # equalised-LR weights are N(0, 1) by design; noise maps are N(0, 1)
    if len(shape) >= 2:
        return 1.0 / math.sqrt(math.prod(shape[1:])), 0.0  # plain conv / linear: fan-in scaled
    if name.endswith("style_modulation.bias"):
        return 0.1, 1.0  # modulation bias is initialised to 1
    return 0.1, 0.0  # biases, noise strengths


def regenerate(name: str, shape: tuple[int, ...], scale: float, offset: float) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale) + np.float32(offset)


def photo(size: int) -> np.ndarray:
    """skimage's astronaut, face region, bicubic to size x size, RGB in [0, 1], (1, 3, s, s)."""
    from PIL import Image
    from skimage import data

    face = Image.fromarray(data.astronaut()[0:256, 128:384]).resize((size, size), Image.Resampling.BICUBIC)
    return (np.asarray(face, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assemble", action="store_true", help="(re)build the reference copy and exit")
    parser.add_argument("--mmagic", type=Path, default=Path("/work/.mirror/open-mmlab+mmagic/repo"))
    parser.add_argument("--mmcv", type=Path, default=Path("/work/.mirror/open-mmlab+mmcv/repo"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.assemble:
        assemble(args.mmagic, args.mmcv, REF)
        LOG.info("assembled the official reference in %s", REF)
        return

    sys.path.insert(0, str(REF))
    # Importing the StyleGAN2 package registers 'StyleGANv2Generator', which GLEAN builds.
    importlib.import_module("mmagic.models.editors.stylegan2")
    glean_cls = importlib.import_module("mmagic.models.editors.glean").GLEANStyleGANv2

    torch.manual_seed(0)
    net = glean_cls(**CONFIG).eval()
    names, shapes, scales, offsets, state, literals = [], [], [], [], {}, {}
    for name, tensor in net.state_dict().items():
        shape = tuple(tensor.shape)
        if name.endswith(".kernel"):  # FIR buffers: constants of the architecture
            literals[f"literal:{name}"] = tensor.numpy().copy()
            state[name] = tensor
            continue
        scale, offset = scale_offset(name, shape)
        names.append(name)
        shapes.append(shape)
        scales.append(scale)
        offsets.append(offset)
        state[name] = torch.from_numpy(regenerate(name, shape, scale, offset))
    net.load_state_dict(state, strict=True)

    x01 = photo(CONFIG["in_size"])
    with torch.no_grad():
        # mmagic's DataPreprocessor (mean = std = 127.5 on RGB 0..255) feeds [-1, 1].
        out = net(torch.from_numpy(x01) * 2 - 1).numpy()
    LOG.info("official output %s, range %.3f..%.3f, std %.3f", out.shape, out.min(), out.max(), out.std())

    ndims = np.array([len(s) for s in shapes], dtype=np.int64)
    np.savez_compressed(
        OUT, names=np.array(names), ndims=ndims, dims=np.array([d for s in shapes for d in s], dtype=np.int64),
        scales=np.array(scales, dtype=np.float64), offsets=np.array(offsets, dtype=np.float64),
        input=x01, output=out.astype(np.float32),
        config=np.array([f"{k}={v}" for k, v in CONFIG.items()]), **literals)
    LOG.info("wrote %s (%d random tensors, %d literal)", OUT, len(names), len(literals))


if __name__ == "__main__":
    main()
