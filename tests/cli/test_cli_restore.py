"""`kintsugi restore` and `kintsugi models import|library|download` as a user meets them,
through kintsugi.cli.main."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from safetensors.torch import save_file

import kintsugi
from kintsugi import cli
from kintsugi.archs.panini import Panini
from kintsugi.engine import library

torch.set_num_threads(2)
TINY = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8, "growth": 8, "lce_channels": 8,
        "in_size": 32, "rrdb_channels": 8, "num_rrdbs": 1, "head_channels": (8,), "dre_channels": (8, 8, 16)}


def run(args: Sequence[str]) -> int:
    """The exit code of `kintsugi ARGS`, as the installed command would give it."""
    try:
        return cli.main(list(args))
    except SystemExit as stop:  # argparse's usage errors
        return int(stop.code or 0)


pytestmark = pytest.mark.usefixtures("user_dir")  # every test gets its own data folder


@pytest.fixture(scope="module")
def panini_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = Panini("mfr", **TINY).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias") or p.abs().max() == 0:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    path = tmp_path_factory.mktemp("m") / "tiny-panini.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path




@pytest.fixture
def portrait(tmp_path) -> Path:
    """A small real portrait with one face (the astronaut), as a JPEG."""
    data = pytest.importorskip("skimage.data")
    small = cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)
    path = tmp_path / "portrait.jpg"
    PILImage.fromarray(small).save(path, quality=92)
    return path


# ---- restore ------------------------------------------------------------------------------


def test_restore_writes_next_to_the_input_with_provenance(portrait, panini_file, capsys) -> None:
    code = run(["restore", str(portrait), "--model", str(panini_file), "--background", "bicubic",
                "--bias", "0.3", "--bias-block", "1=-0.5", "--seed", "4"])
    assert code == 0, capsys.readouterr().err
    out = portrait.with_name("portrait_restored.jpg")
    img = kintsugi.open_image(out)
    assert (img.width, img.height) == (320, 320)
    info = kintsugi.read_provenance(out)
    assert info["bias"] == "0.3" and info["bias_blocks"] == "1=-0.5" and info["seed"] == "4"
    assert info["model"] == "tiny-panini" and info["scale"] == "2" and info["background"] == "bicubic"
    assert "1 done" in capsys.readouterr().err


def test_bias_on_the_command_line_changes_the_face(portrait, panini_file, tmp_path) -> None:
    outs = {}
    for bias in ("-1", "1"):
        target = tmp_path / f"b{bias}.png"
        assert run(["restore", str(portrait), "-o", str(target), "--model", str(panini_file),
                    "--background", "bicubic", "--bias", bias]) == 0
        outs[bias] = kintsugi.open_image(target).pixels
    assert np.abs(outs["-1"] - outs["1"]).max() > 0.01
    # Away from the face (corners) both are the same bicubic background.
    np.testing.assert_array_equal(outs["-1"][:20, :20], outs["1"][:20, :20])


def test_faces_none_selected_keeps_only_the_background(portrait, panini_file, tmp_path) -> None:
    target = tmp_path / "noface.png"
    assert run(["restore", str(portrait), "-o", str(target), "--model", str(panini_file),
                "--background", "bicubic", "--faces", "min:500", "--consistency"]) == 0
    img = kintsugi.open_image(target)
    source = kintsugi.open_image(portrait).pixels
    bicubic = np.clip(cv2.resize(source, (320, 320), interpolation=cv2.INTER_CUBIC), 0, 1)
    assert np.abs(img.pixels - bicubic).mean() < 0.01  # lock only nudges the bicubic result


def test_restore_help_says_where_face_models_are_listed(capsys) -> None:
    assert run(["restore", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "`kintsugi models list` shows your face models" in help_text
    assert "`kintsugi models library`" in help_text and "--skip-existing" in help_text


def test_usage_errors_exit_2(portrait, capsys) -> None:
    assert run(["restore", str(portrait), "--model", "x", "--bias", "3"]) == 2
    assert run(["restore", str(portrait), "--model", "x", "--bias-block", "a=1"]) == 2
    assert run(["restore", str(portrait), "--model", "x", "--faces", "left"]) == 2
    assert run(["restore", str(portrait), str(portrait), "-o", "x.png", "--model", "x"]) == 2
    err = capsys.readouterr().err
    assert "bias must be between -1 and 1" in err and "K=B" in err


def test_failures_are_one_line(portrait, panini_file, tmp_path, capsys) -> None:
    assert run(["restore", str(portrait), "--model", "no-such-model"]) == 2  # usage error
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kintsugi: error: unknown model 'no-such-model'")
    assert run(["restore", str(portrait), "--model", str(panini_file),
                "--background", "no-such-upscaler"]) == 2
    assert "unknown model 'no-such-upscaler' (--background)" in capsys.readouterr().err
    missing = tmp_path / "missing.jpg"
    code = run(["restore", str(missing), str(portrait), "--out-dir", str(tmp_path / "out"),
                "--model", str(panini_file), "--background", "bicubic"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{missing}: no such file" in err and "1 done, 1 failed" in err
    assert (tmp_path / "out" / "portrait_restored.jpg").is_file()


def test_restore_walks_folders_like_upscale(portrait, panini_file, tmp_path, capsys) -> None:
    tree = tmp_path / "album"
    (tree / "1999").mkdir(parents=True)
    (tree / "1999" / "face.jpg").write_bytes(portrait.read_bytes())
    (tree / "face.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "restored"
    args = ["restore", str(tree), "--out-dir", str(out), "--model", str(panini_file),
            "--background", "bicubic", "--faces", "min:500"]
    assert run(args) == 1  # not recursive: only the (broken) face.png
    assert not (out / "1999").exists()
    assert run([*args, "--recursive"]) == 1
    err = capsys.readouterr().err
    assert "face.png" in err and "1 done, 1 failed" in err
    result = out / "1999" / "face_restored.jpg"  # the sub-folder is mirrored
    assert kintsugi.open_image(result).width == 320
    mtime = result.stat().st_mtime_ns
    assert run([*args, "--recursive", "--skip-existing"]) == 1
    assert "0 done, 1 skipped, 1 failed" in capsys.readouterr().err
    assert result.stat().st_mtime_ns == mtime


def test_bias_on_a_model_without_mask_is_refused(portrait, tmp_path, capsys) -> None:
    code = run(["restore", str(portrait), "--model", "waifu2x-photo-x2", "--bias", "0.5",
                "--background", "bicubic"])
    assert code == 1
    assert "is not a face model" in capsys.readouterr().err


# ---- models import / library / download -------------------------------------------------


def test_models_import_then_restore_by_file(panini_file, user_dir, capsys) -> None:
    assert run(["models", "list"]) == 0
    faces = capsys.readouterr().out.split("Face and restoration models:")[1]
    assert "none yet" in faces and "kintsugi models download" in faces
    assert run(["models", "import", str(panini_file), "--id", "my-faces"]) == 0
    out = capsys.readouterr().out
    assert "imported my-faces: panini (face-restorer, x2, via kintsugi)" in out
    assert (user_dir / "models" / "my-faces.safetensors").is_file()
    assert run(["models", "list"]) == 0
    faces = capsys.readouterr().out.split("Face and restoration models:")[1]
    assert "my-faces" in faces.splitlines()[1] and "none yet" not in faces
    assert run(["models", "import", str(panini_file.with_name("nope.pth"))]) == 1
    assert "model file not found" in capsys.readouterr().err


def test_models_library_lists_licences(capsys) -> None:
    assert run(["models", "library"]) == 0
    out = capsys.readouterr().out
    for wanted in ("panini-mfr", "glean-ffhq-16x", "gfpgan-v1.4", "codeformer", "gpen-bfr-512",
                   "S-Lab License 1.0 (non-commercial)", "NVIDIA", "not supported"):
        assert wanted in out


@pytest.fixture
def local_library(tmp_path, panini_file, monkeypatch, file_server) -> Path:
    body = panini_file.read_bytes()
    file_server.files = {"/tiny.safetensors": body}
    base = file_server.base
    toml = tmp_path / "library.toml"
    digest = hashlib.sha256(body).hexdigest()
    toml.write_text("\n".join([
        "[[checkpoint]]", 'id = "tiny"', 'name = "Tiny"', 'arch = "panini"', 'engine = "kintsugi"',
        'file = "tiny.safetensors"', f'urls = ["{base}/tiny.safetensors"]', 'licence = "test"',
        "in_size = 32", "out_size = 64", "scale = 2", f'sha256 = "{digest}"',
        "", "[[checkpoint]]", 'id = "gone"', 'name = "Gone"', 'arch = "panini"', 'engine = "kintsugi"',
        'file = "gone.pth"', f'urls = ["{base}/gone.pth"]', 'licence = "test"', ""]))
    monkeypatch.setattr(library, "library_path", lambda: toml)
    return toml


def test_models_download(local_library, user_dir, capsys) -> None:
    assert run(["models", "download", "tiny"]) == 0
    assert "downloaded tiny: panini (x2)" in capsys.readouterr().out
    assert (user_dir / "models" / "tiny.safetensors").is_file()
    assert run(["models", "download", "gone"]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert run(["models", "download", "nothing"]) == 1
    assert "not in the model library" in capsys.readouterr().err
