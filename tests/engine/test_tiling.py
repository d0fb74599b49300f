import numpy as np
import pytest
import torch
from torch import nn

from kintsugi.engine.errors import Cancelled
from kintsugi.engine.job import Job, NullJob
from kintsugi.engine.tiling import (
    COUNT_SIDE,
    MIN_TILE,
    TilePlan,
    _cores,
    _weights,
    run_tiled,
    tile_for_budget,
)

CPU = torch.device("cpu")


@pytest.fixture
def device(test_device):
    """The device under test (KINTSUGI_TEST_DEVICE, default cpu)."""
    return torch.device(test_device)


class TinyUpscaler(nn.Module):
    """Receptive field radius 4 input px, x2 output: tiling with context >= 4 must be exact."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 12, 3, padding=1))
        self.tail = nn.Conv2d(3, 3, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.tail(self.shuffle(self.body(x)))


@pytest.fixture
def photo(astronaut_full):
    return (astronaut_full[100:190, 200:277].astype(np.float32) / 255.0)


def test_weights_are_a_partition_of_unity():
    length, scale, feather = 101, 3, 5
    total = np.zeros(length * scale)
    for c0, c1 in _cores(length, 30):
        w = _weights(c0, c1, length, feather, scale)
        lo = max(0, c0 - feather) * scale
        total[lo : lo + len(w)] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize("tile", [24, 40])
def test_tiled_equals_untiled(photo, tile):
    net = TinyUpscaler().eval()
    whole = run_tiled(net, photo, 2, TilePlan(10_000, 0, 0), CPU, torch.float32, NullJob())
    tiled = run_tiled(net, photo, 2, TilePlan(tile, 8, 4), CPU, torch.float32, NullJob())
    assert whole.shape == (180, 154, 3)
    assert np.abs(whole - tiled).max() < 1e-5


def test_progress_reports_every_tile(photo, device):
    seen = []
    job = Job(on_progress=lambda f, m: seen.append(f))
    run_tiled(TinyUpscaler().eval().to(device), photo, 2, TilePlan(32, 8, 4), device, torch.float32, job)
    # Starts at 0, reaches every tile's end (9 tiles), ends at 1, never repeats or goes back.
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(b > a for a, b in zip(seen, seen[1:], strict=False))
    assert all(any(abs(f - k / 9) < 1e-9 for f in seen) for k in range(1, 10))


def test_progress_moves_inside_a_single_tile(photo, device):
    """A one-tile run used to sit at 0% until the end: module calls now count."""
    seen = []
    job = Job(on_progress=lambda f, m: seen.append(f))
    run_tiled(TinyUpscaler().eval().to(device), photo, 2, TilePlan(10_000, 8, 4), device, torch.float32,
              job)
    inside = [f for f in seen if 0.0 < f < 1.0]
    assert len(inside) >= 5  # TinyUpscaler makes 8 module calls per forward
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(b > a for a, b in zip(seen, seen[1:], strict=False))


def test_cancel_between_tiles(photo):
    job = Job()
    calls = []

    def net(x):
        calls.append(1)
        if len(calls) == 2:
            job.cancel()
        return torch.nn.functional.interpolate(x, scale_factor=2)

    with pytest.raises(Cancelled):
        run_tiled(net, photo, 2, TilePlan(32, 8, 4), CPU, torch.float32, job)
    assert len(calls) == 2


def test_out_of_memory_halves_the_tile_and_retries(photo):
    sizes = []

    def net(x):
        sizes.append(x.shape[-1])
        if x.shape[-1] > 40:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    out = run_tiled(net, photo, 2, TilePlan(64, 4, 2), CPU, torch.float32, NullJob())
    expected = np.repeat(np.repeat(photo, 2, 0), 2, 1)
    assert np.abs(out - expected).max() < 1e-6
    assert max(sizes) > 40 and min(sizes) <= 40


def test_other_errors_are_reraised(photo):
    def net(x):
        raise ValueError("a real bug")

    with pytest.raises(ValueError, match="a real bug"):
        run_tiled(net, photo, 2, TilePlan(32, 4, 2), CPU, torch.float32, NullJob())


class Blocks(nn.Module):
    """Four blocks; the second cancels the job while the tile is running."""

    def __init__(self, job):
        super().__init__()
        self.job = job
        self.calls = []
        self.blocks = nn.ModuleList(nn.Conv2d(3, 3, 3, padding=1) for _ in range(4))

    def forward(self, x):
        if x.shape[-1] <= COUNT_SIDE:  # the tiler's call-counting probe: no side effects
            return torch.nn.functional.interpolate(x, scale_factor=2)
        for index, block in enumerate(self.blocks):
            self.calls.append(index)
            if index == 1:
                self.job.cancel()
            x = block(x)
        return torch.nn.functional.interpolate(x, scale_factor=2)


def test_cancel_is_noticed_inside_a_tile(photo):
    job = Job()
    net = Blocks(job).eval()
    with pytest.raises(Cancelled):
        run_tiled(net, photo, 2, TilePlan(10_000, 0, 0), CPU, torch.float32, job)
    assert net.calls == [0, 1]  # blocks 2 and 3 never ran
    assert not any(m._forward_pre_hooks for m in net.modules())  # hooks removed


def test_another_threads_cancel_does_not_reach_this_run(photo):
    """Two runs on one shared network overlap; cancelling one must not stop the other.

    The worker's run is held inside its forward (its cancel hooks are registered on the
    shared modules) while this thread's run goes through the same modules from start to end.
    """
    import threading

    other = Job()
    net = TinyUpscaler().eval()
    started = threading.Event()
    release = threading.Event()
    worker_id: list[int] = []
    outcome: list[object] = []

    def hold(_module, inputs):
        if threading.get_ident() in worker_id and inputs[0].shape[-1] > COUNT_SIDE:
            started.set()
            release.wait(10)

    def work():
        worker_id.append(threading.get_ident())
        try:
            outcome.append(run_tiled(net, photo, 2, TilePlan(10_000, 8, 4), CPU, torch.float32, other))
        except Cancelled as error:
            outcome.append(error)

    net.body.register_forward_pre_hook(hold)
    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert started.wait(10)
        other.cancel()  # the worker's job, while its hooks sit on the shared modules
        ours = run_tiled(net, photo, 2, TilePlan(10_000, 8, 4), CPU, torch.float32, NullJob())
    finally:
        release.set()
        worker.join(10)
    alone = run_tiled(net, photo, 2, TilePlan(10_000, 8, 4), CPU, torch.float32, NullJob())
    np.testing.assert_array_equal(ours, alone)  # our run finished, untouched by their cancel
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)  # the worker was cancelled


def test_out_of_memory_drops_the_tiles_tensors_before_emptying_the_cache(photo, monkeypatch):
    import weakref

    from kintsugi.engine import tiling

    alive: list[weakref.ref] = []
    seen_at_free: list[bool] = []

    class Greedy(nn.Module):
        def forward(self, x):
            if x.shape[-1] > 40:
                held = torch.empty(1024, device=x.device)  # a tile's activations
                alive.append(weakref.ref(held))
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    monkeypatch.setattr(tiling, "free_cached_memory",
                        lambda _device: seen_at_free.append(any(r() is not None for r in alive)))
    run_tiled(Greedy(), photo, 2, TilePlan(64, 4, 2), CPU, torch.float32, NullJob())
    assert seen_at_free and not any(seen_at_free)  # nothing of the failed tile was alive


def test_tile_budget_follows_each_networks_measured_memory():
    budget = 8 * 2**30
    thin = tile_for_budget(budget, 200.0, 2)  # a waifu2x-like network
    wide = tile_for_budget(budget, 5000.0, 2)  # a wide decoder
    assert thin > wide >= MIN_TILE
    # The output activations of the chosen tile fit the budget.
    assert (wide * 2) ** 2 * 5000.0 <= budget
    assert tile_for_budget(1.0, 1e9, 4) == MIN_TILE


def test_cpu_tile_follows_each_networks_traced_memory():
    from kintsugi.engine.tiling import CPU_TILE_MAX, auto_tile

    wide = nn.Sequential(nn.Conv2d(3, 2048, 3, padding=1), nn.Conv2d(2048, 12, 3, padding=1),
                         nn.PixelShuffle(2)).eval()
    thin = TinyUpscaler().eval()
    wide_fp32 = auto_tile(wide, CPU, torch.float32, 2)
    assert MIN_TILE < wide_fp32 < auto_tile(thin, CPU, torch.float32, 2) == CPU_TILE_MAX
    # Half the bytes per value: about sqrt(2) larger tiles.
    assert auto_tile(wide, CPU, torch.bfloat16, 2) == pytest.approx(wide_fp32 * 2**0.5, rel=0.05)
