"""The Restore faces mode with tiny random Panini / GLEAN models on real photos: every control
changes the result in the intended way, the live bias preview never builds a backlog and
reuses the photo's faces, and restore results go through the same history and save flow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from gui_helpers import open_photo
from PIL import Image as PILImage
from PySide6.QtCore import Qt, QThread
from safetensors.torch import save_file
from torch import nn

import kintsugi
from fixtures.random_weights import gentle_random
from kintsugi.engine import importer
from kintsugi.engine import session as session_module
from kintsugi.engine.consistency import pool
from kintsugi.engine.photo_sessions import PhotoCache, SessionStore, run_restore
from kintsugi.gui import restore_panel

pytestmark = pytest.mark.gui
torch.set_num_threads(2)

GEN: dict[str, Any] = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8, "growth": 8}
PANINI: dict[str, Any] = {**GEN, "lce_channels": 8, "in_size": 32, "rrdb_channels": 8, "num_rrdbs": 1,
          "head_channels": (8,), "dre_channels": (8, 8, 16)}
GLEAN_TINY: dict[str, Any] = {**GEN, "in_size": 16, "rrdb_channels": 8, "num_rrdbs": 1, "decoder_channels": 8}
PANINI_ID = "tiny-panini-gui"
GLEAN_ID = "tiny-glean-gui"


def tiny_panini(seed: int = 0) -> nn.Module:
    from kintsugi.archs.panini import Panini

    torch.manual_seed(seed)
    return gentle_random(Panini("mfr", **PANINI), seed)


def save_safetensors(net: nn.Module, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "userdata"
    monkeypatch.setenv("KINTSUGI_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def panini_imported(data_dir: Path, tmp_path: Path) -> str:
    path = save_safetensors(tiny_panini(), tmp_path / "weights" / "panini.safetensors")
    return importer.import_model(path, model_id=PANINI_ID).id


@pytest.fixture
def portrait(tmp_path: Path, astronaut_full: np.ndarray) -> Path:
    """The astronaut, 128 px: one face of about 25 px, found by the shipped RetinaFace."""
    path = tmp_path / "photos" / "portrait.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    small = cv2.resize(astronaut_full, (128, 128), interpolation=cv2.INTER_AREA)
    PILImage.fromarray(small).save(path)
    return path


@pytest.fixture
def two_faces(tmp_path: Path, astronaut_full: np.ndarray, coffee_full: np.ndarray) -> Path:
    """Two faces on a coffee table: the left one larger, the right one mirrored."""
    canvas = cv2.resize(coffee_full, (320, 224), interpolation=cv2.INTER_AREA)
    head = astronaut_full[20:210, 140:310]
    for scale, x, y, flip in ((0.6, 20, 40, False), (0.45, 200, 70, True)):
        patch = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        patch = patch[:, ::-1] if flip else patch
        canvas[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    path = tmp_path / "photos" / "two.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(canvas).save(path)
    return path


def restore_window(qtbot, make_window, photo: Path) -> Any:
    window = make_window()
    section = window.panel.restore
    section.bias.live_check.setChecked(False)  # each test runs exactly the restores it asks for
    section.settings.select_background("bicubic")
    window.panel.set_mode("restore")
    open_photo(qtbot, window, photo)
    return window


def run(qtbot, window) -> np.ndarray:
    with qtbot.waitSignal(window.restore.finished, timeout=120_000) as blocker:
        window.panel.restore.restore_button.click()
    assert blocker.args[0] == "ok", window.last_error()
    return window.current_result().image.pixels.copy()


def test_without_face_models_the_section_says_how_to_get_one(qtbot, make_window, data_dir,
                                                             portrait) -> None:
    window = make_window()
    section = window.panel.restore
    window.panel.set_mode("restore")
    open_photo(qtbot, window, portrait)
    assert section.model_ids() == []
    assert section.empty_hint.isVisibleTo(window) and "import" in section.empty_hint.text().lower()
    assert section.import_button.isVisibleTo(window) and section.download_button.isVisibleTo(window)
    assert not section.restore_button.isEnabled() and not window.action("restore").isEnabled()
    assert "&Models" in [a.text() for a in window.menuBar().actions()]


def test_bias_moves_the_result_from_the_input_side_to_the_prior(
        qtbot, make_window, panini_imported, portrait) -> None:
    window = restore_window(qtbot, make_window, portrait)
    section = window.panel.restore
    assert section.selected_model() == PANINI_ID and section.bias.slider.isEnabled()
    labels = [label.text() for label in section.findChildren(type(section.bias.title))]
    assert "fidelity ↔ realness" in labels
    assert "mask" in section.bias.slider.toolTip().lower()
    outs = {}
    for bias in (-1.0, 0.0, 1.0):
        section.bias.set_value(bias)
        outs[bias] = run(qtbot, window)
    assert outs[-1.0].shape == (256, 256, 3)  # the tiny Panini is x2
    # -1 is the input-features-only network; moving the bias up moves away from it.
    far = float(np.abs(outs[1.0] - outs[-1.0]).mean())
    mid = float(np.abs(outs[0.0] - outs[-1.0]).mean())
    assert far > mid > 1e-4
    # Plumbing: the window's result is the public API's for the same choices.
    source = kintsugi.open_image(portrait)
    direct = kintsugi.restore(source, PANINI_ID, bias=1.0, background="bicubic")
    np.testing.assert_allclose(outs[1.0], direct.pixels, atol=1e-5)
    assert window.current_result().model_id == PANINI_ID and window.current_result().scale == 2
    assert section.settings.faces_found.text().startswith("1 face found")


def test_block_bias_and_seed_change_the_result(qtbot, make_window, panini_imported,
                                               portrait) -> None:
    window = restore_window(qtbot, make_window, portrait)
    section = window.panel.restore
    base = run(qtbot, window)
    # The tiny Panini has 3 DAFI blocks (4, 8, 16 px): the other sliders are off.
    assert [s.isEnabled() for s in section.bias.block_sliders] == [True, True, True, False, False]
    section.bias.advanced_button.setChecked(True)
    section.bias.block_sliders[0].set_value(1.0)
    assert window.restore.options().controls.blocks == {0: 1.0}
    coarse = run(qtbot, window)
    assert np.abs(coarse - base).mean() > 1e-4
    section.bias.block_sliders[0].set_value(0.0)

    assert section.settings.seed_spin.isEnabled()
    section.settings.another_button.click()
    seed = section.settings.seed_spin.value()
    assert seed >= 0 and window.restore.options().controls.seed == seed
    first = run(qtbot, window)
    assert np.abs(first - base).mean() > 1e-4  # new noise, another version
    assert np.array_equal(run(qtbot, window), first)  # the same seed gives the same version
    section.settings.another_button.click()
    assert section.settings.seed_spin.value() != seed
    assert np.abs(run(qtbot, window) - first).mean() > 1e-4


def test_faces_choice_decides_which_region_changes(qtbot, make_window, panini_imported,
                                                   two_faces) -> None:
    window = restore_window(qtbot, make_window, two_faces)
    section = window.panel.restore
    section.settings.faces_combo.setCurrentIndex(section.settings.faces_combo.findData("min"))
    section.settings.faces_min.setValue(5000)  # no face is that big: only the background
    background = run(qtbot, window)
    assert "2 faces" in section.settings.faces_found.text()
    section.settings.faces_combo.setCurrentIndex(section.settings.faces_combo.findData("all"))
    every = run(qtbot, window)
    section.settings.faces_combo.setCurrentIndex(section.settings.faces_combo.findData("indices"))
    section.settings.faces_edit.setText("1")
    right_only = run(qtbot, window)
    half = every.shape[1] // 2  # faces at x 20..122 and 200..277 of 320: left / right halves
    changed = np.abs(right_only - background).max(axis=2)
    assert changed[:, :half].max() == 0  # the left face was left alone
    assert changed[:, half:].max() > 0.05
    both = np.abs(every - background).max(axis=2)
    assert both[:, :half].max() > 0.05 and both[:, half:].max() > 0.05
    # A bad list is a readable message, not a crash.
    section.settings.faces_edit.setText("left")
    window.restore.start()
    assert "0,2" in window.last_error()


def test_consistency_colour_match_and_background_controls(qtbot, make_window, panini_imported,
                                                          portrait) -> None:
    window = restore_window(qtbot, make_window, portrait)
    section = window.panel.restore
    source = kintsugi.open_image(portrait).pixels
    free = run(qtbot, window)
    assert np.abs(pool(free, 2) - source).max() > 1e-2  # without the lock the face drifts
    section.settings.consistency_check.setChecked(True)
    locked = run(qtbot, window)
    np.testing.assert_allclose(pool(locked, 2), source, atol=1e-5)
    assert window.current_result().consistency
    section.settings.consistency_check.setChecked(False)

    section.settings.color_check.setChecked(False)
    raw_colours = run(qtbot, window)
    assert np.abs(raw_colours - free).mean() > 1e-4
    section.settings.color_check.setChecked(True)

    section.settings.select_background("waifu2x-photo-x2")
    assert window.restore.options().spec.background == "waifu2x-photo-x2"
    upscaled = run(qtbot, window)
    corner = np.s_[180:, :60]  # lower-left: far from the face
    assert np.abs(upscaled[corner] - free[corner]).mean() > 1e-3


def test_live_bias_preview_has_no_backlog_and_reuses_the_faces(
        qtbot, make_window, panini_imported, portrait, monkeypatch) -> None:
    window = restore_window(qtbot, make_window, portrait)
    section = window.panel.restore
    section.bias.live_check.setChecked(True)
    started: list[float] = []
    real = session_module.RestoreSession.render

    def counting(self: Any, controls: Any, **kwargs: Any) -> Any:
        if QThread.currentThread().objectName() == "kintsugi-restore-preview":  # not the strip's
            started.append(controls.bias)
        return real(self, controls, **kwargs)

    monkeypatch.setattr(session_module.RestoreSession, "render", counting)

    def settled() -> bool:
        return not section.preview_pending() and not window.restore.preview_runner.is_busy()

    began = time.monotonic()
    for value in range(-60, 61, 5):  # 25 moves, a drag of ~0.25 s
        section.bias.slider.setValue(value)
        qtbot.wait(10)
    dragged = time.monotonic() - began
    qtbot.waitUntil(settled, timeout=120_000)
    # Throttled: at most one request per PREVIEW_DELAY_MS while dragging, plus the last value.
    assert 1 <= len(started) <= dragged * 1000 / restore_panel.PREVIEW_DELAY_MS + 2, started
    assert len(started) < 25 / 2
    assert started[-1] == pytest.approx(0.6)
    result = window.current_result()
    assert result.options.controls.bias == pytest.approx(0.6) and result.preview
    direct = kintsugi.restore(kintsugi.open_image(portrait), PANINI_ID, bias=0.6,
                              background="bicubic")
    np.testing.assert_allclose(result.image.pixels, direct.pixels, atol=1e-5)

    # A second drag: the faces found for the first preview are reused, and the history
    # keeps one preview step instead of one per value.
    steps = len(window.document.history)  # noqa: SLF001
    for value in (-20, -40, -80):
        section.bias.slider.setValue(value)
        qtbot.wait(5)
    qtbot.waitUntil(settled, timeout=120_000)
    assert window.current_result().options.controls.bias == pytest.approx(-0.8)
    assert window.restore.photo_cache().detections == 1
    assert len(window.document.history) == steps  # noqa: SLF001


def test_session_path_gives_the_same_pixels_as_restore(panini_imported, two_faces,
                                                       model_cache) -> None:
    from kintsugi.engine.job import Job

    image = kintsugi.open_image(two_faces)
    model = model_cache.get(PANINI_ID)
    spec = kintsugi.RestoreSpec(PANINI_ID, faces=[1], background="bicubic", consistency=True,
                                color_match=False)
    controls = kintsugi.Controls(bias=0.4, bias_blocks=((1, -0.5),), seed=7)
    cache, store = PhotoCache(), SessionStore()
    cached, _model, scale, found = run_restore(image, spec, controls, "auto", model_cache, cache,
                                               store, Job())
    again = run_restore(image, spec, controls, "auto", model_cache, cache, store, Job())[0]
    direct = kintsugi.restore(image, model, bias=0.4, bias_blocks={1: -0.5}, seed=7, faces=[1],
                              background="bicubic", consistency=True, color_match=False)
    np.testing.assert_allclose(cached.pixels, direct.pixels, atol=1e-6)
    assert np.array_equal(again.pixels, cached.pixels) and cache.detections == 1
    assert store.builds == 1 and (scale, found) == (2, 2)


def test_restore_result_is_saved_with_its_provenance(qtbot, make_window, panini_imported,
                                                     portrait) -> None:
    window = restore_window(qtbot, make_window, portrait)
    window.panel.restore.bias.set_value(0.25)
    run(qtbot, window)
    target = window.saver.default_path()
    assert target.name == "portrait_restored_x2.png"
    with qtbot.waitSignal(window.saver.saved, timeout=30_000):
        window.saver.save_to(target)
    note = kintsugi.read_provenance(target)
    assert note["operation"] == "restore" and note["model"] == PANINI_ID
    assert note["bias"] == "0.25" and note["background"] == "bicubic"
    assert kintsugi.open_image(target).width == 256
    window.document.undo()
    assert window.current_result() is None  # one restore, one history step


def test_bias_is_off_for_models_without_a_mask(qtbot, make_window, data_dir, tmp_path,
                                               portrait) -> None:
    from kintsugi.archs.glean import GLEAN

    torch.manual_seed(0)
    glean = gentle_random(GLEAN(**GLEAN_TINY), 0)
    importer.import_model(save_safetensors(glean, tmp_path / "w" / "glean.safetensors"),
                          model_id=GLEAN_ID)
    window = restore_window(qtbot, make_window, portrait)
    section = window.panel.restore
    assert section.selected_model() == GLEAN_ID
    assert not section.bias.slider.isEnabled() and "Panini" in section.bias.slider.toolTip()
    assert not section.bias.advanced_button.isEnabled()
    assert section.settings.seed_spin.isEnabled()  # GLEAN's latent bank draws noise
    section.bias.slider.setValue(80)  # cannot be reached by the user; still never sent
    assert window.restore.options().controls.bias == 0.0
    out = run(qtbot, window)
    assert out.shape == (512, 512, 3)  # the tiny GLEAN is x4


def test_faces_are_outlined_and_a_click_excludes_one_from_the_restore(
        qtbot, make_window, panini_imported, two_faces, monkeypatch) -> None:
    from kintsugi.engine import faces as engine_faces

    detections: list[int] = []
    real_detect = engine_faces.detect_faces
    monkeypatch.setattr(engine_faces, "detect_faces",
                        lambda *a, **k: detections.append(1) or real_detect(*a, **k))
    window = make_window()
    window.panel.restore.bias.live_check.setChecked(False)
    window.panel.restore.settings.select_background("bicubic")
    window.panel.set_mode("restore")
    with qtbot.waitSignal(window.restore.faces_shown, timeout=120_000) as shown:
        open_photo(qtbot, window, two_faces)
    assert shown.args == [2]
    section = window.panel.restore
    section.settings.faces_combo.setCurrentIndex(section.settings.faces_combo.findData("min"))
    section.settings.faces_min.setValue(5000)  # no face is that big: only the background
    background = run(qtbot, window)
    section.settings.faces_combo.setCurrentIndex(section.settings.faces_combo.findData("all"))
    canvas = window.canvas
    boxes = canvas.faces.boxes()
    assert len(boxes) == 2 and boxes[0].center().x() < boxes[1].center().x()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton,
                     pos=canvas.content_to_widget(boxes[0].center()).toPoint())
    assert section.settings.faces_edit.text() == "1"  # the left face is now excluded
    right_only = run(qtbot, window)
    half = right_only.shape[1] // 2
    changed = np.abs(right_only - background).max(axis=2)
    assert changed[:, :half].max() == 0 and changed[:, half:].max() > 0.05
    assert len(detections) == 1  # the outlines and both restores: one detection
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton,  # click again: included again
                     pos=canvas.content_to_widget(canvas.faces.boxes()[0].center()).toPoint())
    assert section.settings.faces_edit.text() == "0,1"


def test_default_background_photo_scale_and_aligned_crop(
        qtbot, make_window, panini_imported, portrait, tmp_path, astronaut_full) -> None:
    window = make_window()
    section = window.panel.restore
    assert section.options().spec.background is None  # the default upscaler, as on the CLI
    assert "Default upscaler" in section.settings.background_combo.currentText()
    section.bias.live_check.setChecked(False)
    section.settings.select_background("bicubic")
    window.panel.set_mode("restore")
    open_photo(qtbot, window, portrait)
    section.settings.scale_spin.setValue(3)
    assert run(qtbot, window).shape[:2] == (384, 384)
    crop = tmp_path / "photos" / "crop.png"  # a face crop of the model's input size (32)
    PILImage.fromarray(cv2.resize(astronaut_full[20:220, 150:350], (32, 32),
                                  interpolation=cv2.INTER_AREA)).save(crop)
    open_photo(qtbot, window, crop)
    section.settings.faces_combo.setCurrentIndex(section.settings.faces_combo.findData("aligned"))
    assert not section.settings.scale_spin.isVisibleTo(window)  # an aligned crop has no photo scale
    out = run(qtbot, window)
    assert out.shape[:2] == (64, 64)
    assert "aligned crop" in window.current_result().label


def test_a_fidelity_weight_model_gets_the_same_slider_labelled_w(qtbot) -> None:
    """CodeFormer's w (capabilities say fidelity_weight) rides the fidelity <-> realness
    slider: left = w 1 (closest to the photo), right = w 0; the bias is not sent."""
    from types import SimpleNamespace

    from kintsugi.archs import Capabilities
    from kintsugi.gui.restore_panel import RestorePanel

    panel = RestorePanel()
    qtbot.addWidget(panel)
    info = SimpleNamespace(id="codeformer-x", name="CodeFormer", arch="codeformer", scale=1,
                           licence="S-Lab (NC)")
    caps = Capabilities(purpose="face-restorer", input_size=512, fidelity_weight=True)
    panel.set_models([info], [], caps={"codeformer-x": caps})
    assert panel.bias.main.isEnabled() and panel.bias.title.text() == "Fidelity (CodeFormer w)"
    assert not panel.bias.advanced_button.isEnabled() and not panel.settings.seed_spin.isEnabled()
    panel.bias.set_value(-1.0)
    assert panel.options().controls.fidelity == 1.0 and panel.options().controls.bias == 0.0
    panel.bias.set_value(1.0)
    assert panel.options().controls.fidelity == 0.0
    assert "w 0.00" in panel.options().describe()
