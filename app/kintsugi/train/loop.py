"""The training loop shared by every target: one process, or many under torchrun.

* Batches are drawn from a generator seeded by (seed, step, rank): a resumed run continues
  with exactly the batches (and so the losses) the uninterrupted run would have had.
* Under ``torchrun --nproc_per_node N`` (WORLD_SIZE > 1) the network is wrapped in PyTorch's
  DistributedDataParallel (gloo on CPU, nccl on CUDA); only rank 0 writes files.
* Ctrl-C sets a flag; the loop stops at the next step boundary, saves, and returns.
* Speed: ``precision="bf16"`` runs forward and losses under ``torch.autocast`` (fp32 weights
  and optimiser); upscaler targets train channels-last (oneDNN's and cuDNN's fast layout);
  on an accelerator the next batch is synthesised on a background thread into pinned memory
  while the device works, cuDNN picks its kernels for the fixed crop size, and each step's
  loss terms reach the host in one transfer (one sync) rather than one per term.
* Rank 0 writes ``RUN/log.jsonl`` (one JSON object per logged step and per validation),
  TensorBoard events in ``RUN/tb`` when ``tensorboard`` is installed, the model file the
  registry loads and the resumable state (see :mod:`kintsugi.train.checkpoint`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from kintsugi.engine.device import cpu_has_native_bf16, pick_device
from kintsugi.train import checkpoint, discriminator, face_targets
from kintsugi.train.config import TrainConfig
from kintsugi.train.data import PhotoSet, list_images, split_images
from kintsugi.train.targets import Target, TrainConfigError, UpscalerTarget

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")


# Here rather than in targets.py: the face targets build on targets.py, so choosing among
# them there would make the two modules import each other.
def make_target(config: TrainConfig) -> Target:
    if config.target in ("rrdbnet", "rrdn"):
        return UpscalerTarget(config)
    builders = {"panini": face_targets.PaniniTarget, "glean": face_targets.GleanTarget,
                "propulse": face_targets.ProPulseTarget, "laren": face_targets.LarenTarget,
                "dre": face_targets.DRETarget}
    if config.target not in builders:
        raise TrainConfigError(f"unknown training target {config.target!r}")
    return builders[config.target](config)


@dataclass
class Progress:
    step: int
    steps: int
    losses: dict[str, float]
    eta_s: float | None
    val_psnr: float | None = None


@dataclass
class TrainResult:
    run: Path
    step: int
    stopped: bool  # True when Ctrl-C (or a stop request) ended the run early
    model_file: Path
    losses: list[dict[str, float]] = field(default_factory=list)  # per step, this session
    val_psnr: list[tuple[int, float]] = field(default_factory=list)
    net: nn.Module | None = None


class StopFlag:
    """Set by Ctrl-C (or by a caller); checked by the loop between steps."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def request(self, *_args: Any) -> None:
        self.event.set()

    @property
    def is_set(self) -> bool:
        return self.event.is_set()


def _rank_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + rank)


