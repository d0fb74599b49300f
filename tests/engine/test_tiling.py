import numpy as np
import pytest
import torch
from torch import nn

from kintsugi.engine.errors import Cancelled
from kintsugi.engine.job import Job, NullJob
from kintsugi.engine.tiling import TilePlan, _cores, _weights, run_tiled

CPU = torch.device("cpu")


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


def test_progress_reports_every_tile(photo):
    seen = []
    job = Job(on_progress=lambda f, m: seen.append(f))
    run_tiled(TinyUpscaler().eval(), photo, 2, TilePlan(32, 8, 4), CPU, torch.float32, job)
    # A start report, then one per tile.
    assert len(seen) == 10 and seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


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
    import threading

    other = Job()
    net = TinyUpscaler().eval()
    started = threading.Event()
    release = threading.Event()

    def hold(_module, _inputs):
        started.set()
        release.wait(5)

    handle = net.body.register_forward_pre_hook(hold)
    worker = threading.Thread(
        target=run_tiled, args=(net, photo, 2, TilePlan(10_000, 8, 4), CPU, torch.float32, other))
    worker.start()
    assert started.wait(5)
    handle.remove()
    other.cancel()  # cancels the worker's job, not ours
    release.set()
    worker.join(10)
    out = run_tiled(net, photo, 2, TilePlan(10_000, 8, 4), CPU, torch.float32, NullJob())
    assert out.shape == (180, 154, 3)
