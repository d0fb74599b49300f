"""Dev-only: golden Panini-Net outputs from the authors' own code (jianzhangcs/panini).

Needs a clone of https://github.com/jianzhangcs/panini holding commit
89e1b2d34866dbbed66f2988561f5f495be5c509 (a bare clone is fine: files are read with
``git show COMMIT:PATH``, so the clone's checked-out state does not matter):

    git clone --bare https://github.com/jianzhangcs/panini /tmp/panini.git
    python tools/make_panini_golden.py --repo /tmp/panini.git

Any Python with torch, numpy, Pillow, scikit-image and safetensors runs it; it never
imports Kintsugi. The official files are executed unchanged except for the edits listed
in PATCHES below, every one of which only makes a hard-coded size small (generator width
8, style dim 16, DAFI slots 2 for MFR and 3 for SR, the degradation encoder 8/16 wide)
or removes the MFR constructor's loading of a MoCo checkpoint file (random weights are
written instead), so the fixtures stay far below 1 MB. mmcv and the mmedit registry are
replaced by the small stand-ins in STUBS: the registry, weight initialisers, and mmcv's
two ops in their reference (non-CUDA) form: fused_bias_leakyrelu = leaky_relu(x + b,
0.2) * sqrt(2), and upfirdn2d = zero-insertion upsampling, padding, FIR filtering with
the flipped kernel, and decimation (written here from that definition).

Writes tests/fixtures/golden/panini_official_{mfr,sr}.safetensors (the official restorer
checkpoint's keys: ``generator.`` + the network's state dict, mmagic latent bank, FIR and
noise buffers included) and .npz (x: input in [0, 1] from the astronaut photo's face,
y: the official output in [-1, 1], unclamped).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden"
LOG = logging.getLogger("make_panini_golden")
COMMIT = "89e1b2d34866dbbed66f2988561f5f495be5c509"
WIDTH, STYLE, COND = 8, 16, 16
# variant: (in_size, out_size, DAFI slots, seed)
CONFIGS = {"mfr": (64, 128, 2, 11), "sr": (16, 64, 3, 12)}
OFFICIAL_FILES = {
    "mmedit/models/backbones/panini.py": "mmedit/models/backbones/panini.py",
    "mmedit/models/backbones/rrdb_net.py": "mmedit/models/backbones/rrdb_net.py",
    "mmedit/models/common/sr_backbone_utils.py": "mmedit/models/common/sr_backbone_utils.py",
    "mmedit/models/components/stylegan2/generator_discriminator.py":
        "mmedit/models/components/stylegan2/generator_discriminator.py",
    "mmedit/models/components/stylegan2/modules.py": "mmedit/models/components/stylegan2/modules.py",
    "mmedit/models/components/stylegan2/common.py": "mmedit/models/components/stylegan2/common.py",
}

# ---------------------------------------------------------------------------- patches
# (file, section start, old, new, count): inside `file`, in the text from `section start`
# to the next section start of the same file, `old` must occur exactly `count` times.


def _head(n_down: int) -> str:
    """MFR's IFE head for the tiny size: rrdb -> WIDTH, then n_down stride-2 convs."""
    convs = [f"nn.Conv2d(rrdb_channels, {WIDTH}, 3, 1, 1, bias=True), nn.LeakyReLU(0.2, True),"]
    convs += [f"nn.Conv2d({WIDTH}, {WIDTH}, 3, 2, 1, bias=True), nn.LeakyReLU(0.2, True),"] * n_down
    return "\n                ".join(convs)


