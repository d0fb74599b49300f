"""The Faces tab: a restore, then further slider values rendered from its RestoreSession,
against a full ``kintsugi.restore`` at the same value (the window's old path) in the same
run; and the GUI event loop while the bias slider is dragged with live preview on.

A tiny random Panini is imported into a temporary user folder (no Panini weights can ship;
only the ratios and the stall mean anything, not the pictures). The photo is scikit-image's
astronaut (public domain, NASA) at --side px; the background is bicubic unless --background
names an upscaler (the session keeps it, so a real upscaler makes the ratio smaller still).

    QT_QPA_PLATFORM=offscreen python bench/bench_faces_tab.py [--side 512] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))
sys.path.insert(0, str(ROOT / "bench"))

import cv2  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from bench_gui_stall import Ticks, pump, wait_for  # noqa: E402

PANINI: dict[str, Any] = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8, "growth": 8,
                          "lce_channels": 8, "in_size": 32, "rrdb_channels": 8, "num_rrdbs": 1,
                          "head_channels": (8,), "dre_channels": (8, 8, 16)}


def import_tiny_panini(folder: Path) -> str:
    import torch
    from safetensors.torch import save_file

    from kintsugi.archs.panini import Panini
    from kintsugi.engine import importer

    torch.manual_seed(0)
    path = folder / "tiny-panini.safetensors"
    save_file({k: v.contiguous() for k, v in Panini("mfr", **PANINI).eval().state_dict().items()}, str(path))
    return importer.import_model(path, model_id="bench-tiny-panini").id


def timed_preview(window: Any, value: float, renders: list[float]) -> float:
    """Seconds the worker spent on the preview of one new slider value (the session render
    is appended to `renders` by the spy in main)."""
    seconds: list[float] = []
    runner = window.restore.preview_runner

    def done(task: Any) -> None:
        if task.ok:
            seconds.append(task.seconds)

    runner.finished.connect(done)
    window.panel.restore.set_bias_quietly(value)
    window.restore.preview()
    while not seconds:
        pump(5)
    runner.finished.disconnect(done)
    return seconds[0]


def spy_renders(renders: list[float]) -> None:
    """Time every RestoreSession.render made on the preview worker."""
    from PySide6.QtCore import QThread

    from kintsugi.engine import session

    real = session.RestoreSession.render

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = real(self, *args, **kwargs)
        if QThread.currentThread().objectName() == "kintsugi-restore-preview":
            renders.append(time.perf_counter() - started)
        return out

    session.RestoreSession.render = timed  # type: ignore[method-assign]


def drag_stall(window: Any, seconds: float) -> tuple[float, int]:
    """Longest GUI-thread gap while the bias slider moves one step per 16 ms, and how many
    previews were shown."""
    shown: list[int] = []
    window.restore.finished.connect(lambda status: shown.append(1) if status == "ok" else None)
    slider = window.panel.restore.bias_slider
    ticks = Ticks()
    value, step = slider.value(), 2
    ticks.start()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if not slider.minimum() <= value + step <= slider.maximum():
            step = -step
        value += step
        slider.setValue(value)
        pump(16)
    while not window.idle() or window.panel.restore.preview_pending():
        pump(5)
    return max(ticks.stop()), len(shown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=512, help="photo side in px (x2 result)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--background", default="bicubic")
    parser.add_argument("--values", type=int, default=5, help="further slider values timed")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kintsugi-faces-"))
    os.environ["KINTSUGI_CONFIG_DIR"] = str(work / "config")
    os.environ["KINTSUGI_DATA_DIR"] = str(work / "data")

    import kintsugi
    from kintsugi.gui.app import create_app
    from kintsugi.gui.main_window import MainWindow
    from kintsugi.gui.settings import Settings

    app, _dark = create_app()
    model_id = import_tiny_panini(work)
    window = MainWindow(settings=Settings(), dark=True)
    window.resize(1280, 820)
    window.show()
    window.models.start()
    wait_for(window.models.ready)
    from skimage import data

    path = work / "photo.png"
    PILImage.fromarray(cv2.resize(data.astronaut(), (args.side, args.side), interpolation=cv2.INTER_AREA)).save(path)
    section = window.panel.restore
    section.live_check.setChecked(False)
    section.select_background(args.background)
    window.panel.set_mode("restore")
    window.opener.open_path(path)
    wait_for(window.opener.opened)
    t0 = time.perf_counter()
    window.restore.start()
    wait_for(window.restore.finished)
    first = time.perf_counter() - t0
    wait_for(window.restore.strip.filled)
    strip = time.perf_counter() - t0
    result = window.current_result().image
    values = [round(-0.9 + 1.8 * k / max(1, args.values - 1), 2) for k in range(args.values)]
    source = kintsugi.open_image(path)
    background = None if args.background == "default" else args.background
    renders: list[float] = []
    spy_renders(renders)
    further, full = [], []
    for v in values:  # interleaved, so a busy machine weighs on both alike
        further.append(timed_preview(window, v, renders))
        t = time.perf_counter()
        kintsugi.restore(source, model_id, bias=v, background=background)
        full.append(time.perf_counter() - t)
    ticks = Ticks()
    ticks.start()
    pump(int(args.seconds * 1000))
    idle = max(ticks.stop())
    section.live_check.setChecked(True)
    stall, shown = drag_stall(window, args.seconds)
    a, r, b = statistics.median(further), statistics.median(renders), statistics.median(full)
    print(f"photo {args.side}x{args.side} -> {result.width}x{result.height}, tiny random Panini, "
          f"background {args.background}, {len(window.restore.session_store().current().faces)} face(s)")
    print(f"first restore shown after {first:.2f} s (session built), strip of 5 filled after {strip:.2f} s")
    print(f"{'median of ' + str(len(values)) + ' values':52} {'time':>8} {'/ full':>7}")
    for name, t in (("full kintsugi.restore (the old path, reference)", b),
                    ("session render of a further value", r),
                    ("window preview (render + deviation map + display)", a)):
        print(f"{name:52} {t * 1000:5.0f} ms {t / b:6.2f}x")
    print(f"GUI thread while dragging the bias slider {args.seconds:g} s with live preview: "
          f"longest stall {stall:.1f} ms (idle reference {idle:.1f} ms), {shown} previews shown")
    # Nothing here is worth keeping: close without the "save the result?" question.
    window.document.mark_saved(window.current_result())
    window.close()
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
