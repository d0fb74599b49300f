"""The training loop shared by every target: one process, or many under torchrun.

* Batches are drawn from a generator seeded by (seed, step, rank): a resumed run continues
  with exactly the batches (and so the losses) the uninterrupted run would have had.
* Under ``torchrun --nproc_per_node N`` (WORLD_SIZE > 1) the network is wrapped in PyTorch's
  DistributedDataParallel (gloo on CPU, nccl on CUDA); only rank 0 writes files.
* Ctrl-C sets a flag; the loop stops at the next step boundary, saves, and returns.
* Rank 0 writes ``RUN/log.jsonl`` (one JSON object per logged step and per validation),
  TensorBoard events in ``RUN/tb`` when ``tensorboard`` is installed, the model file the
  registry loads and the resumable state (see :mod:`kintsugi.train.checkpoint`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from kintsugi.engine.device import pick_device
from kintsugi.train import checkpoint, discriminator
from kintsugi.train.config import TrainConfig
from kintsugi.train.data import list_images, split_images
from kintsugi.train.targets import Target, TrainConfigError, make_target

log = logging.getLogger(__name__)


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

    torch.manual_seed(config.seed)  # same initial weights on every rank
    target = make_target(config)
    split = split_images(target.usable(list_images(config.data), run), config.held_out)
    min_side = max(target.out_size, 32)
    train_set, held_set = target.photo_set(split.train, min_side, run), target.photo_set(split.held_out, min_side, run)
    log.info("training %s on %d photos (%d held out) for %d steps", config.target, len(train_set),
             len(held_set), config.steps)

    net = target.net.to(device)
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
    result = TrainResult(run=run, step=start, stopped=False, model_file=checkpoint.model_file(run))
    previous = _install_sigint(stop)
    try:
        if start == 0 and writer is not None:
            _validate(target, net, val_inputs, val_targets, 0, writer, result)
        began, step = time.monotonic(), start
        while step < config.steps:
            gen = _step_generator(config.seed, step, rank)
            batch = tuple(t.to(device) for t in target.batch(train_set, config.batch, gen))
            terms = _train_step(target, model, critic, optimizers, batch, disc, config)  # type: ignore[arg-type]
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
                disc: discriminator.Discriminator | None, config: TrainConfig) -> dict[str, float]:
    if critic is not None:
        critic.requires_grad_(False)
    terms, output = target.losses(model, batch, critic)
    total = sum(terms.values())
    optimizers["g"].zero_grad(set_to_none=True)
    total.backward()  # type: ignore[union-attr]
    target.before_optimizer_step()
    optimizers["g"].step()
    values = {k: float(v.detach()) for k, v in terms.items()}
    if critic is not None and disc is not None:
        critic.requires_grad_(True)
        values.update(discriminator.train_step(critic, disc, optimizers["d"], batch[1] * 2 - 1, output * 2 - 1,
                                               config.r1_gamma, config.r1_every))
    values["total"] = float(total.detach())  # type: ignore[union-attr]
    return values


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