def patches() -> list[tuple[str, str, str, str, int]]:
    panini, gen = "mmedit/models/backbones/panini.py", "mmedit/models/components/stylegan2/generator_discriminator.py"
    mfr, sr = "class Panini_MFR", "class Panini_SR"
    in_m, out_m, slots_m, _ = CONFIGS["mfr"]
    in_s, out_s, slots_s, _ = CONFIGS["sr"]
    n_m = 2 * int(np.log2(out_m)) - 2
    n_s = 2 * int(np.log2(out_s)) - 2
    top_m = in_m // 8  # three stride-2 head convs
    return [
        # generator widths: every resolution WIDTH channels
        (gen, "class StyleGANv2Generator", "self.channels = {", f"self.channels = {{r: {WIDTH} for r in "
         "(4, 8, 16, 32, 64, 128, 256, 512, 1024)}\n        self._unused = {", 1),
        # mask generator: slots x 2 x WIDTH logits (sized per variant below)
        (panini, "class AdaptiveFeatureSelect_maskgen", "view(style.shape[0], 5, 2, 512, 1, 1)",
         f"view(style.shape[0], self.outchannel // {WIDTH}, 2, {WIDTH}, 1, 1)", 1),
        # degradation encoder 64/128/256 wide -> 8/8/16, MoCo head 256 -> 16
        (panini, "class Encoder", "64", str(WIDTH), 6),
        (panini, "class Encoder", "128", str(WIDTH), 6),
        (panini, "class Encoder", "256", str(COND), 9),
        # MFR
        (panini, mfr, "        with torch.no_grad():\n            model_dict = self.deg_encoder.state_dict()",
         "        if False:  # the MoCo checkpoint file is not read: random weights\n"
         "            model_dict = self.deg_encoder.state_dict()", 1),
        (panini, mfr, "for i in range(4):", f"for i in range({int(np.log2(top_m)) - 2}):", 1),
        (panini, mfr, "nn.Conv2d(512, 512, 3, 2, 1, bias=True)", f"nn.Conv2d({WIDTH}, {WIDTH}, 3, 2, 1, bias=True)", 1),
        (panini, mfr, "nn.Conv2d(512, 256, 3, 1, 1, bias=True)", f"nn.Conv2d({WIDTH}, {WIDTH}, 3, 1, 1, bias=True)", 1),
        (panini, mfr, "nn.Linear(16 * 256, 18*style_channels)", f"nn.Linear(16 * {WIDTH}, {n_m}*style_channels)", 1),
        (panini, mfr, "AdaptiveFeatureSelect_maskgen()",
         f"AdaptiveFeatureSelect_maskgen(outchannel={WIDTH * slots_m}, stylechannel={COND})", 1),
        (panini, mfr, "for res in [64, 32, 16, 8, 4]:", f"for res in {[top_m >> k for k in range(slots_m)]}:", 1),
        (panini, mfr, "if out.size(2) <= 64:", f"if out.size(2) <= {top_m}:", 1),
        # SR
        (panini, sr, "torch.randn(1, 256)", f"torch.randn(1, {COND})", 1),
        (panini, sr, "rrdb_channels, 512, 3, 1, 1, bias=True)", f"rrdb_channels, {WIDTH}, 3, 1, 1, bias=True)", 1),
        (panini, sr, "for i in range(4):\n            print(i)", f"for i in range({slots_s - 1}):", 1),
        (panini, sr, "nn.Conv2d(512, 512, 3, 2, 1, bias=True)", f"nn.Conv2d({WIDTH}, {WIDTH}, 3, 2, 1, bias=True)", 1),
        (panini, sr, "nn.Conv2d(512, 256, 3, 1, 1, bias=True)", f"nn.Conv2d({WIDTH}, {WIDTH}, 3, 1, 1, bias=True)", 1),
        (panini, sr, "nn.Linear(16 * 256, 18*style_channels)", f"nn.Linear(16 * {WIDTH}, {n_s}*style_channels)", 1),
        (panini, sr, "AdaptiveFeatureSelect_maskgen()",
         f"AdaptiveFeatureSelect_maskgen(outchannel={WIDTH * slots_s}, stylechannel={COND})", 1),
        (panini, sr, "for res in [64, 32, 16, 8, 4]:", f"for res in {[in_s >> k for k in range(slots_s)]}:", 1),
        (panini, sr, "if out.size(2) <= 64:", f"if out.size(2) <= {in_s}:", 1),
    ]


