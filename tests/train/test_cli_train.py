"""`kintsugi train` on the command line: a tiny run, resume, and one-line errors."""

from __future__ import annotations

import json

from kintsugi.cli import main

TINY = ["--param", "C=2", "--param", "D=1", "--param", "G=8", "--param", "G0=8", "--param", "T=1"]


def test_train_then_resume_from_the_command_line(photos, tmp_path, capsys):
    run = tmp_path / "cli-run"
    code = main(["train", "rrdn", "--data", str(photos), "--out", str(run), "--init", "none", "--scale", "2",
                 *TINY, "--size", "32", "--steps", "2", "--batch", "2", "--device", "cpu",
                 "--degradation", "bicubic", "--val-every", "2"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.strip() == str(run / "cli-run.safetensors")
    assert "step 2/2" in captured.err and "ETA" in captured.err and "held-out PSNR" in captured.err
    assert main(["train", "--resume", str(run), "--steps", "3"]) == 0
    steps = [json.loads(line).get("step") for line in (run / "log.jsonl").read_text().splitlines()]
    assert max(s for s in steps if s is not None) == 3


def test_errors_are_one_line(photos, tmp_path, capsys):
    assert main(["train", "rrdn"]) == 2
    assert "--data" in capsys.readouterr().err
    code = main(["train", "rrdn", "--data", str(photos), "--out", str(tmp_path / "r"), "--init", "none",
                 "--perceptual-weight", "1", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0 and "VGG" in err
    assert main(["train", "rrdn", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r2"),
                 "--init", "none", "--device", "cpu"]) == 1
    assert "not found" in capsys.readouterr().err


def test_the_command_offers_every_training_target():
    from kintsugi import train
    from kintsugi.cli import train as cli_train

    assert cli_train.TARGETS == train.TARGETS  # kept apart so `kintsugi --help` does not load torch


def test_r1_and_align_options_reach_the_run_settings(photos, tmp_path):
    from kintsugi.cli import build_parser
    from kintsugi.cli.train import _config

    base = ["train", "glean", "--data", str(photos), "--out", str(tmp_path / "r")]
    config = _config(build_parser().parse_args([*base, "--r1-gamma", "0.5", "--r1-every", "4"]))
    assert (config.r1_gamma, config.r1_every) == (0.5, 4)
    defaults = _config(build_parser().parse_args(base))
    assert (defaults.r1_gamma, defaults.r1_every) == (10.0, 16)
    assert defaults.align and not _config(build_parser().parse_args([*base, "--no-align"])).align
