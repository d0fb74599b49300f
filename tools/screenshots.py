"""Render the main window's states to docs/screenshots/*.png.

Run offscreen (default) or under Xvfb:
    PYTHONPATH=app python tools/screenshots.py
    xvfb-run -a -s "-screen 0 1400x900x24" python tools/screenshots.py
The photo is scikit-image's astronaut (public domain, NASA); every picture comes from the
shipped trained models (no untrained network appears). The main window is 1280x820.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

log = logging.getLogger("screenshots")


def wait_for(signal, timeout_s: float = 600) -> list:  # type: ignore[no-untyped-def]
    loop = QEventLoop()
    got: list = []

    def done(*args: object) -> None:
        got.extend(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(done)
    return got


def settle(ms: int = 150) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shoot(widget: QWidget, path: Path) -> None:
    settle()
    widget.grab().save(str(path))
    log.info("wrote %s", path.relative_to(ROOT))


def damaged_portrait(work: Path) -> tuple[Path, tuple[int, int, int, int]]:
    """The astronaut's portrait with synthetic retouching damage in one region (noise and
    8x8 blockiness, as a heavy JPEG or a bad clone stamp leaves): (path, region x0 y0 x1 y1)."""
    import cv2
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut()[0:480, 16:496]).astype(np.float32)
    x0, y0, x1, y1 = 176, 104, 272, 200  # 96x96 over an eye and the cheek
    patch = photo[y0:y1, x0:x1]
    cells = ((x1 - x0) // 8, (y1 - y0) // 8)  # 8x8 px blocks
    blocks = cv2.resize(cv2.resize(patch, cells, interpolation=cv2.INTER_AREA),
                        (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    noise = np.random.default_rng(0).normal(0, 14, patch.shape)
    photo[y0:y1, x0:x1] = 0.5 * patch + 0.5 * blocks + noise
    path = work / "retouched.png"
    PILImage.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(path)
    return path, (x0, y0, x1, y1)


def alternatives(window, out: Path) -> None:  # type: ignore[no-untyped-def]
    """09: the strip and the mix slider (RRDN x4 <-> Real-ESRGAN x4plus); 10: the detail
    slider. Both on the shipped trained models' results of the photo already upscaled."""
    from kintsugi.gui.canvas import ViewMode

    while not window.idle():
        settle(200)  # the partner model and the strip are computed in the background
    box = window.panel.alternatives
    box.set_values(1.0, 0.35)
    wait_for(window.alternatives.composed, 300)
    window.view.set_mode(ViewMode.SPLIT)
    window.canvas.fit()
    window.canvas.set_split(0.45)
    window.side_scroll.ensureWidgetVisible(box.strip)
    shoot(window, out / "09-alternatives.png")
    box.set_values(1.8, 0.35)
    wait_for(window.alternatives.composed, 300)
    window.canvas.zoom_at(2.0, window.canvas.rect().center().toPointF())
    window.side_scroll.ensureWidgetVisible(box.detail_slider)
    shoot(window, out / "10-detail-slider.png")


