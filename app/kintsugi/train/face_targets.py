"""Training targets for the GAN-prior face methods (Panini, GLEAN, Pro-PULSE, LAREN) and
MoCo pre-training of Panini's degradation encoder (``dre``).

All of them train on face crops aligned to the FFHQ template with the shipped RetinaFace
(:mod:`kintsugi.train.align`; ``--no-align``: the photos are aligned crops already and the
centre square is taken) and need a StyleGAN2 prior (``--prior``) for results that mean anything; without one
the generator is random, which is only good for checking that the code runs (a warning says
so). ``--param`` overrides architecture settings, so tests use tiny networks.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from kintsugi.archs import arch_by_id
from kintsugi.archs.propulse import downsample
from kintsugi.engine.device import pick_device
from kintsugi.train import losses
from kintsugi.train.align import aligned_faces, cache_folder
from kintsugi.train.config import TrainConfig
from kintsugi.train.data import PhotoSet
from kintsugi.train.degrade import PaniniDegradation, resize
from kintsugi.train.targets import Batch, Target, TrainConfigError, face_degradation

log = logging.getLogger(__name__)


def _load_prior(generator: nn.Module, prior: Any) -> None:
    from kintsugi.archs.gan_layouts import find_stylegan2
    from kintsugi.engine.registry import read_state_dict

    if prior is None:
        log.warning("no --prior: the StyleGAN2 generator is random; this run only exercises the code")
        return
    state = read_state_dict(prior)
    found = find_stylegan2(state)
    if found is None:
        raise TrainConfigError(f"{prior} holds no StyleGAN2 generator")
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        raise TrainConfigError(f"{prior}: the prior does not fit this network ({str(error).splitlines()[0]})") from None


def face_photo_set(config: TrainConfig, files: list[Path], size: int, min_side: int, run: Path) -> PhotoSet:
    """Aligned face crops of ``size`` px (detected once, cached in the run), or with
    ``--no-align`` the photos as they are."""
    if not config.align:
        return PhotoSet(files, min_side)
    found = aligned_faces(files, size, cache_folder(run, size), str(pick_device(config.device)))
    return PhotoSet.of(found.crops, found.names)


def photos_with_faces(config: TrainConfig, files: list[Path], size: int, run: Path) -> list[Path]:
    if not config.align:
        return files
    return aligned_faces(files, size, cache_folder(run, size), str(pick_device(config.device))).with_face


class FaceTarget(Target):
    """LR face -> HR face through a UnitRangeWrapper'd GAN-prior network."""

    default_scale = 16
    default_size = 1024
    frozen_prior = True
    default_degradation = "bicubic"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.arch = config.target
        size = config.size or int(config.params.get("out_size", self.default_size))
        scale = config.scale or self.default_scale
        if size % scale or size // scale < 4:
            raise TrainConfigError(f"--size {size} / --scale {scale} must give an input of 4 px or more")
        self.size, self.scale = size, scale
        self.params = {**self.base_params(size // scale, size), **config.params, "scale": scale}
        self.params["out_size"], self.params["in_size"] = size, size // scale
        if config.init and config.init != "none":
            self.net = self._from_init(config.init)
        else:
            self.net = arch_by_id(self.arch).build(**self.params)
            _load_prior(self.raw.generator, config.prior)
        self.net = self.net.float().train()
        self.net.requires_grad_(True)
        if self.frozen_prior:
            self.raw.generator.requires_grad_(False)
        self.degrade = face_degradation(config.degradation or self.default_degradation, scale)

    def usable(self, files: list[Path], run: Path) -> list[Path]:
        return photos_with_faces(self.config, files, self.size, run)

    def photo_set(self, files: list[Path], min_side: int, run: Path) -> PhotoSet:
        return face_photo_set(self.config, files, self.size, min_side, run)

    def base_params(self, in_size: int, out_size: int) -> dict[str, Any]:
        return {"in_size": in_size, "out_size": out_size}

    def _from_init(self, init: str) -> nn.Module:
        from kintsugi.engine.registry import load_model

        model = load_model(init, device="cpu", precision="fp32")  # not bf16-rounded weights
        if model.info.arch != self.arch:
            raise TrainConfigError(f"--init {init} is a {model.info.arch} model, not {self.arch}")
        self.params = dict(model.info.params)
        return model.net

    @property
    def raw(self) -> Any:
        return self.net.net  # the [-1, 1] network inside the UnitRangeWrapper

    @property
    def out_size(self) -> int:
        return self.size

    def batch(self, photos: PhotoSet, count: int, gen: torch.Generator) -> Batch:
        hr = photos.faces(count, self.size, gen)
        lr = self.degrade(hr, gen)
        if lr.shape[-1] != self.size // self.scale:  # size-keeping degradations (Panini Eq. 10)
            lr = resize(lr, (self.size // self.scale, self.size // self.scale), "bicubic").clamp(0, 1)
        return lr, hr


class GleanTarget(FaceTarget):
    """GLEAN: frozen StyleGAN2; MSE 1.0 + GAN 0.01 (+ perceptual 0.01, unavailable), lr 1e-4."""

    default_pixel = "l2"
    default_gan = 0.01


class LarenTarget(GleanTarget):
    """LAREN: GLEAN's losses and frozen prior (paper III-D); Adam(0.9, 0.999), lr 1e-4."""

    betas = (0.9, 0.999)


class PaniniTarget(FaceTarget):
    """Panini-Net: L1 + adversarial (+ VGG perceptual, unavailable); the whole network but the
    frozen DRE is fine-tuned; MFR learns from Eq. 10 pairs at 512 -> 1024, SR from bicubic
    x16. The paper's GAN weight is in its appendix, which we do not have: 0.01 (GLEAN's)."""

    frozen_prior = False
    default_gan = 0.01
    default_scale = 2

    def __init__(self, config: TrainConfig) -> None:
        variant = config.params.get("variant", "mfr")
        self.default_scale = 2 if variant == "mfr" else 16
        self.default_degradation = "panini" if variant == "mfr" else "bicubic"
        super().__init__(config)
        if variant == "mfr":
            encoder = self.raw.deg_encoder
            if config.dre is not None:
                encoder.load_state_dict(_dre_weights(config.dre))
            else:
                log.warning("no --dre: the degradation encoder is untrained (run `kintsugi train dre` first)")
            encoder.requires_grad_(False)  # fixed during fine-tuning (paper, Training and Loss)

    def train_mode(self, mode: bool) -> None:
        super().train_mode(mode)
        if self.config.params.get("variant", "mfr") == "mfr":
            self.raw.deg_encoder.eval()  # frozen: its BatchNorm statistics stay the pre-trained ones


def _dre_weights(path: Any) -> dict[str, torch.Tensor]:
    from kintsugi.engine.registry import read_state_dict

    state = read_state_dict(path)
    prefix = "encoder_q.encoder."
    picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        raise TrainConfigError(f"{path} is not a degradation encoder from `kintsugi train dre`")
    return picked


class ProPulseTarget(FaceTarget):
    """Pro-PULSE's three trainings in one run, split by step (paper IV: G_ds and E_W 50k
    iterations each, E_W+ 10k per scale; here in those proportions of --steps):

    1. G_ds: side branches, L_pix between each side output and the final image downsampled
       (Eq. 2), from random z (the perceptual term of Eq. 1 needs VGG: off);
    2. E_W: L_rec between the LR input and every output downsampled to it (Eq. 6) + L_adv
       0.01 (Eq. 8; the identity loss Eq. 7 needs ArcFace: off);
    3. E_W+, scale by scale: the same losses, with the codes of scales up to the current one
       from E_W+ and E_W's w for the rest (Eq. 10).

    Only the parts a phase trains receive its gradients (the others are dropped before the
    optimiser step), as the paper trains one sub-network at a time.
    """

    default_pixel = "l2"
    default_gan = 0.01
    find_unused = True

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        stages = self.raw.num_stages
        weights = [50.0, 50.0] + [60.0 / stages] * stages
        total = sum(weights)
        bounds, acc = [], 0.0
        for w in weights:
            acc += w
            bounds.append(round(config.steps * acc / total))
        self.bounds = bounds  # phase p covers steps [bounds[p-1], bounds[p])
        self.step = 0

    def phase(self, step: int) -> int:
        """0: G_ds, 1: E_W, 2..: E_W+ at stage phase - 1."""
        return next((i for i, b in enumerate(self.bounds) if step < b), len(self.bounds) - 1)

    def losses(self, model: nn.Module, batch: Batch, disc: nn.Module | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        phase = self.phase(self.step)
        lr, hr = batch
        if phase == 0:
            z = torch.randn(lr.shape[0], self.raw.style_dim, generator=torch.Generator().manual_seed(self.step))
            final, sides = model(z.to(lr), return_sides=True, from_z=True)
            target = final.detach()
            pix = torch.stack([F.mse_loss(s, downsample(target, s.shape[-1])) for s in sides]).mean()
            return {"pixel": self.config.pixel_weight * pix}, (final + 1) / 2
        stage = phase - 1
        final, sides = model(lr, return_sides=True, stage=stage)
        outputs = [(o + 1) / 2 for o in (*sides, final)]
        rec = torch.stack([losses.pixel_loss(downsample(o, lr.shape[-1]), lr, self.pixel) for o in outputs]).mean()
        terms = {"pixel": self.config.pixel_weight * rec}
        if disc is not None:
            terms["gan"] = self.gan_weight * losses.generator_adversarial(disc(outputs[-1] * 2 - 1))
        return terms, outputs[-1]

    def trainable_now(self) -> list[nn.Module]:
        phase = self.phase(self.step)
        raw = self.raw
        return [raw.sides] if phase == 0 else [raw.encoder_w] if phase == 1 else [raw.encoder_wplus]

    def before_optimizer_step(self) -> None:
        keep = {id(p) for m in self.trainable_now() for p in m.parameters()}
        for p in self.trainable():
            if id(p) not in keep:
                p.grad = None

    def after_step(self) -> None:
        self.step += 1
        self.raw.stage.fill_(max(0, self.phase(self.step) - 1))

    def start_at(self, step: int) -> None:
        self.step = step
        self.raw.stage.fill_(max(0, self.phase(step) - 1))

    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs)


# -- MoCo pre-training of Panini's degradation encoder -------------------------------------


class _Query(nn.Module):
    """Panini's DRE and a 2-layer MLP head (as in DASR's MoCo set-up, which Panini follows)."""

    def __init__(self, widths: tuple[int, ...], dim: int) -> None:
        super().__init__()
        from kintsugi.archs.panini import DegradationEncoder

        self.encoder = DegradationEncoder(widths)
        # The DRE's own ``mlp`` slot (kept in Panini checkpoints, unused at inference) is not
        # the projection head here: ``head`` is. Frozen, so DDP sees no unused trainables.
        self.encoder.mlp.requires_grad_(False)
        self.head = nn.Sequential(nn.Linear(widths[-1], widths[-1]), nn.LeakyReLU(0.1), nn.Linear(widths[-1], dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.encoder(x)), dim=1)


class MoCo(nn.Module):
    """Momentum contrast (He et al. 2020): queries, a momentum key encoder and a key queue.

    Positives: two different photos degraded by the same draw of Eq. 10 (Panini's UDRL);
    negatives: the queue of earlier keys. Loss: InfoNCE with temperature t.

    Under DistributedDataParallel, as in MoCo: the keys of every rank are gathered
    (``all_gather``, concatenated in rank order) before they are enqueued, so all ranks hold
    the same queue of all ranks' keys; and the key encoder sees the key batch shuffled
    across ranks ("shuffle BN"): its BatchNorm statistics then mix samples from other
    ranks, so a query cannot find its positive through batch statistics. In one process
    there is nothing to shuffle with (as in DASR's single-GPU MoCo, which Panini follows).
    The shuffle's permutation is drawn from a generator seeded by the queue pointer, which
    is the same on every rank, so no rank has to send it.
    """

    queue: torch.Tensor
    pointer: torch.Tensor

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256), dim: int = 256, queue: int = 8192,
                 momentum: float = 0.999, temperature: float = 0.07) -> None:
        super().__init__()
        self.encoder_q = _Query(widths, dim)
        self.encoder_k = copy.deepcopy(self.encoder_q).requires_grad_(False)
        self.momentum, self.temperature = momentum, temperature
        self.register_buffer("queue", F.normalize(torch.randn(queue, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.int64))

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.encoder_q(query)
        with torch.no_grad():
            k = self.keys(key)
        positive = (q * k).sum(1, keepdim=True)
        negative = q @ self.queue.t()
        logits = torch.cat([positive, negative], 1) / self.temperature
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
        return loss, k

    @torch.no_grad()
    def keys(self, key: torch.Tensor) -> torch.Tensor:
        """The key encoder's output for this rank's key images (shuffled across ranks under DDP)."""
        if not _distributed():
            return self.encoder_k(key)
        world, rank = dist.get_world_size(), dist.get_rank()
        everything = gather(key)
        order = torch.randperm(len(everything), generator=torch.Generator().manual_seed(int(self.pointer)))
        mine = order.view(world, -1)[rank].to(key.device)
        encoded = gather(self.encoder_k(everything[mine]))  # row j is the key of image order[j]
        unshuffled = torch.empty_like(encoded)
        unshuffled[order.to(key.device)] = encoded
        return unshuffled.view(world, -1, *encoded.shape[1:])[rank]

    @torch.no_grad()
    def update(self, keys: torch.Tensor) -> None:
        """Momentum step of the key encoder, then every rank's keys into the queue."""
        for pk, pq in zip(self.encoder_k.parameters(), self.encoder_q.parameters(), strict=True):
            pk.mul_(self.momentum).add_(pq.detach(), alpha=1 - self.momentum)
        if _distributed():
            keys = gather(keys)
        n, size = len(keys), len(self.queue)
        start = int(self.pointer)
        index = (torch.arange(n, device=keys.device) + start) % size
        self.queue[index] = keys
        self.pointer.fill_((start + n) % size)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@torch.no_grad()
def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` (same shape on all), concatenated in rank order."""
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


class DRETarget(Target):
    """``kintsugi train dre``: MoCo pre-training of Panini's degradation encoder (UDRL)."""

    default_lr = 1e-3  # DASR's encoder pre-training rate (Panini does not give its own)

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.arch = "dre"
        self.params = {"widths": [64, 128, 256], "dim": 256, "queue": 8192, **config.params}
        self.net = MoCo(tuple(self.params["widths"]), int(self.params["dim"]), int(self.params["queue"])).train()
        self.size = config.size or 128
        self.degrade = PaniniDegradation()
        self.keys: torch.Tensor | None = None
        self.gan_weight = 0.0

    @property
    def out_size(self) -> int:
        return self.size

    def usable(self, files: list[Path], run: Path) -> list[Path]:
        return photos_with_faces(self.config, files, self.size, run)

    def photo_set(self, files: list[Path], min_side: int, run: Path) -> PhotoSet:
        return face_photo_set(self.config, files, self.size, min_side, run)

    def batch(self, photos: PhotoSet, count: int, gen: torch.Generator) -> Batch:
        """Rows 0..B-1 of query and key share a degradation draw but not a photo."""
        queries, keys = [], []
        for _ in range(count):
            pair = photos.random_crops(2, self.size, gen)
            state = gen.get_state()
            queries.append(self.degrade(pair[:1], gen))
            gen.set_state(state)  # the same draw of Eq. 10 for the key
            keys.append(self.degrade(pair[1:], gen))
        return torch.cat(queries), torch.cat(keys)

    def losses(self, model: nn.Module, batch: Batch, disc: nn.Module | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        loss, self.keys = model(*batch)
        return {"infonce": loss}, batch[0]

    def after_step(self) -> None:
        if self.keys is not None:
            self.net.update(self.keys)  # type: ignore[operator]

    def validation(self, photos: PhotoSet) -> Batch:
        gen = torch.Generator().manual_seed(10_000)
        return self.batch(photos, max(2, len(photos)), gen)

    val_name = "val_top1"

    def validate(self, net: nn.Module, inputs: torch.Tensor, keys: torch.Tensor) -> float:
        """Top-1 accuracy (%) of matching each query to the key with its degradation."""
        q = net.encoder_q(inputs)  # type: ignore[operator]
        k = net.encoder_q(keys)  # type: ignore[operator]
        hits = ((q @ k.t()).argmax(1) == torch.arange(len(q), device=q.device)).float().mean()
        return float(hits) * 100.0