def _mfr_head_patch(text: str) -> str:
    """The MFR head (rrdb -> 32 -> 64 -> 128 -> 512 with three stride-2 convs) -> WIDTH wide."""
    start = text.index("                nn.Conv2d(\n                    rrdb_channels, 32, 3, 1, 1, bias=True),")
    end = text.index("#res 64", start) + len("#res 64")
    return text[:start] + "                " + _head(3) + text[end:]


def _apply(files: dict[str, str]) -> dict[str, str]:
    out = dict(files)
    for path, section, old, new, count in patches():
        text = out[path]
        start = text.index(section)
        nxt = [text.find(s, start + 1) for s in ("\nclass ", "\n@BACKBONES")]
        end = min([n for n in nxt if n > 0] or [len(text)])
        body = text[start:end]
        if body.count(old) != count:
            raise SystemExit(f"{path} ({section}): expected {count} x {old!r}, found {body.count(old)}; "
                             f"is this commit {COMMIT}?")
        out[path] = text[:start] + body.replace(old, new) + text[end:]
    mfr_start = out["mmedit/models/backbones/panini.py"].index("class Panini_MFR")
    text = out["mmedit/models/backbones/panini.py"]
    out["mmedit/models/backbones/panini.py"] = text[:mfr_start] + _mfr_head_patch(text[mfr_start:])
    return out


# ---------------------------------------------------------------------------- stand-ins

STUBS = {
    "mmcv/__init__.py": '''
def is_seq_of(seq, expected_type):
    return isinstance(seq, (list, tuple)) and all(isinstance(v, expected_type) for v in seq)
def print_log(*args, **kwargs):
    pass
''',
    "mmcv/runner/__init__.py": "def load_checkpoint(*args, **kwargs):\n    raise NotImplementedError\n",
    "mmcv/runner/checkpoint.py": "def _load_checkpoint_with_prefix(*args, **kwargs):\n    raise NotImplementedError\n",
    "mmcv/utils/__init__.py": "",
    "mmcv/utils/parrots_wrapper.py": "from torch.nn.modules.batchnorm import _BatchNorm\n",
    "mmcv/cnn/__init__.py": '''
import torch.nn as nn
class ConvModule(nn.Module):  # only the discriminator builds one
    def __init__(self, *args, **kwargs):
        raise NotImplementedError
def kaiming_init(module, a=0, mode="fan_out", nonlinearity="relu", bias=0, distribution="normal"):
    nn.init.kaiming_normal_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)
def constant_init(module, val, bias=0):
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)
''',
    "mmcv/cnn/bricks/__init__.py": "",
    "mmcv/cnn/bricks/activation.py": "def build_activation_layer(cfg):\n    raise NotImplementedError\n",
    "mmcv/cnn/utils.py": '''
import torch.nn as nn
def normal_init(module, mean=0, std=1, bias=0):
    nn.init.normal_(module.weight, mean, std)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)
''',
    "mmcv/ops/__init__.py": "",
    "mmcv/ops/fused_bias_leakyrelu.py": '''
import torch
import torch.nn as nn
import torch.nn.functional as F
def fused_bias_leakyrelu(input, bias, negative_slope=0.2, scale=2 ** 0.5):
    shape = [1, -1] + [1] * (input.ndim - 2)
    return F.leaky_relu(input + bias.view(shape), negative_slope) * scale
class FusedBiasLeakyReLU(nn.Module):
    def __init__(self, num_channels, negative_slope=0.2, scale=2 ** 0.5):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.negative_slope, self.scale = negative_slope, scale
    def forward(self, input):
        return fused_bias_leakyrelu(input, self.bias, self.negative_slope, self.scale)
''',
    "mmcv/ops/upfirdn2d.py": '''
import torch
import torch.nn.functional as F
def upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):
    """Upsample by zero insertion, pad (negative = crop), FIR-filter, decimate."""
    p0, p1 = (pad[0], pad[1]) if len(pad) == 2 else (pad[0], pad[1])
    b, c, h, w = input.shape
    x = input.reshape(b * c, 1, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(b * c, 1, h * up, w * up)
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    x = x[:, :, max(-p0, 0): x.shape[2] - max(-p1, 0), max(-p0, 0): x.shape[3] - max(-p1, 0)]
    k = torch.flip(kernel, [0, 1]).view(1, 1, *kernel.shape).to(x)
    x = F.conv2d(x, k)
    x = x[:, :, ::down, ::down]
    return x.reshape(b, c, x.shape[2], x.shape[3])
''',
    "mmedit/__init__.py": "",
    "mmedit/utils/__init__.py": "import logging\ndef get_root_logger(*a, **k):\n    return logging.getLogger('mmedit')\n",
    "mmedit/models/__init__.py": "",
    "mmedit/models/registry.py": '''
class Registry:
    def __init__(self):
        self.modules = {}
    def register_module(self):
        def add(cls):
            self.modules[cls.__name__] = cls
            return cls
        return add
BACKBONES, COMPONENTS = Registry(), Registry()
''',
    "mmedit/models/builder.py": '''
def build_component(cfg):
    import mmedit.models.components.stylegan2  # registers the generator
    from mmedit.models.registry import COMPONENTS
    cfg = dict(cfg)
    return COMPONENTS.modules[cfg.pop("type")](**cfg)
''',
    "mmedit/models/common/__init__.py": '''
from .sr_backbone_utils import default_init_weights, make_layer
PixelShufflePack = None
def pixel_unshuffle(*args, **kwargs):
    raise NotImplementedError
''',
    "mmedit/models/backbones/__init__.py": "",
    "mmedit/models/components/__init__.py": "",
    "mmedit/models/components/stylegan2/__init__.py": "from .generator_discriminator import StyleGANv2Generator\n",
}


