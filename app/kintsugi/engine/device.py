"""Device choice: cuda, then mps, then cpu; fp16 only where it is fast and safe (CUDA)."""

from __future__ import annotations

import os

import torch

from kintsugi.engine.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str = "auto") -> torch.device:
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        name = os.environ.get("KINTSUGI_DEVICE", "auto")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is available; use --device cpu")
    if name == "mps" and not _mps_available():
        raise DeviceError("MPS was requested but this machine has no Apple GPU; use --device cpu")
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def compute_dtype(device: torch.device) -> torch.dtype:
    # CPU fp16 convolutions are slow and Real-ESRGAN is known to break in fp16 on CPU.
    return torch.float16 if device.type == "cuda" else torch.float32


def set_threads(count: int | None) -> None:
    """Respect an explicit thread count (CLI --threads / env KINTSUGI_THREADS)."""
    if count is None:
        env = os.environ.get("KINTSUGI_THREADS")
        count = int(env) if env else None
    if count:
        torch.set_num_threads(count)


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def free_cached_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
