"""The trainer on the GAN-prior targets (tiny networks, random priors, real photos)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import kintsugi
from kintsugi.train import TrainConfig, train

G = {"style_dim": 32, "n_mlp": 2, "channels": [16] * 5}
TRUNK = {"rrdb_channels": 8, "num_rrdbs": 1, "growth": 4, "decoder_channels": 8}
TINY = {
    "glean": (8, {**G, **TRUNK}),
    "laren": (4, {**G, **TRUNK, "gdm_nodes": 4, "gdm_node_dim": 8, "cgm_node_dim": 4, "cgm_code_dim": 8,
                  "cgm_max_map": 8}),
    "propulse": (8, {**G, "side_channels": [8, 4], "enc_channels": 8, "enc_groups": 1, "rcab_reduction": 4}),
    "panini": (2, {**G, "variant": "mfr", "rrdb_channels": 8, "num_rrdbs": 1, "cbam_reduction": 2,
                   "head_channels": [8], "lce_channels": 8, "dre_channels": [8, 8, 8], "dre_size": 32}),
}
TINY_DRE = {"widths": [8, 8, 8], "dim": 16, "queue": 32}


def tiny(target: str, photos: Path, out: Path, **overrides) -> TrainConfig:
    scale, params = TINY[target]
    settings = dict(target=target, data=photos, out=out, size=64, scale=scale, params=dict(params), steps=10,
                    batch=2, lr=1e-3, device="cpu", val_every=5, log_every=1, d_width=0.05, gan_weight=0.0,
                    align=False)  # the test photos are small crops, not portraits
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["glean", "laren", "panini"])
def test_loss_goes_down_and_the_run_restores_an_aligned_face(target, photos, tmp_path, astronaut_full):
    result = train(tiny(target, photos, tmp_path / "run"))
    pixel = [step["pixel"] for step in result.losses]
    assert np.mean(pixel[-3:]) < np.mean(pixel[:3])
    model = kintsugi.load_model(result.model_file, device="cpu")
    assert model.info.arch == target and model.caps.purpose == "face-restorer"
    size = model.caps.input_size
    face = kintsugi.Image.from_array(astronaut_full[::512 // size, ::512 // size][:size, :size])
    out = kintsugi.restore(face, model, faces=None, device="cpu")
    assert (out.width, out.height) == (64, 64)


@pytest.mark.slow
def test_propulse_trains_its_three_parts_in_turn(photos, tmp_path):
    config = tiny("propulse", photos, tmp_path / "run", steps=12, gan_weight=0.01)
    result = train(config)
    model = kintsugi.load_model(result.model_file, device="cpu")
    net = model.net.net
    assert int(net.stage) == net.num_stages  # finished: every code from E_W+
    torch.manual_seed(config.seed)  # as train() does: the same initial weights
    start = kintsugi.train.face_targets.ProPulseTarget(config)
    assert start.bounds[-1] == 12 and [start.phase(s) for s in (0, 4, 8, 11)] == [0, 1, 2, 3]
    # Every part was trained in its phase; the StyleGAN2 prior was not touched.
    fresh = start.raw
    for part in ("sides", "encoder_w", "encoder_wplus"):
        before = torch.cat([p.flatten() for p in getattr(fresh, part).parameters()])
        after = torch.cat([p.flatten() for p in getattr(net, part).parameters()])
        assert not torch.allclose(before, after), part
    for name, param in net.generator.named_parameters():
        torch.testing.assert_close(param, dict(fresh.generator.named_parameters())[name])
    final, sides = net(torch.rand(1, 3, 8, 8) * 2 - 1, return_sides=True)
    assert final.shape[-1] == 64 and [s.shape[-1] for s in sides] == [32]


@pytest.mark.slow
def test_moco_pretrains_the_degradation_encoder_that_panini_then_loads(photos, tmp_path):
    dre = train(TrainConfig(target="dre", data=photos, out=tmp_path / "dre", size=32, params=dict(TINY_DRE),
                            steps=6, batch=4, device="cpu", val_every=3, log_every=1, align=False))
    assert all(np.isfinite(step["infonce"]) for step in dre.losses)
    config = tiny("panini", photos, tmp_path / "panini", steps=1, dre=dre.model_file)
    panini = train(config)
    model = kintsugi.load_model(panini.model_file, device="cpu")
    trained = {k[len("encoder_q.encoder."):]: v for k, v in dre.net.state_dict().items()  # type: ignore[union-attr]
               if k.startswith("encoder_q.encoder.")}
    for key, value in model.net.net.deg_encoder.state_dict().items():
        torch.testing.assert_close(value.float(), trained[key].float())  # loaded, and frozen while training


@pytest.mark.slow
def test_a_trained_laren_run_imports_into_the_users_library(photos, tmp_path, monkeypatch):
    """`kintsugi models import RUN/RUN.safetensors`: how a run appears in the window's list."""
    from kintsugi.engine import importer

    monkeypatch.setenv("KINTSUGI_DATA_DIR", str(tmp_path / "user"))
    result = train(tiny("laren", photos, tmp_path / "my-laren", steps=1))
    info = importer.import_model(result.model_file)
    assert (info.id, info.arch, info.kind, info.scale) == ("my-laren", "laren", "face-restorer", 4)
    assert [m.id for m in importer.user_models()] == ["my-laren"]
    assert kintsugi.load_model("my-laren", device="cpu").caps.input_size == 16


@pytest.mark.slow
def test_restore_writes_propulse_side_outputs(photos, tmp_path, astronaut_full, capsys):
    from PIL import Image

    from kintsugi.cli import main

    result = train(tiny("propulse", photos, tmp_path / "pp", steps=1))
    face = tmp_path / "face.png"
    Image.fromarray(np.ascontiguousarray(astronaut_full[::64, ::64][:8, :8])).save(face)
    sides = tmp_path / "sides"
    args = ["restore", str(face), "-o", str(tmp_path / "out.png"), "--model", str(result.model_file),
            "--device", "cpu", "--side-outputs", str(sides)]
    assert main([*args, "--faces", "aligned"]) == 0
    written = sorted(p.name for p in sides.iterdir())
    assert written == ["face_side32.png"]
    assert Image.open(sides / "face_side32.png").size == (32, 32)
    assert Image.open(tmp_path / "out.png").size == (64, 64)
    capsys.readouterr()
    assert main([*args, "--faces", "all"]) == 1
    assert "--faces aligned" in capsys.readouterr().err
