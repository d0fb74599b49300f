"""Two processes on the gloo backend (CPU) train with DistributedDataParallel in lock-step."""

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


def _worker(rank: int, world: int, port: int, photos: str, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from kintsugi.train import TrainConfig, train

    config = TrainConfig(target="rrdn", data=Path(photos), out=Path(out) / "run", init="none", scale=2,
                         params=dict(TINY_RRDN), size=32, steps=3, batch=2, lr=1e-2, device="cpu",
                         degradation="bicubic", val_every=3, log_every=1, seed=0)
    result = train(config)
    assert result.net is not None
    save_file({k: v.contiguous() for k, v in result.net.state_dict().items()}, str(Path(out) / f"rank{rank}.safetensors"))
    dist.destroy_process_group()


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
