"""The trainer on the upscaler targets (rrdn, rrdbnet), with tiny networks and real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import kintsugi
from kintsugi.train import StopFlag, TrainConfig, train
from kintsugi.train.checkpoint import CheckpointError
from kintsugi.train.data import TrainDataError
from kintsugi.train.losses import FeatureNetworkMissing
from kintsugi.train.targets import TrainConfigError

TINY_RRDN = {"C": 2, "D": 1, "G": 8, "G0": 8, "T": 1}
TINY_RRDBNET = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}


def tiny(photos: Path, out: Path, **overrides) -> TrainConfig:
    settings = dict(target="rrdn", data=photos, out=out, init="none", scale=2, params=dict(TINY_RRDN),
                    size=32, steps=4, batch=2, lr=2e-3, device="cpu", degradation="bicubic",
                    val_every=2, log_every=1, save_every=100)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.mark.slow
@pytest.mark.parametrize(("target", "params", "scale"), [("rrdn", TINY_RRDN, 2), ("rrdbnet", TINY_RRDBNET, 4)])
def test_loss_goes_down_on_a_tiny_overfit_set(photos, tmp_path, target, params, scale):
    result = train(tiny(photos, tmp_path / "run", target=target, params=dict(params), scale=scale,
                        steps=40, lr=3e-3))
    pixel = [step["pixel"] for step in result.losses]
    assert np.mean(pixel[-8:]) < 0.6 * np.mean(pixel[:4])
    first, last = result.val_psnr[0][1], result.val_psnr[-1][1]
    assert last > first + 1.0  # the held-out photo improves too


def test_trained_run_loads_through_the_registry_and_upscales_a_photo(photos, tmp_path, astronaut_full):
    result = train(tiny(photos, tmp_path / "myrun", steps=2))
    assert result.model_file == tmp_path / "myrun" / "myrun.safetensors"
    # fp32: the weights are compared with the trained ones (auto may pick bf16 on this CPU).
    model = kintsugi.load_model(result.model_file, device="cpu", precision="fp32")
    assert model.info.arch == "rrdn" and model.caps.scale == 2 and model.caps.purpose == "upscaler"
    for key, value in TINY_RRDN.items():
        assert model.info.params[key] == value
    image = kintsugi.Image.from_array(astronaut_full[:40, :48])
    out = kintsugi.upscale(image, model, device="cpu")
    assert (out.height, out.width) == (80, 96)
    trained = dict(result.net.state_dict())  # type: ignore[union-attr]
    for key, value in model.net.state_dict().items():
        torch.testing.assert_close(value.float(), trained[key].float())


@pytest.mark.slow
def test_fine_tuning_starts_from_the_shipped_model(photos, tmp_path):
    """--init rrdn-x2: the run starts from the shipped weights (its first validation equals them)."""
    config = tiny(photos, tmp_path / "ft", init="rrdn-x2", params={}, scale=None, steps=1, lr=1e-5)
    result = train(config)
    model = kintsugi.load_model(result.model_file, device="cpu", precision="fp32")
    shipped = kintsugi.load_model("rrdn-x2", device="cpu", precision="fp32")
    assert model.info.params == {**shipped.info.params}
    delta = (model.net.pre_blocks.weight - shipped.net.pre_blocks.weight.float()).abs().max()
    assert 0 < float(delta) < 1e-3


@pytest.mark.parametrize("gan", [{}, {"gan_weight": 0.1, "d_width": 0.05, "r1_every": 3}])
def test_resume_continues_from_the_same_step_with_the_same_loss(photos, tmp_path, gan):
    whole = train(tiny(photos, tmp_path / "whole", steps=4, **gan))
    first = train(tiny(photos, tmp_path / "split", steps=2, **gan))
    assert first.step == 2
    second = train(tiny(photos, tmp_path / "split", steps=4, resume=True, **gan))
    assert second.step == 4 and len(second.losses) == 2
    for a, b in zip(whole.losses[2:], second.losses, strict=True):
        assert a.keys() == b.keys()  # with a GAN: R1 on the same steps (D step 3 of 0..3)
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-4), key
    final_whole = kintsugi.load_model(whole.model_file, device="cpu", precision="fp32").net.state_dict()
    final_split = kintsugi.load_model(second.model_file, device="cpu", precision="fp32").net.state_dict()
    for key, value in final_whole.items():
        torch.testing.assert_close(value, final_split[key], rtol=1e-5, atol=1e-6)


def test_stop_request_ends_at_a_step_boundary_and_saves(photos, tmp_path):
    stop = StopFlag()

    def press_ctrl_c(progress):
        if progress.step == 2:
            stop.request()

    result = train(tiny(photos, tmp_path / "run", steps=10, log_every=5), on_progress=press_ctrl_c, stop=stop)
    assert result.stopped and result.step == 2
    import json

    last = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 2 and "pixel" in last  # the stopping step is logged
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert result.model_file.stat().st_mode == plain.stat().st_mode  # not mkstemp's 0600
    resumed = train(tiny(photos, tmp_path / "run", steps=3, resume=True))
    assert resumed.step == 3 and len(resumed.losses) == 1


def test_log_is_json_lines_with_losses_and_validation(photos, tmp_path):
    import json

    train(tiny(photos, tmp_path / "run", steps=2))
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert records[0]["event"] == "start"
    assert [r["step"] for r in records if "pixel" in r] == [1, 2]
    assert [r["step"] for r in records if "val_psnr" in r] == [0, 2]


def test_refuses_to_overwrite_a_run_and_to_resume_nothing(photos, tmp_path):
    train(tiny(photos, tmp_path / "run", steps=1))
    with pytest.raises(CheckpointError, match="already holds a run"):
        train(tiny(photos, tmp_path / "run", steps=1))
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny(photos, tmp_path / "empty", steps=1, resume=True))


def test_bad_inputs_are_one_line_errors(tmp_path, photos):
    (tmp_path / "none").mkdir()
    with pytest.raises(TrainDataError, match="holds no images"):
        train(tiny(tmp_path / "none", tmp_path / "run"))
    with pytest.raises(FeatureNetworkMissing, match="VGG"):
        train(tiny(photos, tmp_path / "run", perceptual_weight=1.0))


def test_adversarial_loss_trains_a_discriminator_with_lazy_r1(photos, tmp_path):
    result = train(tiny(photos, tmp_path / "run", steps=3, gan_weight=0.1, d_width=0.05, r1_every=2))
    assert {"pixel", "gan", "d"} <= set(result.losses[-1])
    assert [("r1" in step) for step in result.losses] == [True, False, True]  # D steps 0 and 2
    assert result.losses[0]["r1"] > 0
    off = train(tiny(photos, tmp_path / "off", steps=1, gan_weight=0.1, d_width=0.05, r1_gamma=0.0))
    assert "r1" not in off.losses[0]


def test_fine_tuning_starts_from_the_fp32_weights_where_auto_would_pick_bf16(monkeypatch):
    """On AMX CPUs load_model's "auto" gives bf16; a fine-tune must start from the exact weights."""
    from kintsugi.engine import device
    from kintsugi.train.loop import make_target

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    target = make_target(TrainConfig(target="rrdn", data=Path("unused"), out=Path("unused"), init="rrdn-x2", size=32))
    shipped = kintsugi.load_model("rrdn-x2", device="cpu", precision="fp32").net.state_dict()
    for key, value in target.net.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, shipped[key]), key