def heal(window, work: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    """11: the damaged region painted in the Heal tab; 12: healed, split against the
    original across the region (healing runs the shipped default upscaler)."""
    from PySide6.QtCore import QPointF

    from kintsugi.gui.canvas import ViewMode

    path, (x0, y0, x1, y1) = damaged_portrait(work)
    window.opener.open_path(path)
    wait_for(window.opener.opened)
    window.panel.set_mode("heal")
    window.panel.heal.brush.size_slider.setValue(36)
    window.panel.heal.brush.hardness_slider.setValue(70)
    window.view.set_mode(ViewMode.SPLIT)
    window.canvas.fit()
    points = [QPointF(x, y) for y in range(y0 + 10, y1 - 6, 16) for x in (x0 + 10, x1 - 10)]
    window.canvas.paint_stroke("heal", points)
    window.canvas.set_split(0.0)  # the whole photo as it is, with the stroke
    shoot(window, out / "11-heal-painted.png")
    window.heal.start()
    status = wait_for(window.heal.finished, 600)
    log.info("heal: %s %s", status, window.last_error())
    window.canvas.actual_size()  # 100%: the true pixels on both sides of the divider
    centre = window.canvas.content_to_widget(QPointF((x0 + x1) / 2, 0)).x()
    window.canvas.set_split(centre / window.canvas.width())
    shoot(window, out / "12-heal-before-after.png")


def download_dialog(window, out: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = window.models.open_download_dialog()
    dialog.resize(900, 480)
    wait_for(dialog.listed, 60)
    dialog.select("panini-mfr")
    shoot(dialog, out / "13-download-models.png")
    dialog.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--light", action="store_true", help="light palette for every shot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kintsugi-shots-"))
    os.environ["KINTSUGI_CONFIG_DIR"] = str(work / "config")
    os.environ["KINTSUGI_DATA_DIR"] = str(work / "data")  # no user models: shipped only

    from skimage import data

    from kintsugi.gui.app import create_app
    from kintsugi.gui.theme import apply_theme

    started = time.perf_counter()
    app, _dark = create_app()
    dark = apply_theme(app, dark=not args.light)
    from kintsugi.gui.canvas import ViewMode
    from kintsugi.gui.main_window import MainWindow

    window = MainWindow(dark=dark)
    window.resize(1280, 820)
    window.show()
    app.processEvents()
    log.info("time to window: %.3f s (torch imported: %s)",
             (window.shown_at or time.perf_counter()) - started, "torch" in sys.modules)
    shoot(window, args.out / "01-empty.png")

    window.models.start()
    wait_for(window.models.ready)
    photo = work / "astronaut.png"
    PILImage.fromarray(np.ascontiguousarray(data.astronaut()[10:170, 150:310])).save(photo)
    window.opener.open_path(photo)
    wait_for(window.opener.opened)
    shoot(window, args.out / "02-photo-open.png")

    window.upscale.start()
    status = wait_for(window.upscale.finished)
    log.info("upscale: %s %s", status, window.last_error())
    window.view.set_mode(ViewMode.SPLIT)
    window.canvas.fit()
    window.canvas.set_split(0.45)
    shoot(window, args.out / "03-split-compare.png")

    window.canvas.zoom_at(2.2, window.canvas.rect().center().toPointF())
    window.action("deviation").setChecked(True)
    shoot(window, args.out / "04-deviation-overlay.png")
    window.action("deviation").setChecked(False)

    window.view.set_mode(ViewMode.SIDE_BY_SIDE)
    window.canvas.fit()
    shoot(window, args.out / "05-side-by-side.png")
    window.view.set_mode(ViewMode.SPLIT)

    shots = work / "shoot"
    (shots / "beach").mkdir(parents=True)
    for i, (y, x) in enumerate(((0, 0), (200, 150), (300, 300))):
        folder = shots if i == 0 else shots / "beach"
        PILImage.fromarray(np.ascontiguousarray(data.coffee()[y : y + 40, x : x + 40])).save(
            folder / f"photo{i}.png")
    (shots / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    window.batch.open(str(shots))
    dialog = window.batch.dialog()
    dialog.output_edit.setText(str(work / "out"))
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("waifu2x-photo-noise1-x2"))
    dialog.start()
    wait_for(dialog.batch_finished)
    dialog.resize(680, dialog.sizeHint().height())
    shoot(dialog, args.out / "06-batch-dialog.png")
    dialog.hide()

    from kintsugi.gui.about import AboutDialog

    about = AboutDialog(window.models.infos, window)
    about.show()
    shoot(about, args.out / "07-about.png")
    about.close()

    alternatives(window, args.out)

    # The light palette, as on a system in light mode.
    window.set_dark(apply_theme(app, dark=False))
    window.view.set_mode(ViewMode.SPLIT)
    window.canvas.fit()
    shoot(window, args.out / "08-light-theme.png")
    window.set_dark(apply_theme(app, dark=not args.light))

    heal(window, work, args.out)
    download_dialog(window, args.out)
    # Nothing here is worth keeping: close without the "save the result?" question.
    window.document.mark_saved(window.current_result())
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
