"""Two processes on the gloo backend (CPU) train with DistributedDataParallel in lock-step
(with the discriminator and its R1 term), and MoCo shares one key queue across them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

TINY_RRDN = {"C": 2, "D": 1, "G": 8, "G0": 8, "T": 1}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _leave() -> None:
    """Both ranks past their last collective before either tears gloo down: a rank that
    destroys the group while the other still talks to it aborts the other ("terminate called
    without an active exception", seen once in a fresh-clone CI run on a loaded machine)."""
    dist.barrier()
    dist.destroy_process_group()


def _worker(rank: int, world: int, port: int, photos: str, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from kintsugi.train import TrainConfig, train

    config = TrainConfig(target="rrdn", data=Path(photos), out=Path(out) / "run", init="none", scale=2,
                         params=dict(TINY_RRDN), size=32, steps=3, batch=2, lr=1e-2, device="cpu",
                         degradation="bicubic", val_every=3, log_every=1, seed=0,
                         gan_weight=0.1, d_width=0.05, r1_every=2)  # R1's double backward through DDP too
    result = train(config)
    assert result.net is not None
    assert [("r1" in step) for step in result.losses] == [True, False, True]
    save_file({k: v.contiguous() for k, v in result.net.state_dict().items()}, str(Path(out) / f"rank{rank}.safetensors"))
    _leave()


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights(photos, tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(photos), str(tmp_path)), nprocs=2, join=True)
    first = load_file(str(tmp_path / "rank0.safetensors"))
    second = load_file(str(tmp_path / "rank1.safetensors"))
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    # Rank 0 wrote the run, and the weights moved from where both ranks started.
    import kintsugi
    from kintsugi.archs.rrdn import RRDN

    trained = kintsugi.load_model(tmp_path / "run" / "run.safetensors", device="cpu",
                                 precision="fp32").net.state_dict()
    for key in first:
        assert torch.equal(trained[key].float(), first[key].float())
    torch.manual_seed(0)  # what train() does before building the network
    start = RRDN(scale=2, **TINY_RRDN).state_dict()
    assert not torch.equal(start["pre_blocks.weight"], first["pre_blocks.weight"])


TINY_DRE = {"widths": [8, 8, 8], "dim": 16, "queue": 64}


def _dre_worker(rank: int, world: int, port: int, photos: str, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from kintsugi.train import TrainConfig, face_targets, train

    last: dict[str, torch.Tensor] = {}
    original = face_targets.DRETarget.after_step

    def record(self: face_targets.DRETarget) -> None:
        assert self.keys is not None
        last["keys"] = self.keys.detach().clone()  # this rank's keys of the step, before enqueuing
        original(self)

    face_targets.DRETarget.after_step = record  # type: ignore[method-assign]
    config = TrainConfig(target="dre", data=Path(photos), out=Path(out) / "dre", size=32, params=dict(TINY_DRE),
                         steps=3, batch=2, device="cpu", val_every=3, log_every=1, align=False)
    net = train(config).net
    assert isinstance(net, face_targets.MoCo)
    # Shuffle BN undone correctly: with the key encoder in eval mode (no batch statistics),
    # keys through the cross-rank shuffle equal the plain ones, row for row.
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(rank))
    net.encoder_k.eval()
    for buffer in net.encoder_k.buffers():  # BatchNorm statistics of the last step differ per rank
        dist.broadcast(buffer, 0)  # (DDP re-sends rank 0's at every forward; do it once here)
    shuffled, plain = net.keys(images), net.encoder_k(images)
    save_file({"queue": net.queue.contiguous(), "pointer": net.pointer.reshape(1), "keys": last["keys"],
               "shuffled": shuffled, "plain": plain}, str(Path(out) / f"dre{rank}.safetensors"))
    _leave()


@pytest.mark.slow
def test_moco_queues_hold_every_ranks_keys_and_are_identical(photos, tmp_path):
    mp.spawn(_dre_worker, args=(2, _free_port(), str(photos), str(tmp_path)), nprocs=2, join=True)
    ranks = [load_file(str(tmp_path / f"dre{r}.safetensors")) for r in range(2)]
    assert torch.equal(ranks[0]["queue"], ranks[1]["queue"])
    assert int(ranks[0]["pointer"]) == int(ranks[1]["pointer"]) == 3 * 2 * 2  # steps x ranks x batch
    newest = ranks[0]["queue"][8:12]  # the last step enqueued rank 0's keys, then rank 1's
    torch.testing.assert_close(newest, torch.cat([ranks[0]["keys"], ranks[1]["keys"]]))
    for one in ranks:
        torch.testing.assert_close(one["shuffled"], one["plain"], atol=1e-5, rtol=0)


def _align_worker(rank: int, world: int, port: int, portraits: str, out: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from kintsugi.train import align

    detected: list[str] = []
    real = align._align_photo

    def counted(path: Path, size: int, detector: object) -> list[torch.Tensor]:
        detected.append(path.name)
        return real(path, size, detector)

    align._align_photo = counted  # type: ignore[assignment]
    found = align.aligned_faces(sorted(Path(portraits).iterdir()), 64, Path(out) / "cache")
    save_file({"crops": torch.stack(found.crops), "detected": torch.tensor([len(detected)])},
              str(Path(out) / f"faces{rank}.safetensors"))
    _leave()


@pytest.mark.slow
def test_rank_zero_aligns_and_the_other_ranks_read_its_cache(tmp_path):
    from PIL import Image

    data = pytest.importorskip("skimage.data")
    portraits = tmp_path / "portraits"
    portraits.mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(getattr(data, name)()).save(portraits / f"{name}.png")
    mp.spawn(_align_worker, args=(2, _free_port(), str(portraits), str(tmp_path)), nprocs=2, join=True)
    ranks = [load_file(str(tmp_path / f"faces{r}.safetensors")) for r in range(2)]
    assert [int(r["detected"]) for r in ranks] == [2, 0]  # detection ran on rank 0 only
    assert torch.equal(ranks[0]["crops"], ranks[1]["crops"]) and len(ranks[0]["crops"]) == 1
