"""Batch export dialog over a real folder tree: mirrored output, per-file errors that do not
stop the batch, pause/resume, cancel without partial files, skip existing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import DEFAULT_MODEL, FAST_MODEL
from PIL import Image as PILImage

import kintsugi

pytestmark = pytest.mark.gui


def crop(photo: np.ndarray, index: int, size: int = 32) -> np.ndarray:
    y, x = 40 + 37 * index, 60 + 53 * index
    return np.ascontiguousarray(photo[y : y + size, x : x + size])


def block_output_folder(out: Path, name: str) -> None:
    """Make <out>/<name> unwritable. Root ignores permissions, so there a plain FILE takes
    the folder's name and creating the folder fails just as a read-only one would."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        target.mkdir()
        target.chmod(0o555)
    else:
        target.write_text("a file where the output folder should be")


@pytest.fixture
def tree(tmp_path: Path, astronaut_full: np.ndarray) -> Path:
    root = tmp_path / "shoot"
    (root / "sub").mkdir(parents=True)
    (root / "blocked").mkdir()
    PILImage.fromarray(crop(astronaut_full, 0)).save(root / "a.png")
    PILImage.fromarray(crop(astronaut_full, 1)).save(root / "sub" / "b.png")
    PILImage.fromarray(crop(astronaut_full, 2)).save(root / "blocked" / "c.png")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    return root


def open_dialog(window, root: Path, out: Path, model: str = FAST_MODEL):  # type: ignore[no-untyped-def]
    window.batch.open(str(root))
    dialog = window.batch.dialog()
    dialog.photos.output_edit.setText(str(out))
    dialog.photos.recursive_check.setChecked(True)
    dialog.method.model_combo.setCurrentIndex(dialog.method.model_combo.findData(model))
    return dialog


def run(qtbot, dialog):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(dialog.batch_finished, timeout=300_000) as blocker:
        dialog.start()
    return blocker.args[0]


def test_batch_mirrors_folders_and_lists_failures_without_stopping(
    qtbot, make_window, tree: Path, tmp_path: Path
) -> None:
    window = make_window()
    out = tmp_path / "out"
    block_output_folder(out, "blocked")
    dialog = open_dialog(window, tree, out)
    assert dialog.photos.input_edit.text() == str(tree)
    summary = run(qtbot, dialog)
    assert summary.done == 2 and len(summary.failed) == 2 and not summary.cancelled
    for produced in (out / "a_x2.png", out / "sub" / "b_x2.png"):
        assert kintsugi.open_image(produced).width == 64
    failed = {Path(src).name for src, _message in summary.failed}
    assert failed == {"bad.png", "c.png"}
    errors = [dialog.status.error_list.item(i).text() for i in range(dialog.status.error_list.count())]
    assert len(errors) == 2 and any(e.startswith("bad.png") for e in errors)
    assert all("Traceback" not in e for e in errors)
    assert "2 upscaled" in dialog.status.summary_label.text()
    assert "2 failed" in dialog.status.summary_label.text()
    assert dialog.status.overall_progress.value() == 1000
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()

    # Again with "skip existing": the two finished photos are not redone.
    dialog.files.skip_check.setChecked(True)
    mtime = (out / "a_x2.png").stat().st_mtime_ns
    summary = run(qtbot, dialog)
    assert summary.skipped == 2 and summary.done == 0
    assert (out / "a_x2.png").stat().st_mtime_ns == mtime


def test_format_scale_and_name_pattern_reach_the_files(
    qtbot, make_window, tree: Path, tmp_path: Path
) -> None:
    window = make_window()
    out = tmp_path / "jpegs"
    dialog = open_dialog(window, tree, out)
    dialog.photos.recursive_check.setChecked(False)
    dialog.files.format_combo.setCurrentIndex(dialog.files.format_combo.findData("JPEG"))
    dialog.method.scale_combo.setCurrentIndex(dialog.method.scale_combo.findData(4))
    dialog.files.pattern_edit.setText("{stem}-big{scale}")
    summary = run(qtbot, dialog)
    assert summary.done == 1  # a.png only: not recursive, bad.png fails
    produced = out / "a-big4.jpg"
    assert kintsugi.open_image(produced).width == 128
    assert not (out / "sub").exists()


def test_pause_holds_the_batch_and_resume_finishes_it(
    qtbot, make_window, tree: Path, tmp_path: Path
) -> None:
    window = make_window()
    out = tmp_path / "paused"
    dialog = open_dialog(window, tree, out)
    with qtbot.waitSignal(dialog.batch_finished, timeout=300_000) as blocker:
        dialog.start()
        dialog.toggle_pause()
        assert dialog.is_paused() and dialog.pause_button.text() == "Resume"
        qtbot.wait(600)
        assert not out.exists() or not any(out.rglob("*.png"))  # nothing ran while paused
        dialog.toggle_pause()
        assert not dialog.is_paused()
    summary = blocker.args[0]
    assert summary.done == 3 and not summary.cancelled


@pytest.mark.slow
def test_cancel_stops_between_photos_and_leaves_no_partial_file(
    qtbot, make_window, tmp_path: Path, astronaut_full: np.ndarray
) -> None:
    window = make_window(DEFAULT_MODEL)
    root = tmp_path / "many"
    root.mkdir()
    for i in range(6):
        PILImage.fromarray(crop(astronaut_full, i, 48)).save(root / f"p{i}.png")
    out = tmp_path / "cancelled"
    dialog = open_dialog(window, root, out, DEFAULT_MODEL)
    dialog._signals.batch_event.connect(  # noqa: SLF001 - cancel right after the first photo
        lambda event: dialog.cancel() if event.status == "done" else None)
    summary = run(qtbot, dialog)
    assert summary is None or summary.cancelled
    written = sorted(out.rglob("*")) if out.exists() else []
    assert 1 <= len(written) < 6
    for path in written:  # every file present is a complete image; no temp leftovers
        assert path.suffix == ".png" and kintsugi.open_image(path).width == 192
    assert dialog.start_button.isEnabled()
    assert "Cancelled" in dialog.status.summary_label.text()


def test_closing_the_window_stops_a_running_batch(
    qtbot, make_window, tree: Path, tmp_path: Path
) -> None:
    window = make_window()
    dialog = open_dialog(window, tree, tmp_path / "closing")
    dialog.start()
    dialog.toggle_pause()  # keep it running until the close
    window.close()
    assert not dialog.is_running()
