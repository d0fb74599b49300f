"""`kintsugi heal PHOTO --mask MASK.png` as a user meets it: writes <stem>_healed beside the
photo, never touches the original, keeps unpainted pixels, refuses bad masks clearly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import kintsugi
from kintsugi import cli

torch.set_num_threads(2)
MODEL = ["--model", "waifu2x-photo-x2"]  # small and fast; the default upscaler is tested in engine


def run(args: Sequence[str]) -> int:
    try:
        return cli.main(list(args))
    except SystemExit as stop:  # argparse's usage errors
        return int(stop.code or 0)


pytestmark = pytest.mark.usefixtures("user_dir")  # every test gets its own data folder


@pytest.fixture
def photo(tmp_path, astronaut_full) -> Path:
    path = tmp_path / "portrait.png"
    PILImage.fromarray(astronaut_full[60:188, 150:278]).save(path)
    return path


def mask_file(tmp_path: Path, size: tuple[int, int] = (128, 128), name: str = "mask.png") -> Path:
    mask = np.zeros(size, np.uint8)
    mask[50:70, 40:64] = 255
    path = tmp_path / name
    PILImage.fromarray(mask).save(path)
    return path


def test_heal_writes_beside_the_photo_and_keeps_the_rest(photo, tmp_path, capsys):
    original = photo.read_bytes()
    assert run(["heal", str(photo), "--mask", str(mask_file(tmp_path)), *MODEL, "--feather", "6"]) == 0
    out = tmp_path / "portrait_healed.png"
    assert out.is_file() and photo.read_bytes() == original
    before = np.asarray(PILImage.open(photo), np.int64)
    after = np.asarray(PILImage.open(out), np.int64)
    assert np.array_equal(after[:40], before[:40]) and np.array_equal(after[80:], before[80:])
    assert np.abs(after[50:70, 40:64] - before[50:70, 40:64]).mean() > 0.5
    note = kintsugi.read_provenance(out)
    assert note is not None and note["operation"] == "heal" and note["factor"] == "2"
    assert "wrote" in capsys.readouterr().err


def test_heal_with_a_transparent_mask_and_an_output_name(photo, tmp_path):
    rgba = np.zeros((128, 128, 4), np.uint8)
    rgba[50:70, 40:64] = 255  # white, opaque where painted; transparent elsewhere
    mask = tmp_path / "strokes.png"
    PILImage.fromarray(rgba).save(mask)
    dst = tmp_path / "fixed.png"
    assert run(["heal", str(photo), "--mask", str(mask), "-o", str(dst), *MODEL, "--factor", "3"]) == 0
    before = np.asarray(PILImage.open(photo), np.int64)
    after = np.asarray(PILImage.open(dst), np.int64)
    assert np.array_equal(after[:30], before[:30])
    assert kintsugi.read_provenance(dst)["factor"] == "3"


def test_heal_never_overwrites_the_original(photo, tmp_path, capsys):
    original = photo.read_bytes()
    assert run(["heal", str(photo), "--mask", str(mask_file(tmp_path)), "-o", str(photo), *MODEL]) == 2
    assert photo.read_bytes() == original
    assert "never overwrites" in capsys.readouterr().err


def test_heal_refuses_a_mask_of_another_size(photo, tmp_path, capsys):
    assert run(["heal", str(photo), "--mask", str(mask_file(tmp_path, (64, 64))), *MODEL]) == 1
    err = capsys.readouterr().err
    assert "64x64" in err and "128x128" in err and "Traceback" not in err


def test_heal_refuses_bad_options(photo, tmp_path):
    mask = str(mask_file(tmp_path))
    assert run(["heal", str(photo), "--mask", mask, "--factor", "9"]) == 2
    assert run(["heal", str(photo), "--mask", mask, "--feather", "-3"]) == 2
    assert run(["heal", str(photo)]) == 2  # --mask is required
