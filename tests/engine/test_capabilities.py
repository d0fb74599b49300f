"""Capabilities are data: every architecture describes itself from its weights, the catalog
carries them (user models without torch), and the registry and pipeline read them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from safetensors.torch import save_file

import kintsugi
from kintsugi.archs import PURPOSES, Capabilities, architectures
from kintsugi.archs.rrdbnet import RRDBNet
from kintsugi.archs.rrdn import RRDN
from kintsugi.engine import catalog, importer
from kintsugi.engine.errors import KintsugiError, ModelError
from kintsugi.engine.registry import load_model
from kintsugi.resources import models_dir

WAIFU2X = "waifu2x-photo-noise1-x2"


pytestmark = pytest.mark.usefixtures("user_dir")  # every test gets its own data folder


@pytest.fixture
def face(astronaut_full):
    return kintsugi.Image.from_array(astronaut_full[200:224, 180:204])


def test_every_architecture_describes_itself():
    for spec in architectures():
        assert spec.describe is not None, spec.id


@pytest.mark.parametrize("info", catalog.list_models(), ids=lambda m: m.id)
def test_every_shipped_model_has_capabilities_matching_its_record(info):
    caps = catalog.capabilities(info)
    assert caps.purpose in PURPOSES and caps.scale == info.scale
    assert caps.purpose == info.kind  # upscaler / detector: the manifest's own words
    assert "fp32" in caps.precisions
    if caps.tiles:
        assert caps.tile_context > 0


def test_a_waifu2x_file_given_by_path_gets_its_true_scale(tmp_path, face, test_device):
    """It was x1: the upscale wrote the top-left quarter of the x2 result, provenance x1."""
    path = tmp_path / "copied" / "my-waifu2x.safetensors"
    path.parent.mkdir()
    shutil.copy(models_dir() / f"{WAIFU2X}.safetensors", path)
    by_path = load_model(path, test_device, precision="fp32")
    assert by_path.scale == 2 and by_path.info.scale == 2
    out = kintsugi.upscale(face, by_path)
    assert (out.width, out.height) == (2 * face.width, 2 * face.height)
    shipped = kintsugi.upscale(face, load_model(WAIFU2X, test_device, precision="fp32"))
    np.testing.assert_array_equal(out.pixels, shipped.pixels)
    assert kintsugi.upscale_note(by_path.info.id, out.width // face.width, False)["scale"] == "2"
    # The same through the string a CLI user types.
    assert kintsugi.upscale(face, str(path), device=test_device).width == 2 * face.width


@pytest.mark.parametrize(("scale", "folded"), [(4, 3), (2, 12), (1, 48)])
def test_rrdbnet_scale_comes_from_conv_first(tmp_path, scale, folded):
    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=scale)
    assert net.conv_first.weight.shape[1] == folded
    path = tmp_path / "net.safetensors"
    save_file(net.state_dict(), path)
    assert load_model(path, "cpu").caps.scale == scale


def test_rrdn_scale_comes_from_the_shuffle_conv(tmp_path):
    path = tmp_path / "rrdn.safetensors"
    save_file(RRDN(C=2, D=1, G=4, G0=8, T=1, scale=3).state_dict(), path)
    assert load_model(path, "cpu").caps.scale == 3


def test_capabilities_round_trip_and_refuse_nonsense():
    caps = Capabilities(purpose="face-restorer", scale=2, input_size=512, precisions=("fp32", "bf16"),
                        tiles=False, mask_blocks=5, seed=True)
    assert Capabilities.from_dict(caps.to_dict()) == caps
    assert caps.output_size == 1024
    with pytest.raises(ValueError, match="purpose"):
        Capabilities(purpose="toaster")
    with pytest.raises(ValueError, match="fp32"):
        Capabilities(purpose="upscaler", precisions=("fp16",))


def test_user_models_carry_capabilities_and_list_without_torch(tmp_path, user_dir):
    path = tmp_path / "RealESRGAN_x2_tiny.safetensors"
    save_file(RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2).state_dict(), path)
    entry = importer.import_model(path)
    assert entry.caps["scale"] == 2 and entry.caps["purpose"] == "upscaler"
    code = (f"import sys, kintsugi; [m] = [m for m in kintsugi.list_models() if m.id == {entry.id!r}]; "
            "print(m.caps.scale, m.caps.purpose, m.caps.tile_context, 'torch' in sys.modules)")
    env = {"KINTSUGI_DATA_DIR": str(user_dir), "PYTHONPATH": str(Path(kintsugi.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["2", "upscaler", "32", "False"]


def _descriptor(purpose: str, **extra):
    values = {"scale": 1, "supports_half": True, "supports_bfloat16": False,
              "size_requirements": SimpleNamespace(minimum=0, multiple_of=1, square=False),
              "tiling": SimpleNamespace(name="SUPPORTED")}
    values.update(extra)
    return SimpleNamespace(architecture=SimpleNamespace(name="Arch", id="arch"), purpose=purpose, **values)


def test_spandrel_descriptors_map_to_capabilities():
    swinir = importer.spandrel_capabilities(_descriptor(
        "SR", scale=4, supports_half=False, size_requirements=SimpleNamespace(minimum=16, multiple_of=8,
                                                                              square=False),
        tiling=SimpleNamespace(name="DISCOURAGED")))
    assert swinir == Capabilities(purpose="upscaler", scale=4, size_multiple=8, precisions=("fp32",),
                                  tiles=False)
    gfpgan = importer.spandrel_capabilities(_descriptor(
        "FaceSR", size_requirements=SimpleNamespace(minimum=512, multiple_of=1, square=False)))
    assert gfpgan.purpose == "face-restorer" and gfpgan.input_size == 512 and not gfpgan.tiles
    assert gfpgan.precisions == ("fp32", "fp16")
    denoise = importer.spandrel_capabilities(_descriptor("Restoration", supports_bfloat16=True))
    assert denoise.purpose == "upscaler" and denoise.scale == 1 and denoise.tiles
    with pytest.raises(ModelError, match="Inpainting"):
        importer.spandrel_capabilities(_descriptor("Inpainting"))


def test_upscale_refuses_what_its_capabilities_say_is_no_upscaler(face):
    detector = load_model("retinaface-mobilenet0.25", "cpu")
    assert detector.caps.purpose == "detector"
    with pytest.raises(KintsugiError, match="detector, not an upscaler"):
        kintsugi.upscale(face, detector)


def test_face_models_expose_their_crop_sizes():
    from kintsugi.archs.glean import describe as glean
    from kintsugi.archs.panini import describe as panini

    caps = panini({"scale": 2, "in_size": 512})
    assert (caps.input_size, caps.output_size, caps.mask_blocks, caps.seed) == (512, 1024, 5, True)
    assert glean({"scale": 8, "in_size": 32}).output_size == 256


def test_a_waifu2x_import_recorded_as_x1_before_the_fix_loads_as_x2(tmp_path, user_dir, face):
    path = tmp_path / "waifu2x_old.safetensors"
    shutil.copy(models_dir() / f"{WAIFU2X}.safetensors", path)
    entry = importer.import_model(path)
    record = user_dir / "models" / "user.toml"
    import tomli_w
    import tomllib

    data = tomllib.loads(record.read_text(encoding="utf-8"))
    # What an older Kintsugi wrote: scale 1 and no capabilities.
    for model in data["model"]:
        model.pop("caps", None)
        model["scale"] = 1
    record.write_text(tomli_w.dumps(data), encoding="utf-8")
    assert catalog.model_info(entry.id).scale == 1 and catalog.model_info(entry.id).caps is None
    model = load_model(entry.id, "cpu", precision="fp32")
    assert model.scale == 2 and model.info.scale == 2
    assert kintsugi.upscale(face, model).width == 2 * face.width
