"""`models import`: identification, safe loading, atomic copy, user manifest; the library
of official checkpoints and its download into the user folder (local server only)."""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
from pathlib import Path

import pytest
import tomllib
import torch
from safetensors.torch import save_file

from kintsugi.archs import arch_by_id
from kintsugi.archs import gan_layouts as L
from kintsugi.archs.panini import Panini
from kintsugi.engine import importer, library, registry
from kintsugi.engine.errors import ModelError

torch.set_num_threads(2)
TINY = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8, "growth": 8, "lce_channels": 8,
        "in_size": 32, "rrdb_channels": 8, "num_rrdbs": 1, "head_channels": (8,), "dre_channels": (8, 8, 16)}


pytestmark = pytest.mark.usefixtures("user_dir")  # every test gets its own data folder


def tiny_panini() -> Panini:
    torch.manual_seed(0)
    return Panini("mfr", **TINY).eval()


@pytest.fixture
def official_pth(tmp_path) -> Path:
    """A tiny Panini saved as the authors' mmediting checkpoint."""
    state = L.gan_prior_from_canonical(tiny_panini().state_dict())
    path = tmp_path / "downloads" / "panini_mfr_latest.pth"
    path.parent.mkdir()
    torch.save({"meta": {"iter": 1}, "state_dict": state}, path)
    return path


def test_import_official_checkpoint_copies_and_records_it(official_pth, user_dir) -> None:
    entry = importer.import_model(official_pth)
    assert entry.id == "panini_mfr_latest" and entry.arch == "panini" and entry.engine == "kintsugi"
    assert entry.scale == 2 and entry.kind == "face-restorer"
    copy = user_dir / "models" / entry.file
    assert copy.read_bytes() == official_pth.read_bytes()
    assert official_pth.exists()  # copied, not moved
    assert entry.sha256 == hashlib.sha256(official_pth.read_bytes()).hexdigest()
    manifest = tomllib.loads((user_dir / "models" / "user.toml").read_text())
    [row] = manifest["model"]
    assert row["original_name"] == "panini_mfr_latest.pth" and row["sha256"] == entry.sha256
    assert not list((user_dir / "models").glob(".*.tmp"))  # no temporary file left behind
    # Importing the same file again is a no-op; another file gets its own id.
    assert importer.import_model(official_pth).id == entry.id
    assert len(importer.read_manifest()) == 1


def test_a_file_name_with_emoji_survives_the_model_list(official_pth, capsys) -> None:
    named = official_pth.with_name("grandma \U0001f475\U0001f3fd \u00e9t\u00e9 \"1953\".pth")
    official_pth.rename(named)
    entry = importer.import_model(named, licence="\u00a9 someone \U0001f4f7")
    [again] = importer.read_manifest()  # once failed: surrogate escapes are not TOML
    assert again.original_name == named.name and again.licence == entry.licence
    assert [m.id for m in importer.user_models()] == [entry.id]
    from kintsugi import cli

    assert cli.main(["models", "list"]) == 0
    assert named.name in capsys.readouterr().out


def test_user_models_are_model_infos_that_build_the_network(official_pth) -> None:
    importer.import_model(official_pth, model_id="my panini")
    [info] = importer.user_models()
    assert info.id == "my-panini" and info.path is not None and info.path.is_file()
    # The params survive TOML (tuples become lists) and rebuild the same network.
    spec = arch_by_id(info.arch)
    net = spec.build(**info.params).eval()
    net.load_state_dict(registry.read_state_dict(info.path), strict=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x), (tiny_panini()(x * 2 - 1) + 1) / 2)


def test_safetensors_import_and_explicit_id_clash(tmp_path) -> None:
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_panini().state_dict().items()}, str(path))
    entry = importer.import_model(path, model_id="faces")
    assert entry.file == "faces.safetensors"
    other = tmp_path / "other.safetensors"
    torch.manual_seed(5)
    save_file({k: v.contiguous() for k, v in Panini("mfr", **TINY).state_dict().items()}, str(other))
    with pytest.raises(ModelError, match="already exists"):
        importer.import_model(other, model_id="faces")
    assert importer.import_model(other).id == "other"
    third = tmp_path / "third.safetensors"
    torch.manual_seed(6)
    save_file({k: v.contiguous() for k, v in Panini("mfr", **TINY).state_dict().items()}, str(third))
    with pytest.raises(ModelError, match="already exists"):
        importer.import_model(third, model_id="realesrgan-x4plus")  # a shipped id


class Sneaky:
    def __reduce__(self):
        return (print, ("this would run on load",))


@pytest.mark.parametrize("protocol", [2, 4])  # 2 names a global inline, 4 from pushed strings
def test_pickle_that_runs_code_is_refused_and_named(tmp_path, protocol) -> None:
    path = tmp_path / "evil.pth"
    buffer = io.BytesIO()
    pickle.dump({"state_dict": {"w": torch.zeros(1)}, "x": Sneaky()}, buffer, protocol=protocol)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelError, match=r"references .*builtins\.print, code that would run on "
                                         "loading; Kintsugi refuses to load it"):
        importer.import_model(path)
    assert importer.read_manifest() == []


