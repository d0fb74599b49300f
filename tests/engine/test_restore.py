"""kintsugi.restore on real photos with tiny random Panini / GLEAN models and an identity
restorer: every control (bias, bias_blocks, bias_map, faces, background, consistency,
seed) changes the result in the intended way; official checkpoint layouts load."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from fixtures.random_weights import gentle_random
from kintsugi.archs import ArchSpec, detect_arch
from kintsugi.archs import gan_layouts as L
from kintsugi.archs.glean import GLEAN
from kintsugi.archs.panini import Panini
from kintsugi.engine import facepaste as fp
from kintsugi.engine import registry
from kintsugi.engine.consistency import pool
from kintsugi.engine.errors import Cancelled, KintsugiError
from kintsugi.engine.imageio import Image
from kintsugi.engine.job import Job
from kintsugi.engine.provenance import restore_note
from kintsugi.engine.registry import Model, ModelInfo, load_model
from kintsugi.engine.restore import find_faces, restore
from kintsugi.engine.spec import Controls, RestoreSpec

torch.set_num_threads(2)
GEN = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8, "growth": 8}
PANINI = {**GEN, "lce_channels": 8, "in_size": 32, "rrdb_channels": 8, "num_rrdbs": 1,
          "head_channels": (8,), "dre_channels": (8, 8, 16)}
GLEAN_TINY = {**GEN, "in_size": 16, "rrdb_channels": 8, "num_rrdbs": 1, "decoder_channels": 8}


def tiny_panini(seed: int = 0) -> Panini:
    torch.manual_seed(seed)
    return gentle_random(Panini("mfr", **PANINI), seed)


def tiny_glean(seed: int = 0) -> GLEAN:
    torch.manual_seed(seed)
    return gentle_random(GLEAN(**GLEAN_TINY), seed)


@pytest.fixture(scope="module")
def panini_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny-panini.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_panini().state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def panini(panini_file) -> Model:
    """The tiny Panini as the registry builds it from a file (detection, params, strict load).

    Assembled from the registry's steps rather than load_model so that these control tests
    do not depend on load_model's CPU memory-format step (covered by the official-checkpoint
    tests below)."""
    state = registry.read_state_dict(panini_file)
    spec = detect_arch(state)
    assert spec is not None and spec.id == "panini"
    params = spec.params_from_state(state)
    info = ModelInfo(id="tiny-panini", name=panini_file.name, arch=spec.id, kind=spec.kind,
                     scale=int(params["scale"]), params=params)
    net = spec.build(**params)
    net.load_state_dict(state, strict=True)
    return Model(info, spec, net.eval().requires_grad_(False), torch.device("cpu"))


class IdentityFace(nn.Module):
    """A "restorer" that returns its input (enlarged by `scale` with bicubic)."""

    def __init__(self, size: int, scale: int = 1) -> None:
        super().__init__()
        self.in_size, self.out_size, self.scale = size, size * scale, scale
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1:
            return x + self.anchor
        return nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


class CastFace(IdentityFace):
    """Returns its input with a strong colour cast: a restoration that is easy to see."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + torch.tensor([0.3, -0.2, -0.2]).view(1, 3, 1, 1)


def as_model(net: IdentityFace, name: str = "identity") -> Model:
    spec = ArchSpec(id=name, kind="face-restorer", build=lambda **_: net, detect=lambda _: False,
                    params_from_state=lambda _: {})
    info = ModelInfo(id=name, name=name, arch=name, kind="face-restorer", scale=net.scale,
                     params={"in_size": net.in_size, "out_size": net.out_size})
    return Model(info, spec, net.eval(), torch.device("cpu"))


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    err = float(((a - b) ** 2)[where].mean())
    return float("inf") if err == 0 else 10 * np.log10(1.0 / err)


