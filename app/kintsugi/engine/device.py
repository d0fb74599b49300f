"""Device and precision choice: cuda, then mps, then cpu; per model, the fastest precision
its capabilities call safe on that device."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

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


def same_device(a: torch.device, b: torch.device) -> bool:
    # "cuda" and "cuda:0" name the same GPU; moving a model every call would be costly.
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def choose_precision(allowed: Sequence[str], device: torch.device, wanted: str = "auto") -> str:
    """The compute precision for a model that is safe in `allowed` (its caps.precisions).

    "auto": fp16 on CUDA and MPS where the model allows it (bf16 on CUDA when only that is
    allowed and the GPU has it); bf16 on CPUs with native bf16 dot products (AVX512-BF16 or
    AMX: about twice the fp32 rate there); fp32 elsewhere. An explicit choice the model is
    not safe in is refused rather than silently changed.
    """
    if wanted not in PRECISION_CHOICES:
        raise DeviceError(f"unknown precision {wanted!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if wanted != "auto":
        if wanted not in allowed:
            raise DeviceError(f"this model is not safe in {wanted}; it runs in {', '.join(allowed)}")
        return wanted
    for candidate in _preferred(device):
        if candidate in allowed:
            return candidate
    return "fp32"


def _preferred(device: torch.device) -> tuple[str, ...]:
    if device.type == "cuda":
        return ("fp16", "bf16") if torch.cuda.is_bf16_supported() else ("fp16",)
    if device.type == "mps":
        return ("fp16",)
    return ("bf16",) if cpu_has_native_bf16() else ()


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AVX512-BF16 or AMX-BF16 (where oneDNN runs bf16 convs fast).

    Elsewhere bf16 is emulated and slower than fp32. KINTSUGI_CPU_BF16=0/1 overrides.
    """
    env = os.environ.get("KINTSUGI_CPU_BF16")
    if env in ("0", "1"):
        return env == "1"
    if not torch.backends.mkldnn.is_available():
        return False
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()  # not Linux: no native-bf16 claim without evidence
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


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
