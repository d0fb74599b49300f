"""Every face model in `kintsugi models library` restores once imported: GFPGAN- and
CodeFormer-layout checkpoints (random weights, official key names, official file
wrapper) go through `import_model` and `kintsugi.restore` on a real photo with faces.
A bare StyleGAN2 generator is refused on import. CodeFormer's fidelity weight is a real
control of `kintsugi.restore`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import kintsugi
from fixtures.random_weights import gentle_random
from kintsugi.archs.codeformer import CodeFormer
from kintsugi.archs.gan_layouts import stylegan2_from_canonical
from kintsugi.archs.gfpgan import GFPGAN, gfpgan_from_canonical
from kintsugi.archs.stylegan2 import StyleGAN2Generator
from kintsugi.engine import importer, library
from kintsugi.engine.errors import KintsugiError, ModelError
from kintsugi.engine.imageio import Image

torch.set_num_threads(2)
CODEFORMER_TINY = {"nf": 4, "norm_groups": 4, "codebook_size": 32, "dim_embd": 16, "n_layers": 1}


pytestmark = pytest.mark.usefixtures("user_dir")  # every test gets its own data folder


def _official_pth(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """Saved as the authors' release files are: {'params_ema': state_dict}."""
    torch.save({"params_ema": {k: v.contiguous() for k, v in state.items()}}, path)
    return path


def gfpgan_file(folder: Path) -> Path:
    torch.manual_seed(3)
    net = gentle_random(GFPGAN(out_size=64, style_dim=32, n_mlp=2, narrow=1 / 32), 3)
    return _official_pth(folder / "GFPGANv1.4.pth", gfpgan_from_canonical(net.state_dict()))


def codeformer_file(folder: Path) -> Path:
    torch.manual_seed(4)
    net = gentle_random(CodeFormer(**CODEFORMER_TINY), 4)
    with torch.no_grad():
        net.position_emb.normal_(0.0, 0.5)
    return _official_pth(folder / "codeformer.pth", net.state_dict())


@pytest.fixture(scope="module")
def photo() -> Image:
    """A real photo with one face: the astronaut (skimage, public domain, NASA)."""
    data = pytest.importorskip("skimage.data")
    import cv2

    return Image.from_array(cv2.resize(data.astronaut(), (192, 192), interpolation=cv2.INTER_AREA))


def _changed_inside_face_only(photo: Image, result: Image) -> None:
    faces = kintsugi.find_faces(photo.pixels)
    assert len(faces) >= 1
    diff = np.abs(result.pixels - photo.pixels).mean(axis=2)
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    inside = diff[max(0, y0):y1, max(0, x0):x1].mean()
    corner = diff[:24, -24:].mean()  # the top-right corner is background
    assert inside > 0.02 and corner < 1e-6


def test_gfpgan_checkpoint_imports_and_restores_a_photo(tmp_path, photo) -> None:
    entry = importer.import_model(gfpgan_file(tmp_path))
    assert (entry.arch, entry.kind, entry.engine) == ("gfpgan", "face-restorer", "kintsugi")
    model = kintsugi.load_model(entry.id)
    assert model.caps.input_size == 64 and model.caps.seed
    result = kintsugi.restore(photo, entry.id, background="bicubic", scale=1)
    assert (result.width, result.height) == (photo.width, photo.height)
    _changed_inside_face_only(photo, result)
    other = kintsugi.restore(photo, model, background="bicubic", scale=1, seed=5)
    assert np.abs(other.pixels - result.pixels).max() > 1e-3  # the seed redraws the noise
    with pytest.raises(KintsugiError, match="fidelity weight"):
        kintsugi.restore(photo, model, fidelity=0.5)
    with pytest.raises(KintsugiError, match="no mask to bias"):
        kintsugi.restore(photo, model, bias=0.2)