@pytest.fixture(scope="module")
def two_faces() -> Image:
    data = pytest.importorskip("skimage.data")
    canvas = cv2.resize(data.coffee(), (320, 224), interpolation=cv2.INTER_AREA)
    head = data.astronaut()[20:210, 140:310]
    for scale, x, y, flip in ((0.6, 20, 40, False), (0.45, 200, 70, True)):
        patch = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        patch = patch[:, ::-1] if flip else patch
        canvas[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return Image.from_array(canvas)


@pytest.fixture(scope="module")
def face_regions(two_faces) -> list[np.ndarray]:
    """Boolean masks (input scale) of the two faces' blend regions, left first."""
    faces = find_faces(two_faces.pixels)
    regions = []
    for place in fp.place_faces(list(enumerate(faces)), 64):
        canvas = np.zeros((two_faces.height, two_faces.width, 3), np.float32)
        regions.append(fp.paste_face(canvas, np.ones((64, 64, 3), np.float32), place.matrix,
                                     color_match=False) > 0.5)
    return regions


def crop_of(two_faces: Image, size: int) -> Image:
    """The left face aligned to `size` px: an input for faces=None."""
    faces = find_faces(two_faces.pixels)
    place = fp.place_faces([(0, faces[0])], size)[0]
    return Image.from_array(fp.align_face(two_faces.pixels, place))


# ---- round trip through the public API -------------------------------------------------


def test_identity_restorer_gives_back_the_photo(two_faces, face_regions) -> None:
    model = as_model(IdentityFace(256))
    out = restore(two_faces, model, background="bicubic")
    assert (out.width, out.height) == (two_faces.width, two_faces.height)
    for region in face_regions:
        assert psnr(out.pixels, two_faces.pixels, region) >= 40.0
    assert psnr(out.pixels, two_faces.pixels, np.ones(region.shape, bool)) >= 40.0


def test_identity_restorer_at_scale_two_matches_the_bicubic_background(two_faces, face_regions) -> None:
    model = as_model(IdentityFace(128, scale=2))
    out = restore(two_faces, model, background="bicubic")
    bicubic = cv2.resize(two_faces.pixels, (640, 448), interpolation=cv2.INTER_CUBIC)
    for region in face_regions:
        big = cv2.resize(region.astype(np.uint8), (640, 448), interpolation=cv2.INTER_NEAREST) > 0
        assert psnr(out.pixels, np.clip(bicubic, 0, 1), big) >= 40.0


def test_face_cut_by_the_photo_border_round_trips() -> None:
    data = pytest.importorskip("skimage.data")
    cut = cv2.resize(data.astronaut()[90:300, 150:400], (125, 105), interpolation=cv2.INTER_AREA)
    photo = Image.from_array(cut)
    [face] = find_faces(photo.pixels)
    assert face.box[1] < 0  # the top of the head is outside the photo
    out = restore(photo, as_model(IdentityFace(128)), background="bicubic")
    assert psnr(out.pixels, photo.pixels, np.ones((105, 125), bool)) >= 40.0


# ---- faces selection -------------------------------------------------------------------


def test_faces_selection_restores_only_the_chosen_faces(two_faces, face_regions) -> None:
    cast = as_model(CastFace(64))
    left, right = face_regions
    only_left = restore(two_faces, cast, faces=[0], background="bicubic", color_match=False)
    both = restore(two_faces, cast, faces="all", background="bicubic", color_match=False)
    big_only = restore(two_faces, cast, faces=60, background="bicubic", color_match=False)
    red = lambda img, where: float((img.pixels - two_faces.pixels)[where][:, 0].mean())  # noqa: E731
    assert red(only_left, left) > 0.2 and abs(red(only_left, right)) < 1e-6
    assert red(both, left) > 0.2 and red(both, right) > 0.2
    sizes = sorted(fp.face_size(f) for f in find_faces(two_faces.pixels))
    assert sizes[0] < 60 <= sizes[1]  # min size 60 px picks the larger (left) face only
    assert red(big_only, left) > 0.2 and abs(red(big_only, right)) < 1e-6


def test_color_match_option_in_restore(two_faces, face_regions) -> None:
    cast = as_model(CastFace(64))
    matched = restore(two_faces, cast, background="bicubic")
    left = face_regions[0]
    assert abs(float((matched.pixels - two_faces.pixels)[left][:, 0].mean())) < 0.05


# ---- background --------------------------------------------------------------------------


def test_background_choice_changes_only_the_background(two_faces, panini) -> None:
    small = Image.from_array(cv2.resize(two_faces.to_uint(8), (160, 112), interpolation=cv2.INTER_AREA))
    a = restore(small, panini, background="bicubic", faces=[])
    b = restore(small, panini, background="waifu2x-photo-x2", faces=[])
    assert (a.width, a.height) == (320, 224)  # tiny Panini: 32 -> 64, photo x2
    bicubic = np.clip(cv2.resize(small.pixels, (320, 224), interpolation=cv2.INTER_CUBIC), 0, 1)
    np.testing.assert_allclose(a.pixels, bicubic, atol=1e-6)
    assert np.abs(a.pixels - b.pixels).mean() > 0.005
    # The learned upscaler is sharper than bicubic: more high-frequency energy.
    lap = lambda img: float(np.abs(cv2.Laplacian(img.pixels, cv2.CV_32F)).mean())  # noqa: E731
    assert lap(b) > lap(a)


# ---- consistency -------------------------------------------------------------------------


def test_consistency_lock_on_whole_photo_and_on_a_crop(two_faces, panini) -> None:
    small = Image.from_array(cv2.resize(two_faces.to_uint(8), (160, 112), interpolation=cv2.INTER_AREA))
    free = restore(small, panini, background="bicubic")
    locked = restore(small, panini, background="bicubic", consistency=True)
    assert np.abs(pool(free.pixels, 2) - small.pixels).max() > 0.01
    assert np.abs(pool(locked.pixels, 2) - small.pixels).max() < 1e-5
    crop = crop_of(two_faces, 32)
    free_crop = restore(crop, panini, faces=None)
    locked_crop = restore(crop, panini, faces=None, consistency=True)
    assert (locked_crop.width, locked_crop.height) == (64, 64)
    assert np.abs(pool(free_crop.pixels, 2) - crop.pixels).max() > 0.01
    assert np.abs(pool(locked_crop.pixels, 2) - crop.pixels).max() < 1e-5


# ---- bias ------------------------------------------------------------------------------


def direct(panini: Model, crop: Image, **kw) -> np.ndarray:
    x = torch.from_numpy(crop.pixels.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        y = panini.net(x, **kw)
    return np.clip(y[0].numpy().transpose(1, 2, 0), 0, 1)


def test_bias_moves_the_result_from_the_input_side_to_the_gan_prior(two_faces, panini) -> None:
    crop = crop_of(two_faces, 32)
    outs = {b: restore(crop, panini, faces=None, bias=b).pixels for b in (-1.0, -0.5, 0.0, 0.5, 1.0)}
    # Plumbing: the API gives what the network gives with the same bias.
    np.testing.assert_allclose(outs[0.5], direct(panini, crop, bias=0.5), atol=1e-6)
    # b = +1 is the GAN-prior-only network (paper Eq. 13), b = -1 the IFE-only one (Eq. 12):
    # the closer b is to an end, the closer the result is to that end.
    gap = lambda a, b: float(np.abs(a - b).mean())  # noqa: E731
    to_prior = [gap(outs[b], outs[1.0]) for b in (-1.0, 0.0, 0.5)]
    to_input = [gap(outs[b], outs[-1.0]) for b in (1.0, 0.0, -0.5)]
    assert to_prior == sorted(to_prior, reverse=True) and to_prior[-1] > 0
    assert to_input == sorted(to_input, reverse=True) and to_input[-1] > 0


def test_bias_blocks_act_per_block(two_faces, panini) -> None:
    crop = crop_of(two_faces, 32)
    slots = panini.net.net.slots
    plain = restore(crop, panini, faces=None).pixels
    coarse = restore(crop, panini, faces=None, bias_blocks={0: 1.0}).pixels
    every = restore(crop, panini, faces=None, bias_blocks={k: 1.0 for k in range(slots)}).pixels
    np.testing.assert_allclose(every, restore(crop, panini, faces=None, bias=1.0).pixels, atol=1e-6)
    np.testing.assert_allclose(coarse, direct(panini, crop, bias_blocks={0: 1.0}), atol=1e-6)
    assert np.abs(coarse - plain).mean() > 1e-4
    # One block pushed to the prior moves the result part of the way towards the all-prior one.
    assert np.abs(coarse - every).mean() < np.abs(plain - every).mean()
    with pytest.raises(KintsugiError, match="bias block 9 does not exist"):
        restore(crop, panini, faces=None, bias_blocks={9: 0.5})


def test_bias_map_follows_each_face_into_aligned_space(two_faces, panini, face_regions) -> None:
    small = two_faces
    left, right = face_regions
    half = np.full((small.height, small.width), -1.0, np.float32)
    half[:, : small.width // 2] = 1.0  # + on the left face, - on the right face
    mapped = restore(small, panini, background="bicubic", bias_map=half)
    plus = restore(small, panini, background="bicubic", bias=1.0)
    minus = restore(small, panini, background="bicubic", bias=-1.0)
    big = lambda r: cv2.resize(r.astype(np.uint8), (mapped.width, mapped.height),  # noqa: E731
                               interpolation=cv2.INTER_NEAREST) > 0
    np.testing.assert_allclose(mapped.pixels[big(left)], plus.pixels[big(left)], atol=1e-5)
    np.testing.assert_allclose(mapped.pixels[big(right)], minus.pixels[big(right)], atol=1e-5)
    assert np.abs(plus.pixels - minus.pixels)[big(left)].mean() > 1e-3


def test_bias_is_refused_by_models_without_a_mask(two_faces) -> None:
    model = as_model(IdentityFace(32))
    crop = crop_of(two_faces, 32)
    with pytest.raises(KintsugiError, match="no mask to bias"):
        restore(crop, model, faces=None, bias=0.3)
    with pytest.raises(KintsugiError, match="no mask to bias"):
        restore(crop, model, faces=None, bias_map=np.zeros((32, 32), np.float32))
    restore(crop, model, faces=None, bias=0.0)  # no bias asked: fine


# ---- seed -------------------------------------------------------------------------------


def test_seed_gives_reproducible_alternatives(two_faces, panini) -> None:
    crop = crop_of(two_faces, 32)
    stored = restore(crop, panini, faces=None).pixels
    a1 = restore(crop, panini, faces=None, seed=1).pixels
    a2 = restore(crop, panini, faces=None, seed=1).pixels
    b = restore(crop, panini, faces=None, seed=2).pixels
    assert np.array_equal(a1, a2)
    assert np.abs(a1 - b).mean() > 1e-4 and np.abs(a1 - stored).mean() > 1e-4
    np.testing.assert_array_equal(restore(crop, panini, faces=None).pixels, stored)  # buffers put back
    with pytest.raises(KintsugiError, match="no random noise"):
        restore(crop, as_model(IdentityFace(32)), faces=None, seed=3)


# ---- models, errors, jobs ---------------------------------------------------------------


def test_glean_restores_a_crop_and_a_photo(two_faces) -> None:
    net = tiny_glean()
    path_model = Model(ModelInfo("glean-tiny", "glean", "glean", "face-restorer", 4,
                                 params={"in_size": 16, "out_size": 64}),
                       ArchSpec("glean", "face-restorer", GLEAN, lambda _: False, lambda _: {}),
                       __import__("kintsugi.archs.stylegan2", fromlist=["x"]).UnitRangeWrapper(net),
                       torch.device("cpu"))
    crop = crop_of(two_faces, 16)
    out = restore(crop, path_model, faces=None)
    assert (out.width, out.height) == (64, 64)
    small = Image.from_array(cv2.resize(two_faces.to_uint(8), (80, 56), interpolation=cv2.INTER_AREA))
    photo = restore(small, path_model, background="bicubic")
    assert (photo.width, photo.height) == (320, 224)  # x4
    with pytest.raises(KintsugiError, match="no mask to bias"):
        restore(crop, path_model, faces=None, bias=0.5)


def test_crop_mode_needs_the_model_input_size(two_faces, panini) -> None:
    with pytest.raises(KintsugiError, match="must be 32x32"):
        restore(two_faces, panini, faces=None)


def test_cancel_between_faces_and_progress(two_faces) -> None:
    model = as_model(IdentityFace(64))
    seen: list[float] = []
    job = Job(on_progress=lambda f, _m: seen.append(f))
    restore(two_faces, model, background="bicubic", job=job)
    assert seen == sorted(seen) and seen[-1] == 1.0
    job = Job()

    class Stopper(IdentityFace):
        def forward(self, x):  # cancel while the first face is being restored
            job.cancel()
            return super().forward(x)

    with pytest.raises(Cancelled):
        restore(two_faces, as_model(Stopper(64)), background="bicubic", job=job)


def test_gray_photo_stays_gray_and_alpha_is_kept(two_faces) -> None:
    rgba = np.dstack([two_faces.to_uint(8), np.full((224, 320), 200, np.uint8)])
    gray = Image.from_array(cv2.cvtColor(two_faces.to_uint(8), cv2.COLOR_RGB2GRAY))
    out = restore(Image.from_array(rgba), as_model(IdentityFace(64, scale=2)), background="bicubic")
    assert out.alpha is not None and out.alpha.shape == (448, 640)
    out_gray = restore(gray, as_model(IdentityFace(64)), background="bicubic")
    assert out_gray.is_gray


def test_provenance_records_the_controls(panini) -> None:
    spec = RestoreSpec(panini, faces=[0, 2], background="bicubic", consistency=True)
    controls = Controls(bias=0.25, bias_blocks={1: -0.5}, bias_map=np.zeros((2, 2)), seed=7)
    info = restore_note(spec, controls, 2)
    assert info["bias"] == "0.25" and info["bias_blocks"] == "1=-0.5" and info["seed"] == "7"
    assert info["faces"] == "0,2" and info["background"] == "bicubic" and info["consistency"] == "on"


# ---- official checkpoints ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["panini", "glean"])
def test_official_mmediting_checkpoint_loads_by_path(tmp_path, kind) -> None:
    """The authors' .pth: {meta, state_dict: {generator.<net>, generator.generator.<mmagic>,
    discriminator.*}}; load_model must unwrap, detect and reproduce the network."""
    net = tiny_panini(3) if kind == "panini" else tiny_glean(3)
    official = L.gan_prior_from_canonical(net.state_dict())
    official["discriminator.convs.0.weight"] = torch.randn(4, 3, 1, 1)
    checkpoint = {"meta": {"mmedit_version": "0.11.0", "iter": 300000}, "state_dict": official}
    path = tmp_path / f"{kind}_official.pth"
    torch.save(checkpoint, path)
    model = load_model(path, "cpu")
    assert model.info.arch == kind and model.info.kind == "face-restorer"
    size = net.in_size
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        expected = (net(x * 2 - 1) + 1) / 2
        got = model.net(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert model.scale == net.out_size // size


def test_known_faces_and_a_ready_background_give_the_same_result(two_faces, panini) -> None:
    from kintsugi.engine.face_runner import background_pixels

    small = Image.from_array(cv2.resize(two_faces.to_uint(8), (160, 112), interpolation=cv2.INTER_AREA))
    plain = restore(small, panini, background="bicubic", bias=0.4)
    scale = plain.width // small.width
    ready = background_pixels(small, scale, "bicubic")
    faces = find_faces(small.pixels)
    reused = restore(small, panini, upscaled=ready, known_faces=faces, bias=0.4)
    np.testing.assert_allclose(reused.pixels, plain.pixels, atol=1e-6)
    assert np.array_equal(ready, background_pixels(small, scale, "bicubic"))  # not painted on
    with pytest.raises(KintsugiError, match="does not match"):
        restore(small, panini, upscaled=ready[:-1], known_faces=faces)