def train(config: TrainConfig, on_progress: Callable[[Progress], None] | None = None,
          stop: StopFlag | None = None) -> TrainResult:
    rank, world = _rank_world()
    device = pick_device(config.device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    stop = stop or StopFlag()
    run = config.out
    if config.resume and not (run / checkpoint.STATE_FILE).is_file():
        raise checkpoint.CheckpointError(f"{run} holds no training state; nothing to resume")
    if not config.resume and (run / checkpoint.STATE_FILE).is_file():
        raise checkpoint.CheckpointError(f"{run} already holds a run; use --resume or another --out")

    _check_precision(config.precision, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # crops have one size: time the kernels once
    torch.manual_seed(config.seed)  # same initial weights on every rank
    target = make_target(config)
    split = split_images(target.usable(list_images(config.data), run), config.held_out)
    min_side = max(target.out_size, 32)
    train_set, held_set = target.photo_set(split.train, min_side, run), target.photo_set(split.held_out, min_side, run)
    log.info("training %s on %d photos (%d held out) for %d steps", config.target, len(train_set),
             len(held_set), config.steps)

    net = target.net.to(device)
    if target.channels_last and device.type in ("cpu", "cuda"):
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (missing from the stubs)
    disc = _discriminator(target, config, device)
    lr = config.lr if config.lr is not None else target.default_lr
    optimizers: dict[str, torch.optim.Optimizer] = {"g": torch.optim.Adam(target.trainable(), lr=lr, betas=target.betas)}
    if disc is not None:
        optimizers["d"] = discriminator.optimizer(disc, lr, target.betas, config.r1_every)
    modules: dict[str, nn.Module] = {"net": net, **({"disc": disc} if disc is not None else {})}
    start = _resume(run, modules, optimizers) if config.resume else 0
    schedulers = _schedulers(optimizers, config, start)
    target.start_at(start)
    target.train_mode(True)

    model: nn.Module = net
    critic: nn.Module | None = disc
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        model = DDP(net, device_ids=ids, find_unused_parameters=target.find_unused)
        if disc is not None:
            critic = DDP(disc, device_ids=ids)

    writer = _Writer(run, config) if rank == 0 else None
    val_inputs, val_targets = (t.to(device) for t in target.validation(held_set))
    batches = _Batches(target, train_set, config, rank, device)
    cast = _autocast(config.precision, device)
    result = TrainResult(run=run, step=start, stopped=False, model_file=checkpoint.model_file(run))
    previous = _install_sigint(stop)
    try:
        if start == 0 and writer is not None:
            _validate(target, net, val_inputs, val_targets, 0, writer, result)
        began, step = time.monotonic(), start
        while step < config.steps:
            batch = batches.get(step)
            terms = _train_step(target, model, critic, optimizers, batch, disc, config, cast)  # type: ignore[arg-type]
            for scheduler in schedulers:
                scheduler.step()
            target.after_step()
            step += 1
            result.step = step
            result.losses.append(terms)
            eta = (time.monotonic() - began) / (step - start) * (config.steps - step)
            val = None
            record = {"step": step, **terms, "lr": optimizers["g"].param_groups[0]["lr"], "eta_s": round(eta, 1)}
            logged = step % config.log_every == 0 or step == config.steps
            if writer is not None:
                if logged:
                    writer.write(record)
                if step % config.val_every == 0 or step == config.steps:
                    val = _validate(target, net, val_inputs, val_targets, step, writer, result)
            if on_progress is not None:
                on_progress(Progress(step, config.steps, terms, eta, val))
            stopping = _agreed(stop.is_set, world, device)
            if writer is not None and stopping and not logged:
                writer.write(record)  # the last step's losses, whatever --log-every says
            if writer is not None and (step % config.save_every == 0 or step == config.steps or stopping):
                _save(run, target, modules, optimizers, step, config)
            if stopping:
                result.stopped = True
                log.info("stopped at step %d; resume with --resume", step)
                break
        if writer is not None and start >= config.steps:
            _save(run, target, modules, optimizers, start, config)
    finally:
        batches.close()
        _restore_sigint(previous)
        if writer is not None:
            writer.close()
    result.net = net
    return result


def _discriminator(target: Target, config: TrainConfig, device: torch.device) -> discriminator.Discriminator | None:
    if target.gan_weight <= 0:
        return None
    return discriminator.Discriminator(target.out_size, width=config.d_width).to(device)


def _schedulers(optimizers: dict[str, torch.optim.Optimizer], config: TrainConfig,
                start: int) -> list[torch.optim.lr_scheduler.LRScheduler]:
    if not config.cosine:
        return []
    out: list[torch.optim.lr_scheduler.LRScheduler] = []
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        # last_epoch=start-1 puts a resumed schedule where the first run left it.
        out.append(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps,
                                                              last_epoch=start - 1))
    return out


def _train_step(target: Target, model: nn.Module, critic: nn.Module | None,
                optimizers: dict[str, torch.optim.Optimizer], batch: tuple[torch.Tensor, torch.Tensor],
                disc: discriminator.Discriminator | None, config: TrainConfig,
                cast: Callable[[], contextlib.AbstractContextManager[Any]]) -> dict[str, float]:
    """One optimiser step for the generator, then D's (with lazy R1) when there is one; the
    loss terms.

    ``cast`` wraps the generator's forward pass and losses only (autocast's rule: backward
    outside); D runs in fp32, where R1's gradient penalty is safe.
    """
    if critic is not None:
        critic.requires_grad_(False)
    with cast():
        terms, output = target.losses(model, batch, critic)
    total = sum(terms.values())
    optimizers["g"].zero_grad(set_to_none=True)
    total.backward()  # type: ignore[union-attr]
    target.before_optimizer_step()
    optimizers["g"].step()
    values = _floats({**{k: v.detach() for k, v in terms.items()}, "total": total.detach()})  # type: ignore[union-attr]
    if critic is not None and disc is not None:
        critic.requires_grad_(True)
        values.update(discriminator.train_step(critic, disc, optimizers["d"], batch[1] * 2 - 1,
                                               output.float() * 2 - 1, config.r1_gamma, config.r1_every))
    return values


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """All terms in one device-to-host transfer: float() on each would wait for the GPU once per term."""
    values = torch.stack([t.float().reshape(()) for t in terms.values()]).tolist()
    return dict(zip(terms, values, strict=True))


def _check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise TrainConfigError(f"unknown training precision {precision!r} ({', '.join(PRECISIONS)})")
    if precision == "bf16" and device.type not in ("cpu", "cuda"):
        raise TrainConfigError(f"bf16 training runs on CPUs and CUDA GPUs, not {device.type}")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainConfigError("this GPU has no bf16 (it needs Ampere or newer); train in fp32")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("this CPU has no native bf16 (AVX512-BF16/AMX): bf16 training is emulated and slower than fp32")


def _autocast(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    if precision == "fp32":
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


class _Batches:
    """Step k's (input, target) batch on the device, made from the generator of (seed, k, rank).

    On an accelerator, the batch of step k + 1 is synthesised on a background thread into
    pinned memory while step k runs, so the device does not wait for degradation synthesis
    (blur, resize, JPEG on the CPU). Batches depend only on the step, never on the network,
    so making them early changes nothing. On a CPU there is no idle device to hide the work
    behind and a second busy thread only slows the compute threads, so they are made inline.
    """

    def __init__(self, target: Target, photos: PhotoSet, config: TrainConfig, rank: int,
                 device: torch.device, ahead: bool | None = None) -> None:
        self.target, self.photos, self.config, self.rank, self.device = target, photos, config, rank, device
        ahead = device.type != "cpu" if ahead is None else ahead
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches") if ahead else None
        self.pending: tuple[int, Future[tuple[torch.Tensor, ...]]] | None = None

    def _make(self, step: int) -> tuple[torch.Tensor, ...]:
        gen = _step_generator(self.config.seed, step, self.rank)
        batch = tuple(self.target.batch(self.photos, self.config.batch, gen))
        if self.device.type == "cuda":
            batch = tuple(t.pin_memory() for t in batch)
        return batch

    def get(self, step: int) -> tuple[torch.Tensor, ...]:
        if self.pending is not None and self.pending[0] == step:
            host = self.pending[1].result()
        else:
            host = self._make(step)
        self.pending = None
        if self.pool is not None and step + 1 < self.config.steps:
            self.pending = (step + 1, self.pool.submit(self._make, step + 1))
        layout = torch.channels_last if self.target.channels_last and self.device.type in ("cpu", "cuda") else None
        return tuple(_to(t, self.device, layout) for t in host)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _to(tensor: torch.Tensor, device: torch.device, layout: torch.memory_format | None) -> torch.Tensor:
    moved = tensor.to(device, non_blocking=True)
    if layout is not None and moved.dim() == 4:
        moved = moved.contiguous(memory_format=layout)
    return moved


@torch.no_grad()
def _validate(target: Target, net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, step: int,
              writer: _Writer, result: TrainResult) -> float:
    was_training = net.training
    net.eval()
    value = target.validate(net, inputs, targets)
    target.train_mode(was_training)
    writer.write({"step": step, target.val_name: round(value, 4)})
    result.val_psnr.append((step, value))
    return value


def _agreed(flag: bool, world: int, device: torch.device) -> bool:
    """Every rank stops at the same step if any rank was asked to stop."""
    if world == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def _install_sigint(stop: StopFlag) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, stop.request)


def _restore_sigint(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def _resume(run: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> int:
    tensors, metadata = checkpoint.load_state(run)
    for name, module in modules.items():
        state = checkpoint.module_state(tensors, name)
        if not state:
            raise checkpoint.CheckpointError(f"{run}: the saved state has no {name!r}; the settings differ")
        try:
            module.load_state_dict(state)
        except RuntimeError as error:
            raise TrainConfigError(f"{run}: the saved weights do not fit this configuration "
                                   f"({str(error).splitlines()[0]})") from None
    infos = json.loads(metadata.get("optimizers", "{}"))
    for name, optimizer in optimizers.items():
        if name in infos:
            checkpoint.restore_optimizer(name, optimizer, tensors, infos[name])
    step = int(metadata.get("step", "0"))
    log.info("resuming %s at step %d", run, step)
    return step


def _save(run: Path, target: Target, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
          step: int, config: TrainConfig) -> None:
    checkpoint.save_model(checkpoint.model_file(run), target.net.state_dict(), target.arch, target.params,
                          {"kintsugi.step": str(step), "kintsugi.target": config.target, **target.model_extra()})
    checkpoint.save_state(run, modules, optimizers, step, config.settings())


class _Writer:
    """JSON lines, plus TensorBoard scalars when the package is installed."""

    def __init__(self, run: Path, config: TrainConfig) -> None:
        run.mkdir(parents=True, exist_ok=True)
        self.handle = open(run / "log.jsonl", "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.tb: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run / "tb"))
        except ImportError:
            log.info("tensorboard is not installed; logging to log.jsonl only")
        if not config.resume:
            self.write({"event": "start", "settings": config.settings()})

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()
        if self.tb is not None and "step" in record:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        self.handle.close()
        if self.tb is not None:
            self.tb.close()
