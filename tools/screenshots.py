"""Render the main window's states to docs/screenshots/*.png.

Run offscreen (default) or under Xvfb:
    PYTHONPATH=app python tools/screenshots.py
    xvfb-run -a -s "-screen 0 1400x900x24" python tools/screenshots.py
The photo is scikit-image's astronaut (public domain, NASA); the model the shipped default.
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


def untrained_panini(work: Path) -> str:
    """A tiny Panini with random weights: no trained face weights ship, so the restored
    face below is honest noise; the model's name says so."""
    import torch
    from safetensors.torch import save_file

    from kintsugi.archs.panini import Panini
    from kintsugi.engine.importer import import_model

    torch.manual_seed(0)
    net = Panini("mfr", in_size=32, out_size=64, style_dim=16, n_mlp=2, max_channels=8,
                 growth=8, lce_channels=8, rrdb_channels=8, num_rrdbs=1, head_channels=(8,),
                 dre_channels=(8, 8, 16)).eval()
    path = work / "untrained-tiny-panini.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return import_model(path, model_id="untrained-tiny-panini").id


def restore_mode(window, work: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    """09: the Restore faces tab after a restore and a bias preview; 10: the download list."""
    from kintsugi.gui.canvas import ViewMode

    model_id = untrained_panini(work)
    window.refresh_models(select=model_id)
    wait_for(window.models_changed)
    section = window.panel.restore
    section.select_model(model_id)
    window.panel.set_mode("restore")
    section.advanced_button.setChecked(True)
    section.bias.set_value(0.4)  # a live preview starts; wait until the last one is shown
    while section.preview_pending() or window.restore_runner().is_busy():
        settle(100)
    log.info("restore preview: %s", window.last_error() or "ok")
    window.set_view_mode(ViewMode.SPLIT)
    window.canvas.fit()
    window.canvas.set_split(0.4)
    shoot(window, out / "09-restore-faces.png")

    dialog = window.open_download_dialog()
    dialog.resize(900, 480)
    wait_for(dialog.listed, 60)
    dialog.select("panini-mfr")
    shoot(dialog, out / "10-download-models.png")
    dialog.close()
    window.undo()  # back to the upscale result and tab for the light-theme shot
    window.panel.set_mode("upscale")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--light", action="store_true", help="light palette for every shot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kintsugi-shots-"))
    os.environ["KINTSUGI_CONFIG_DIR"] = str(work / "config")
    os.environ["KINTSUGI_DATA_DIR"] = str(work / "data")  # the face model below goes here

    from skimage import data

    from kintsugi.gui.app import create_app
    from kintsugi.gui.theme import apply_theme

    started = time.perf_counter()
    app, _dark = create_app()
    dark = apply_theme(app, dark=not args.light)
    from kintsugi.gui.canvas import ViewMode
    from kintsugi.gui.main_window import MainWindow

    window = MainWindow(dark=dark)
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    log.info("time to window: %.3f s (torch imported: %s)",
             (window.shown_at or time.perf_counter()) - started, "torch" in sys.modules)
    shoot(window, args.out / "01-empty.png")

    window.start_background()
    wait_for(window.models_ready)
    photo = work / "astronaut.png"
    PILImage.fromarray(np.ascontiguousarray(data.astronaut()[10:170, 150:310])).save(photo)
    window.open_path(photo)
    wait_for(window.image_loaded)
    shoot(window, args.out / "02-photo-open.png")

    window.start_upscale()
    status = wait_for(window.upscale_finished)
    log.info("upscale: %s %s", status, window.last_error())
    window.set_view_mode(ViewMode.SPLIT)
    window.canvas.fit()
    window.canvas.set_split(0.45)
    shoot(window, args.out / "03-split-compare.png")

    window.canvas.zoom_at(2.2, window.canvas.rect().center().toPointF())
    window.act_deviation.setChecked(True)
    shoot(window, args.out / "04-deviation-overlay.png")
    window.act_deviation.setChecked(False)

    window.set_view_mode(ViewMode.SIDE_BY_SIDE)
    window.canvas.fit()
    shoot(window, args.out / "05-side-by-side.png")
    window.set_view_mode(ViewMode.SPLIT)

    shots = work / "shoot"
    (shots / "beach").mkdir(parents=True)
    for i, (y, x) in enumerate(((0, 0), (200, 150), (300, 300))):
        folder = shots if i == 0 else shots / "beach"
        PILImage.fromarray(np.ascontiguousarray(data.coffee()[y : y + 40, x : x + 40])).save(
            folder / f"photo{i}.png")
    (shots / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    window.open_batch(str(shots))
    dialog = window.batch_dialog()
    dialog.output_edit.setText(str(work / "out"))
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("waifu2x-photo-noise1-x2"))
    dialog.start()
    wait_for(dialog.batch_finished)
    dialog.resize(680, dialog.sizeHint().height())
    shoot(dialog, args.out / "06-batch-dialog.png")
    dialog.hide()

    from kintsugi.gui.about import AboutDialog

    about = AboutDialog(window.model_infos(), window)
    about.show()
    shoot(about, args.out / "07-about.png")
    about.close()

    restore_mode(window, work, args.out)

    # The light palette, as on a system in light mode.
    window.set_dark(apply_theme(app, dark=False))
    window.set_view_mode(ViewMode.SPLIT)
    window.canvas.fit()
    shoot(window, args.out / "08-light-theme.png")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