def test_random_bytes_are_not_a_model_file_and_say_what_they_start_with(tmp_path) -> None:
    # The trial's fake_face.pth: torch's safe loader calls these bytes an unsafe pickle.
    path = tmp_path / "fake_face.pth"
    path.write_bytes(b"\x8f\x3a\x11\xc2" + bytes(range(256)) * 16)
    with pytest.raises(ModelError) as raised:
        importer.import_model(path)
    assert str(raised.value) == ("fake_face.pth is not a valid model file: not a zip archive or a "
                                 "pickle (it starts with bytes 8f 3a 11 c2 00 01 02 03)")


@pytest.mark.parametrize(("content", "found"), [
    (b"\x80\x02\xa9" + bytes(64), r"pickle data is damaged \(at position 2, opcode b'\\xa9' unknown\)"),
    (b"", r"not a zip archive or a pickle \(it is empty\)"),
])
def test_damaged_pickles_are_not_model_files(tmp_path, content, found) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="broken.pth is not a valid model file: .*" + found):
        importer.import_model(path)


def test_zip_that_is_not_a_checkpoint_says_so(tmp_path) -> None:
    import zipfile

    path = tmp_path / "photos.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "hello")
    with pytest.raises(ModelError, match="photos.pth is not a valid model file: .*without the data.pkl"):
        importer.import_model(path)


def test_unknown_layout_without_spandrel_names_what_it_would_need(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "spandrel", None)  # import spandrel -> ImportError
    path = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params_ema": {"conv_body_first.weight": torch.zeros(4, 3, 1, 1)}}, path)
    with pytest.raises(ModelError, match="GFPGAN.*spandrel, which is not installed") as raised:
        importer.import_model(path)
    assert "pip install" not in str(raised.value)  # it cannot install beside the pinned torch
    assert "torchvision" in str(raised.value)
    assert importer.spandrel_status() == (False, "is not installed")


def test_not_a_weights_file(tmp_path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(ModelError, match="not a weights file"):
        importer.import_model(path)
    with pytest.raises(ModelError, match="not found"):
        importer.import_model(tmp_path / "missing.pth")


def test_remove_model(official_pth) -> None:
    entry = importer.import_model(official_pth)
    importer.remove_model(entry.id)
    assert importer.read_manifest() == [] and not entry.path.exists()
    with pytest.raises(ModelError):
        importer.remove_model(entry.id)


@pytest.mark.skipif(importer.spandrel_status()[0] is False, reason="spandrel is not installed")
def test_spandrel_registry_is_a_copy() -> None:
    import spandrel

    before = len(spandrel.MAIN_REGISTRY)
    registry = importer.spandrel_registry()
    assert registry is not spandrel.MAIN_REGISTRY and len(spandrel.MAIN_REGISTRY) == before


# ---- library ------------------------------------------------------------------------------


def test_library_lists_the_official_checkpoints_with_licences() -> None:
    entries = {e.id: e for e in library.library_entries()}
    for wanted in ("panini-mfr", "panini-sr16x", "glean-ffhq-16x", "glean-ffhq-8x", "glean-cat-8x",
                   "glean-cat-16x", "gfpgan-v1.3", "gfpgan-v1.4", "codeformer", "gpen-bfr-512"):
        assert wanted in entries
    for entry in entries.values():
        assert entry.licence and entry.listed_in
        assert all(url.startswith("https://") for url in entry.urls)
        assert entry.sha256 == "" or len(entry.sha256) == 64  # never a made-up short hash
        assert entry.out_size == entry.in_size * entry.scale
    assert entries["glean-ffhq-16x"].sha256_prefix in entries["glean-ffhq-16x"].urls[0]
    assert entries["codeformer"].non_commercial and "non-commercial" in entries["codeformer"].licence
    assert "NVIDIA" in entries["panini-mfr"].licence
    assert not entries["gpen-bfr-512"].downloadable


def test_download_from_the_library_records_a_usable_model(official_pth, file_server, tmp_path,
                                                          user_dir) -> None:
    body = official_pth.read_bytes()
    file_server.files = {"/panini.pth": body}
    toml = tmp_path / "library.toml"
    toml.write_text(f'''
[[checkpoint]]
id = "tiny-panini"
name = "Tiny Panini"
arch = "panini"
engine = "kintsugi"
in_size = 32
out_size = 64
scale = 2
file = "panini_tiny.pth"
urls = ["{file_server.base}/gone.pth", "{file_server.base}/panini.pth"]
listed_in = "test"
sha256 = "{hashlib.sha256(body).hexdigest()}"
licence = "test licence"
''')
    model = library.download_checkpoint("tiny-panini", path=toml, timeout=5)
    assert model.id == "tiny-panini" and model.arch == "panini" and model.licence == "test licence"
    assert model.path.read_bytes() == body
    assert not (user_dir / "models" / "panini_tiny.pth").exists()  # renamed to its id
    assert [m.id for m in importer.user_models()] == ["tiny-panini"]
    assert library.download_checkpoint("tiny-panini", path=toml).id == "tiny-panini"  # no refetch


def test_library_refuses_what_it_cannot_run(monkeypatch) -> None:
    with pytest.raises(ModelError, match="no GPEN architecture"):
        library.download_checkpoint("gpen-bfr-512")
    with pytest.raises(ModelError, match="not in the model library"):
        library.library_entry("nope")