@pytest.mark.slow
def test_codeformer_checkpoint_imports_and_its_fidelity_moves_the_result(tmp_path, photo) -> None:
    """CodeFormer imported, restoring the astronaut; w = 0 and w = 1 are its two limits and
    the face moves monotonically between them."""
    entry = importer.import_model(codeformer_file(tmp_path))
    assert (entry.arch, entry.kind, entry.engine) == ("codeformer", "face-restorer", "kintsugi")
    model = kintsugi.load_model(entry.id)
    assert model.caps.fidelity_weight and not model.caps.seed
    session = kintsugi.RestoreSession(photo, model, background="bicubic", scale=1)
    results = {w: session.render(fidelity=w) for w in (0.0, 0.5, 1.0)}
    _changed_inside_face_only(photo, results[0.5])
    direct = kintsugi.restore(photo, model, background="bicubic", scale=1, fidelity=1.0)
    np.testing.assert_allclose(direct.pixels, results[1.0].pixels, atol=1e-5)
    far = np.abs(results[1.0].pixels - results[0.0].pixels).mean()
    near = np.abs(results[0.5].pixels - results[0.0].pixels).mean()
    assert 0 < near < far
    assert np.abs(results[0.5].pixels - results[1.0].pixels).mean() < far
    with pytest.raises(KintsugiError, match="between 0 and 1"):
        session.render(fidelity=1.5)
    with pytest.raises(KintsugiError, match="fidelity"):
        session.render(bias=0.3)  # says CodeFormer's control is fidelity
    with pytest.raises(KintsugiError, match="no random noise"):
        session.render(seed=3)


def test_bare_stylegan2_is_refused_on_import_with_the_reason(tmp_path) -> None:
    torch.manual_seed(0)
    gen = StyleGAN2Generator(out_size=16, style_dim=8, n_mlp=1, channels=(8, 8, 8))
    path = tmp_path / "stylegan2-ffhq.pth"
    torch.save({"g_ema": stylegan2_from_canonical(gen.state_dict(), "rosinality")}, path)
    with pytest.raises(ModelError, match="bare stylegan2 generator: a prior"):
        importer.import_model(path)
    assert importer.read_manifest() == []


def test_library_face_models_run_on_kintsugi_architectures() -> None:
    """The library's GFPGAN and CodeFormer entries name Kintsugi's own architectures
    (no optional package needed), and every downloadable entry's architecture exists."""
    from kintsugi.archs import arch_by_id

    entries = {e.id: e for e in library.library_entries()}
    for entry_id, arch in (("gfpgan-v1.3", "gfpgan"), ("gfpgan-v1.4", "gfpgan"), ("codeformer", "codeformer")):
        assert (entries[entry_id].arch, entries[entry_id].engine) == (arch, "kintsugi")
    for entry in entries.values():
        if entry.engine == "kintsugi":
            assert arch_by_id(entry.arch).capabilities({"out_size": 512, "in_size": 512, "scale": 1,
                                                        "img_size": 512}).purpose == "face-restorer"


@pytest.mark.slow
def test_cli_fidelity_reaches_codeformer(tmp_path, photo) -> None:
    """`kintsugi restore --fidelity W` drives CodeFormer's w: 0 and 1 give different files,
    and a model without a fidelity weight refuses the option with its reason."""
    from kintsugi.cli import main
    from kintsugi.engine.imageio import open_image, save_image

    src = tmp_path / "astronaut.png"
    save_image(photo, src)
    model = str(codeformer_file(tmp_path))
    outs = []
    for w in ("0", "1"):
        out = tmp_path / f"w{w}.png"
        code = main(["restore", str(src), "-o", str(out), "--model", model,
                     "--background", "bicubic", "--scale", "1", "--fidelity", w])
        assert code == 0
        outs.append(open_image(out).pixels)
    assert np.abs(outs[0] - outs[1]).mean() > 1e-3
    gfpgan = str(gfpgan_file(tmp_path))
    code = main(["restore", str(src), "-o", str(tmp_path / "g.png"), "--model", gfpgan,
                 "--background", "bicubic", "--scale", "1", "--fidelity", "0.5"])
    assert code == 1