def test_bf16_steps_run_under_autocast_and_keep_fp32_weights(photos, tmp_path):
    fp32 = train(tiny(photos, tmp_path / "fp32", steps=2))
    bf16 = train(tiny(photos, tmp_path / "bf16", steps=2, precision="bf16"))
    assert all(p.dtype == torch.float32 for p in bf16.net.parameters())  # type: ignore[union-attr]
    first32, first16 = fp32.losses[0]["pixel"], bf16.losses[0]["pixel"]
    assert first16 != first32  # computed in bf16 ...
    assert first16 == pytest.approx(first32, rel=0.02)  # ... to bf16's accuracy
    with pytest.raises(TrainConfigError, match="unknown training precision"):
        train(tiny(photos, tmp_path / "fp16", precision="fp16"))


def test_batches_made_a_step_ahead_on_a_thread_equal_the_inline_ones(photos):
    """What an accelerator run does (prefetch), checked on the CPU: the same batches, in order."""
    from kintsugi.train.data import PhotoSet, list_images
    from kintsugi.train.loop import _Batches, make_target

    config = tiny(photos, Path("unused"), degradation="fixed")
    target = make_target(config)
    images = PhotoSet(list_images(photos), 32)
    inline = _Batches(target, images, config, 0, torch.device("cpu"), ahead=False)
    ahead = _Batches(target, images, config, 0, torch.device("cpu"), ahead=True)
    try:
        for step in (0, 1, 2, 0):  # 0 again: a batch that was not made ahead
            for a, b in zip(inline.get(step), ahead.get(step), strict=True):
                assert torch.equal(a, b)
        assert not torch.equal(inline.get(0)[1], inline.get(1)[1])
    finally:
        ahead.close()
