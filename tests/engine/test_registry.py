"""Model registry: shipped manifest, foreign weights files, refusal of unsafe pickles."""

import pickle

import pytest
import torch

import kintsugi
from kintsugi.archs.rrdbnet import RRDBNet
from kintsugi.convert import sha256_file
from kintsugi.engine.errors import ModelError
from kintsugi.engine.registry import list_models, load_model, model_info


def test_manifest_lists_the_shipped_models_with_one_default():
    ids = {m.id for m in list_models()}
    assert {"realesrgan-x4plus", "realsr-df2k-x4", "waifu2x-photo-x2"} <= ids
    assert kintsugi.default_model_id() == "realesrgan-x4plus"
    assert sum(m.default for m in list_models()) == 1


@pytest.mark.parametrize("info", list_models(), ids=lambda m: m.id)
def test_every_shipped_file_matches_its_manifest_hash_and_licence(info):
    assert info.path.is_file(), f"{info.file} missing"
    assert sha256_file(info.path) == info.sha256
    assert info.licence and info.licence_text().strip()
    assert info.source["package"] and info.source["version"]


def test_unknown_id_names_the_known_ones():
    with pytest.raises(ModelError, match="realesrgan-x4plus"):
        model_info("no-such-model")


def _tiny_rrdbnet():
    return RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=4).eval()


def test_a_basicsr_pth_file_loads_by_detection(tmp_path, test_device):
    net = _tiny_rrdbnet()
    path = tmp_path / "RealESRGAN_tiny.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    model = load_model(path, device=test_device, precision="fp32")  # parity: pinned to fp32
    assert model.info.arch == "rrdbnet" and model.scale == 4 and model.dtype == torch.float32
    x = torch.rand(1, 3, 8, 8)
    got = model.net(x.to(test_device).contiguous(memory_format=torch.channels_last)).cpu()
    torch.testing.assert_close(got, net(x))


class _Exploit:
    def __reduce__(self):
        return (print, ("this would have run",))


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"weight": _Exploit()}, fh)
    with pytest.raises(ModelError, match="refuses"):
        load_model(path, device="cpu")


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"\x00" * 64])
def test_corrupt_weights_are_a_model_error(tmp_path, content):
    for name in ("broken.safetensors", "broken.pth"):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ModelError):
            load_model(path, device="cpu")


def test_unknown_layout_is_one_clear_error(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.layer.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ModelError, match="unknown model layout"):
        load_model(path, device="cpu")


def test_weights_that_do_not_fit_are_reported(tmp_path):
    state = _tiny_rrdbnet().state_dict()
    del state["conv_last.bias"]
    path = tmp_path / "truncated.pth"
    torch.save(state, path)
    with pytest.raises(ModelError):
        load_model(path, device="cpu")


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "absent.safetensors", device="cpu")