def read_official(repo: Path) -> dict[str, str]:
    def show(path: str) -> str:
        return subprocess.run(["git", "--git-dir", str(_git_dir(repo)), "show", f"{COMMIT}:{path}"],
                              check=True, capture_output=True, text=True).stdout

    return {dst: show(src) for dst, src in OFFICIAL_FILES.items()}


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


def install(folder: Path, files: dict[str, str]) -> None:
    for rel, text in {**STUBS, **files}.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n"))
    sys.path.insert(0, str(folder))


# ---------------------------------------------------------------------------- fixtures


def perturb(net: torch.nn.Module, seed: int) -> None:
    """Zero biases/noise strengths and identity BatchNorm statistics would hide bugs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point() or name.endswith(".kernel") or "injected_noise" in name:
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif t.abs().max() == 0 or name.endswith(("bias", "running_mean")) or t.ndim == 1:
                t.add_(0.2 * noise)


def face(size: int) -> torch.Tensor:
    crop = Image.fromarray(data.astronaut()[10:230, 130:350]).resize((size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def build(variant: str) -> torch.nn.Module:
    panini = importlib.import_module("mmedit.models.backbones.panini")
    in_size, out_size, _slots, _seed = CONFIGS[variant]
    cls = panini.Panini_MFR if variant == "mfr" else panini.Panini_SR
    return cls(in_size=in_size, out_size=out_size, rrdb_channels=WIDTH, num_rrdbs=1, style_channels=STYLE,
               num_mlps=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help=f"a clone of jianzhangcs/panini with {COMMIT}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        install(Path(tmp), _apply(read_official(args.repo)))
        for variant, (in_size, _out, _slots, seed) in CONFIGS.items():
            torch.manual_seed(seed)
            net = build(variant)
            perturb(net, seed)
            net.eval()
            x = face(in_size)
            with torch.no_grad():
                y = net(x * 2 - 1)
            state = {"generator." + k: v.contiguous() for k, v in net.state_dict().items()}
            save_file(state, str(OUT / f"panini_official_{variant}.safetensors"))
            np.savez_compressed(OUT / f"panini_official_{variant}.npz", x=x.numpy(), y=y.numpy())
            LOG.info("%s: %d tensors, output %s in [%.3f, %.3f]", variant, len(state), tuple(y.shape),
                     y.min().item(), y.max().item())


if __name__ == "__main__":
    main()
