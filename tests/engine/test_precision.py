"""Precision per model and device: the policy, quality of bf16 against fp32 on a real photo,
the consistency lock exact in every precision, and shared models never cast in place."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import kintsugi
from kintsugi.engine import device as dev
from kintsugi.engine.errors import DeviceError

CPU = torch.device("cpu")
ALL = ("fp32", "bf16", "fp16")


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def fp32_model(test_device):
    return kintsugi.load_model("realesrgan-x4plus", device=test_device, precision="fp32")


@pytest.fixture(scope="module")
def face(astronaut_full):
    return kintsugi.Image.from_array(astronaut_full[200:232, 180:212])  # eyes and nose


@pytest.fixture(scope="module")
def reference(fp32_model, face):
    return kintsugi.upscale(face, fp32_model)


def test_auto_is_bf16_only_on_cpus_with_native_bf16_and_only_where_safe(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    assert dev.choose_precision(ALL, CPU) == "bf16"
    assert dev.choose_precision(("fp32",), CPU) == "fp32"  # e.g. Panini's StyleGAN2 prior
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: False)
    assert dev.choose_precision(ALL, CPU) == "fp32"


def test_gpus_prefer_half_precision_where_safe(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda = torch.device("cuda")
    assert dev.choose_precision(ALL, cuda) == "fp16"
    assert dev.choose_precision(("fp32", "bf16"), cuda) == "bf16"
    assert dev.choose_precision(("fp32",), cuda) == "fp32"
    assert dev.choose_precision(ALL, torch.device("mps")) == "fp16"


def test_an_unsafe_explicit_precision_is_refused_not_changed():
    with pytest.raises(DeviceError, match="not safe in fp16"):
        dev.choose_precision(("fp32",), CPU, "fp16")
    with pytest.raises(DeviceError, match="unknown precision"):
        dev.choose_precision(ALL, CPU, "int8")
    assert dev.choose_precision(("fp32",), CPU, "fp32") == "fp32"


def test_cpu_flags_decide_native_bf16(monkeypatch):
    dev.cpu_has_native_bf16.cache_clear()
    monkeypatch.setattr(dev, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert dev.cpu_has_native_bf16()
    dev.cpu_has_native_bf16.cache_clear()
    monkeypatch.setattr(dev, "_cpu_flags", lambda: {"avx2", "fma"})
    assert not dev.cpu_has_native_bf16()
    dev.cpu_has_native_bf16.cache_clear()


def test_bf16_stays_within_48_db_of_fp32_on_a_real_photo(fp32_model, face, reference):
    fast = kintsugi.upscale(face, fp32_model, precision="bf16")
    assert psnr(fast.pixels, reference.pixels) >= 48
    assert psnr(fast.pixels, reference.pixels) < 200  # it really ran in bf16


@pytest.mark.parametrize("precision", ALL)
def test_consistency_lock_is_exact_in_every_precision(face, tmp_path, precision, test_device):
    # waifu2x: CPU fp16 convolutions have no fast kernel, and the lock does not care which net.
    model = kintsugi.load_model("waifu2x-photo-x2", test_device, precision=precision)
    out = kintsugi.upscale(face, model, consistency=True)
    back = np.asarray(PILImage.open(kintsugi.save_image(out, tmp_path / "locked.png")), np.int64)
    sums = back.reshape(32, 2, 32, 2, 3).sum(axis=(1, 3))
    np.testing.assert_array_equal(sums, np.asarray(face.to_uint(8), np.int64) * 4)


def test_a_shared_model_is_never_cast_in_place(fp32_model, face, reference):
    """Two calls on one Model in different precisions at once: each gets what it asked for
    and the caller's network stays fp32 (it used to be cast while its Model said fp32)."""
    before = [(p.dtype, p.data_ptr()) for p in fp32_model.net.parameters()]
    results: dict[str, kintsugi.Image] = {}

    def run(precision: str) -> None:
        results[precision] = kintsugi.upscale(face, fp32_model, precision=precision)

    threads = [threading.Thread(target=run, args=(p,)) for p in ("bf16", "fp32")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [(p.dtype, p.data_ptr()) for p in fp32_model.net.parameters()] == before
    assert fp32_model.precision == "fp32"
    np.testing.assert_array_equal(results["fp32"].pixels, reference.pixels)
    assert 48 <= psnr(results["bf16"].pixels, reference.pixels) < 200


def test_auto_keeps_the_precision_a_model_was_loaded_in(fp32_model, face, reference, monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    assert kintsugi.load_model("waifu2x-photo-x2", "cpu").precision == "bf16"
    pinned = kintsugi.upscale(face, fp32_model, precision="auto")  # a loaded Model keeps fp32
    np.testing.assert_array_equal(pinned.pixels, reference.pixels)
