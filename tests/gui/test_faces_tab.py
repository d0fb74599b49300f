"""The Faces tab renders one RestoreSession per photo and model (tiny random Panini and
Pro-PULSE models on a real photo): a further slider value re-runs no cached stage and moves
the result the intended way, stale previews are dropped, the strip fills and a click shows
and saves its alternative, each per-block slider acts on its own block, a brush stroke
changes only its feathered region, and Pro-PULSE's side outputs fill a strip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_restore_panel as panel_tests
from gui_helpers import open_photo
from PySide6.QtCore import QPoint, QPointF, Qt, QThread
from test_restore_panel import PANINI_ID, restore_window, run

import kintsugi
from fixtures.tiny_faces import save_tiny_codeformer, save_tiny_propulse
from kintsugi.engine import face_runner, importer
from kintsugi.engine import faces as engine_faces
from kintsugi.engine import session as session_module

pytestmark = pytest.mark.gui
data_dir, panini_imported, portrait = panel_tests.data_dir, panel_tests.panini_imported, panel_tests.portrait
PROPULSE_ID = "tiny-propulse-gui"


def gap(a: np.ndarray, b: np.ndarray, where: Any = ...) -> float:
    return float(np.abs(a[where] - b[where]).mean())


def restored(qtbot, make_window, photo: Path) -> Any:  # type: ignore[no-untyped-def]
    """A window whose first restore (bias 0) is on screen and whose strip is full."""
    window = restore_window(qtbot, make_window, photo)
    with qtbot.waitSignal(window.restore.strip.filled, timeout=120_000):
        run(qtbot, window)
    return window


def preview(qtbot, window, change) -> np.ndarray:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.restore.finished, timeout=120_000) as blocker:
        change()
    assert blocker.args[0] == "ok", window.last_error()
    return window.current_result().image.pixels.copy()


def direct(photo: Path, **controls: Any) -> np.ndarray:
    return kintsugi.restore(kintsugi.open_image(photo), PANINI_ID, background="bicubic",
                            **controls).pixels


def test_a_second_slider_value_reruns_no_cached_stage(qtbot, make_window, model_cache,
                                                      panini_imported, portrait, monkeypatch) -> None:
    window = restored(qtbot, make_window, portrait)
    section = window.panel.restore
    first = window.current_result().image.pixels.copy()
    counts = {"detect": 0, "background": 0, "encode": 0, "generator": 0}

    def counting(name: str, real: Any) -> Any:
        def spy(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real(*args, **kwargs)
        return spy

    monkeypatch.setattr(engine_faces, "detect_faces", counting("detect", engine_faces.detect_faces))
    monkeypatch.setattr(face_runner, "background_pixels",
                        counting("background", face_runner.background_pixels))
    monkeypatch.setattr(session_module, "background_pixels",
                        counting("background", session_module.background_pixels))
    core = model_cache.get(PANINI_ID, window.restore.options().device).net.net
    hooks = [core.encoder[0].register_forward_pre_hook(lambda *_: counts.__setitem__("encode", counts["encode"] + 1)),
             core.generator.conv1.register_forward_pre_hook(
                 lambda *_: counts.__setitem__("generator", counts["generator"] + 1))]
    section.bias.live_check.setChecked(True)
    try:
        more_real = preview(qtbot, window, lambda: section.bias.set_value(0.5))
    finally:
        for hook in hooks:
            hook.remove()
    assert counts == {"detect": 0, "background": 0, "encode": 0, "generator": 1}  # one face
    assert window.restore.session_store().builds == 1
    np.testing.assert_allclose(more_real, direct(portrait, bias=0.5), atol=1e-5)
    # Towards realness: closer to the prior-only network (bias +1), further from the
    # input-features-only one (bias -1).
    prior, photo_side = direct(portrait, bias=1.0), direct(portrait, bias=-1.0)
    assert gap(more_real, prior) < gap(first, prior)
    assert gap(more_real, photo_side) > gap(first, photo_side)
    # The session goes with the model or the photo it was built for.
    section.model_combo.currentIndexChanged.emit(0)
    assert window.restore.session_store().current() is None
    store = window.restore.session_store()
    open_photo(qtbot, window, portrait)
    assert window.restore.session_store() is not store and window.restore.session_store().builds == 0


def test_stale_preview_requests_are_dropped(qtbot, make_window, panini_imported, portrait,
                                            monkeypatch) -> None:
    window = restored(qtbot, make_window, portrait)
    section = window.panel.restore
    rendered: list[float] = []
    real = session_module.RestoreSession.render

    def counting(self: Any, controls: Any, **kwargs: Any) -> Any:
        if QThread.currentThread().objectName() == "kintsugi-restore-preview":
            rendered.append(controls.bias)
        return real(self, controls, **kwargs)

    monkeypatch.setattr(session_module.RestoreSession, "render", counting)
    statuses: list[str] = []
    window.restore.preview_runner.finished.connect(lambda task: statuses.append(task.status))
    values = [v / 10 for v in range(-8, 9, 2)]
    store = window.restore.session_store()
    store._lock.acquire()  # noqa: SLF001 - the first request waits in the session, as behind a slow render
    try:
        for value in values:
            section.set_bias_quietly(value)
            window.restore.preview()
        qtbot.wait(50)
    finally:
        store._lock.release()  # noqa: SLF001
    qtbot.waitUntil(window.idle, timeout=60_000)
    # The first (running) request found newer ones waiting and was dropped before it
    # rendered; the ones between were dropped unrun; only the newest was rendered.
    assert rendered == [pytest.approx(values[-1])]
    assert len(statuses) == len(values) and statuses[-1] == "ok"
    assert statuses.count("cancelled") == len(values) - 1
    assert window.current_result().options.controls.bias == pytest.approx(values[-1])


def test_the_strip_fills_and_a_click_shows_and_saves_that_alternative(
        qtbot, make_window, panini_imported, portrait) -> None:
    window = restored(qtbot, make_window, portrait)
    section = window.panel.restore
    strip = section.alt_strip.strip
    labels = [strip.item(i).text() for i in range(strip.count())]
    assert labels == ["-1.0", "-0.5", "+0.0", "+0.5", "+1.0"]
    assert "mask bias +1.0" in strip.item(4).toolTip()
    icons = [strip.item(i).icon().pixmap(72, 72).toImage() for i in (0, 4)]
    assert icons[0] != icons[1]  # the thumbnails differ
    with qtbot.waitSignal(window.restore.finished, timeout=60_000) as blocker:
        rect = strip.visualItemRect(strip.item(4))
        qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args[0] == "ok"
    assert section.bias.value() == 1.0
    shown = window.current_result().image.pixels
    np.testing.assert_allclose(shown, direct(portrait, bias=1.0), atol=1e-5)
    with qtbot.waitSignal(window.saver.saved, timeout=30_000) as saved:
        window.saver.save()
    note = kintsugi.read_provenance(Path(saved.args[0]))
    assert note["model"] == PANINI_ID and note["bias"] == "1"


def test_each_block_slider_moves_its_own_block_towards_the_prior(qtbot, make_window, panini_imported,
                                                                 portrait) -> None:
    window = restored(qtbot, make_window, portrait)
    section = window.panel.restore
    base = window.current_result().image.pixels.copy()
    prior = direct(portrait, bias=1.0)
    section.bias.advanced_button.setChecked(True)
    assert section.bias.advanced_button.text() == "Advanced: per-block bias"
    for k in range(3):  # the tiny Panini's blocks: 4, 8 and 16 px
        outs = {}
        for value in (0.5, 1.0):
            section.bias.block_sliders[k].set_value(value)
            assert window.restore.options().controls.blocks == {k: value}
            outs[value] = run(qtbot, window)
        np.testing.assert_allclose(outs[1.0], direct(portrait, bias_blocks={k: 1.0}), atol=1e-5)
        # More bias on the block: a larger change, towards the prior-only result.
        assert 0 < gap(outs[0.5], base) < gap(outs[1.0], base)
        assert gap(outs[1.0], prior) < gap(base, prior)
        section.bias.block_sliders[k].set_value(0.0)


def test_a_brush_stroke_changes_only_its_feathered_region(qtbot, make_window, panini_imported,
                                                           portrait) -> None:
    window = restored(qtbot, make_window, portrait)
    section = window.panel.restore
    before = window.current_result().image.pixels.copy()
    canvas = window.canvas
    section.tools.realness_button.click()
    assert canvas.brushes.tool == "face-realness"
    section.tools.brush.set_size(30)

    def stroke(y: int) -> np.ndarray:
        start = canvas.content_to_widget(QPointF(95, y)).toPoint()
        end = canvas.content_to_widget(QPointF(150, y)).toPoint()

        def paint() -> None:
            qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
            for x in range(start.x(), end.x(), 4):
                qtbot.mouseMove(canvas, QPoint(x, start.y()))
            qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)

        return preview(qtbot, window, paint)

    brushed = stroke(60)  # across the eyes
    mask = canvas.brushes.mask("face-realness")
    assert mask is not None and mask.shape == brushed.shape[:2]
    changed = np.abs(brushed - before).max(axis=2)
    assert changed[mask == 0].max() == 0  # bit-identical outside the feathered stroke
    inside = mask == 1.0
    assert inside.any() and changed[inside].mean() > 1e-3
    # Realness: inside the stroke the face moves towards the prior-only result.
    prior, photo_side = direct(portrait, bias=1.0), direct(portrait, bias=-1.0)
    assert gap(brushed, prior, inside) < gap(before, prior, inside)
    assert window.current_result().provenance["bias_map"] == "yes"
    # Fidelity over the same place pulls it back towards the photo's side.
    section.tools.fidelity_button.click()
    assert canvas.brushes.tool == "face-fidelity" and not section.tools.realness_button.isChecked()
    canvas.brushes.clear("face-realness")
    faithful = stroke(60)
    assert gap(faithful, photo_side, inside) < gap(before, photo_side, inside)
    cleared = preview(qtbot, window, section.tools.clear_button.click)
    assert np.array_equal(cleared, before)  # Clear gives back the exact unbrushed pixels


@pytest.fixture
def propulse_imported(data_dir: Path, tmp_path: Path) -> str:
    path = save_tiny_propulse(tmp_path / "weights" / "propulse.safetensors")
    return importer.import_model(path, model_id=PROPULSE_ID).id


def test_propulse_side_outputs_fill_a_strip_and_a_click_shows_one(
        qtbot, make_window, propulse_imported, portrait) -> None:
    window = restore_window(qtbot, make_window, portrait)
    section = window.panel.restore
    assert section.selected_model() == PROPULSE_ID
    assert section.sides_box.isVisibleTo(window) and not section.alternatives_box.isVisibleTo(window)
    with qtbot.waitSignal(window.restore.strip.sides_filled, timeout=120_000):
        final = run(qtbot, window)
    strip = section.side_strip.strip
    assert [strip.item(i).text() for i in range(strip.count())] == ["32 px"]
    with qtbot.waitSignal(window.restore.finished, timeout=60_000):
        qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton,
                         pos=strip.visualItemRect(strip.item(0)).center())
    side = window.current_result().image.pixels
    assert side.shape == final.shape
    store = window.restore.session_store()
    np.testing.assert_allclose(side, store.current().side_output(32).pixels, atol=1e-6)
    changed = np.abs(side - final).max(axis=2)
    background = kintsugi.restore(kintsugi.open_image(portrait), PROPULSE_ID, background="bicubic",
                                  faces=10_000).pixels  # no face restored
    outside = np.abs(final - background).max(axis=2) == 0
    assert changed.max() > 1e-2 and changed[outside].max() < 1e-5  # only where the face is pasted
    with qtbot.waitSignal(window.saver.saved, timeout=30_000) as saved:
        window.saver.save()
    note = kintsugi.read_provenance(Path(saved.args[0]))
    assert note["model"] == PROPULSE_ID and note["side_output"] == "32 px"


@pytest.mark.slow
def test_codeformer_w_rides_the_same_slider_and_strip(qtbot, make_window, data_dir, tmp_path,
                                                      portrait) -> None:
    model_id = importer.import_model(save_tiny_codeformer(tmp_path)).id
    window = restore_window(qtbot, make_window, portrait)
    section = window.panel.restore
    assert section.bias.title.text() == "Fidelity (CodeFormer w)"
    assert not section.tools.realness_button.isEnabled()  # the brush paints Panini's mask bias
    section.settings.scale_spin.setValue(1)
    with qtbot.waitSignal(window.restore.strip.filled, timeout=180_000):
        middle = run(qtbot, window)  # w 0.5
    strip = section.alt_strip.strip
    assert [strip.item(i).text() for i in range(strip.count())] == [
        "w 1.00", "w 0.75", "w 0.50", "w 0.25", "w 0.00"]
    with qtbot.waitSignal(window.restore.finished, timeout=120_000):
        qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton,
                         pos=strip.visualItemRect(strip.item(4)).center())
    real = window.current_result().image.pixels
    source = kintsugi.open_image(portrait)
    want = kintsugi.restore(source, model_id, background="bicubic", scale=1, fidelity=0.0).pixels
    np.testing.assert_allclose(real, want, atol=1e-5)
    faithful = kintsugi.restore(source, model_id, background="bicubic", scale=1, fidelity=1.0).pixels
    assert gap(middle, faithful) < gap(real, faithful)  # w 0 is furthest from the w 1 face
    assert window.current_result().provenance["fidelity"] == "0"
