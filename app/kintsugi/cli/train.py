"""Command line for training and fine-tuning.

    kintsugi train {rrdbnet,rrdn,panini,glean,propulse,laren,dre} --data DIR [--out RUN]
        [--init MODEL] [--prior CKPT] [--dre FILE] [--scale S] [--size N] [--steps N]
        [--batch B] [--lr LR] [--device D] [--gan-weight W] [--pixel l1|l2]
        [--degradation realesrgan|fixed|bicubic|panini] [--pooling-decomposition] [--no-align]
        [--param KEY=JSON ...] [--cosine]
    kintsugi train --resume RUN [--steps N]

Many GPUs: ``torchrun --nproc_per_node N -m kintsugi train ...`` (DistributedDataParallel).
Ctrl-C stops at the next step boundary, saves, and exits with 130; ``--resume RUN`` goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kintsugi.cli import common as shared
from kintsugi.cli.common import EXIT_CANCELLED, EXIT_OK, EXIT_USAGE

TARGETS = ("rrdbnet", "rrdn", "panini", "glean", "propulse", "laren", "dre")  # = kintsugi.train.TARGETS


def add_train_parser(subs: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = subs.add_parser("train", parents=[common], help="train or fine-tune a model on a folder of photos",
                        description=__doc__.split("\n\n")[0])
    p.add_argument("target", nargs="?", choices=TARGETS, help="what to train")
    p.add_argument("--data", type=Path, help="folder of training photos (10%% are held out for validation)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<target>)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue a run from its last checkpoint")
    p.add_argument("--init", help="model id or weights file to start from; 'none' for fresh weights")
    p.add_argument("--prior", type=Path, help="StyleGAN2 checkpoint (GAN-prior methods)")
    p.add_argument("--dre", type=Path, help="degradation encoder from `kintsugi train dre` (Panini MFR)")
    p.add_argument("--scale", type=shared.positive_int)
    p.add_argument("--size", type=shared.positive_int, help="HR patch side / output face size")
    p.add_argument("--steps", type=shared.positive_int)
    p.add_argument("--batch", type=shared.positive_int, default=4)
    p.add_argument("--lr", type=float, help="learning rate (default: the method's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=("fp32", "bf16"),
                   help="bf16: mixed-precision steps (fp32 weights), 2-3x faster on AMX CPUs and recent GPUs "
                        "(default fp32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pixel", choices=("l1", "l2"), help="pixel loss (default: the method's)")
    p.add_argument("--gan-weight", type=float, help="adversarial loss weight (default: the method's)")
    p.add_argument("--perceptual-weight", type=float, default=0.0,
                   help="needs VGG weights, which Kintsugi cannot obtain: must stay 0")
    p.add_argument("--identity-weight", type=float, default=0.0,
                   help="needs ArcFace weights, which Kintsugi cannot obtain: must stay 0")
    p.add_argument("--d-width", type=float, default=0.25, help="discriminator width (1.0 = StyleGAN2's)")
    p.add_argument("--r1-gamma", type=shared.number_in(float, 0.0, 1e6, "--r1-gamma"), default=10.0,
                   help="R1 regularisation weight of the discriminator (StyleGAN2: 10); 0 turns it off")
    p.add_argument("--r1-every", type=shared.positive_int, default=16,
                   help="apply R1 every N discriminator steps (StyleGAN2's lazy regularisation: 16)")
    p.add_argument("--degradation", choices=("realesrgan", "fixed", "bicubic", "panini"))
    p.add_argument("--no-align", dest="align", action="store_false",
                   help="face targets: the photos are aligned face crops already (FFHQ-style); "
                        "without it each face is found and aligned with the shipped RetinaFace")
    p.add_argument("--pooling-decomposition", action="store_true",
                   help="null-space projection: the output pools back to the input exactly")
    p.add_argument("--param", action="append", default=[], metavar="KEY=JSON",
                   help="architecture setting, e.g. --param style_dim=64 (tiny or custom networks)")
    p.add_argument("--cosine", action="store_true", help="cosine-annealed learning rate")
    p.add_argument("--val-every", type=shared.positive_int, default=100)
    p.add_argument("--save-every", type=shared.positive_int, default=200)
    p.add_argument("--log-every", type=shared.positive_int, default=10)
    p.add_argument("--threads", type=shared.positive_int, help="CPU threads to use")
    p.set_defaults(run=run_train)
    return p


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--param wants KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare word (variant=sr)
    return out


def _config(options: argparse.Namespace) -> Any:
    from kintsugi.train import TrainConfig
    from kintsugi.train.checkpoint import load_state

    if options.resume is not None:
        _tensors, metadata = load_state(options.resume)
        saved = json.loads(metadata["settings"])
        for key in ("data", "out", "prior", "dre"):
            saved[key] = None if saved[key] is None else Path(saved[key])
        config = TrainConfig(**saved)
        config.out, config.resume = options.resume, True
        if options.steps:
            config.steps = options.steps
        if options.device != "auto":
            config.device = options.device
        if options.precision:
            config.precision = options.precision
        return config
    if options.target is None or options.data is None:
        raise argparse.ArgumentTypeError("give a target and --data DIR (or --resume RUN)")
    return TrainConfig(
        target=options.target, data=options.data, out=options.out or Path("runs") / options.target,
        init=options.init, prior=options.prior, dre=options.dre, scale=options.scale, size=options.size,
        steps=options.steps or 1000, batch=options.batch, lr=options.lr, device=options.device,
        precision=options.precision or "fp32",
        seed=options.seed, pixel=options.pixel, gan_weight=options.gan_weight,
        perceptual_weight=options.perceptual_weight, identity_weight=options.identity_weight,
        d_width=options.d_width, r1_gamma=options.r1_gamma, r1_every=options.r1_every,
        degradation=options.degradation,
        pooling_decomposition=options.pooling_decomposition, align=options.align, params=_params(options.param),
        cosine=options.cosine, val_every=options.val_every, save_every=options.save_every,
        log_every=options.log_every)


def run_train(options: argparse.Namespace) -> int:
    from kintsugi import set_threads
    from kintsugi.train import Progress, train

    try:
        config = _config(options)
    except argparse.ArgumentTypeError as error:
        sys.stderr.write(f"kintsugi: error: {error}\n")
        return EXIT_USAGE
    set_threads(options.threads)

    def show(progress: Progress) -> None:
        eta = "" if progress.eta_s is None else f", ETA {_duration(progress.eta_s)}"
        terms = " ".join(f"{k} {v:.4f}" for k, v in progress.losses.items())
        val = "" if progress.val_psnr is None else f", held-out PSNR {progress.val_psnr:.2f} dB"
        sys.stderr.write(f"\rstep {progress.step}/{progress.steps}: {terms}{val}{eta}   ")
        if progress.val_psnr is not None:
            sys.stderr.write("\n")
        sys.stderr.flush()

    result = train(config, on_progress=show)
    sys.stderr.write("\n")
    sys.stdout.write(f"{result.model_file}\n")
    if result.stopped:
        sys.stderr.write(f"kintsugi: stopped at step {result.step}; continue with --resume {result.run}\n")
        return EXIT_CANCELLED
    return EXIT_OK


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
