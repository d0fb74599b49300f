"""Alternatives and healing on CPU (issue 8, section 6): how long the first result takes and
what each further alternative costs, as a ratio to the first result measured in the same run.

The photo is scikit-image's astronaut (BSD-3), shrunk to --size px square; at x4 the result
is (4 * size)^2 px (size 256: a 1 MP result). Rows:
  first result            default upscaler on the whole photo, consistency lock on
  detail, first move      adjust_detail's one-off preparation (Alternatives.of_photo: the
                          smooth base and the result's part, as block planes) + one strength
  detail, further move    one more strength: median over 0, 0.3, 0.8, 1.4 and 2 (the slider
                          cost), and the slowest of them (above 1 the clamp is settled)
  blend, first alpha      kintsugi.blend with the pair's one-off preparation
  blend, further alpha    another alpha on the same pair / a painted mask
  window's mix            detail 0.7 and mix 0.4 composed in one step, as the window does
  partner on viewport     the partner model on a 400x300 px window of the result
  partner, whole photo    the partner model on the whole photo
  heal 200x200            kintsugi.heal of a 200x200 px region of the result, factor 2
  lock, 2 MP              the consistency lock alone on a 2 MP result
  DAFI restore / further   a tiny random Panini's full restore against a further bias value
                          from its RestoreSession (bench_restore_session.row; the ratio
                          measures the cache; see bench_restore_session for the backgrounds)
  longest GUI stall       bench_gui_stall.py run on this photo size in its own process
                          (idle reference, detail drag, mix drag; median of 3 rounds)

Figures on the 2-core shared development machine (wall ms, each of two runs; 1 MP result):
                          before (1704981; load 6.4, 4.4)   after (load 2.9, 2.2)
  detail, first move          402, 188                           115, 151
  detail, further move         69,  51                            13,  13  (slowest 25, 35)
  blend, alpha change          81, 112 (every call)               57,  56 first; 9, 9 further
  blend, painted mask         212, 185                            17,  16
  window's mix in one step       -                                12,  11
  consistency lock, 2 MP      380, 392                           177, 182
The same functions old and new in one process, one after the other (load 2.5): detail 0.5
16.9 -> 9.4 ms, detail 2 53.8 -> 12.2, blend 0.25 36.0 -> 10.4, soft mask 90 -> 15.

    python bench/bench_alternatives.py [--size 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

DEFAULT = "realesrgan-x4plus"
PARTNER = "rrdn-x4"
SCALE = 4
VIEWPORT = (400, 300)  # result px
STRENGTHS = (0.0, 0.3, 0.8, 1.4, 2.0)  # detail moves timed


Timing = tuple[float, float]  # (wall seconds, CPU seconds of all threads)


def timed(fn: Callable[[], object], repeats: int = 1) -> tuple[Timing, object]:
    """Median (wall, CPU) of `repeats` runs. CPU time is printed too because on a shared
    machine the wall time also counts other people's work."""
    runs, value = [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        value = fn()
        runs.append((time.perf_counter() - start, time.process_time() - cpu))
    return sorted(runs)[len(runs) // 2], value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="photo side in px (result is 4x)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    from skimage import data

    import kintsugi
    from kintsugi.engine import consistency
    from kintsugi.engine.alternatives import Alternatives

    torch.set_num_threads(args.threads)
    rgb = cv2.resize(data.astronaut(), (args.size, args.size), interpolation=cv2.INTER_AREA)
    photo = kintsugi.Image.from_array(rgb)
    default = kintsugi.load_model(DEFAULT, device="cpu")
    partner = kintsugi.load_model(PARTNER, device="cpu")
    rows: list[tuple[str, Timing]] = []

    first, result = timed(lambda: kintsugi.upscale(photo, default, consistency=True))
    rows.append((f"first result ({DEFAULT}, {args.size}px -> {result.width}px, lock on)", first))

    prepare, steps = timed(lambda: Alternatives.of_photo(photo, result))
    one, _ = timed(lambda: steps.at(0.5))
    rows.append(("detail, first move (prepare + one strength)",
                 (prepare[0] + one[0], prepare[1] + one[1])))
    moves = sorted(timed(lambda t=t: steps.at(t), repeats=3)[0] for t in STRENGTHS)
    megapixels = result.width * result.height / 1e6
    rows.append((f"detail, further move (median of {len(STRENGTHS)}; {megapixels:.1f} MP)",
                 moves[len(moves) // 2]))
    rows.append(("detail, further move (slowest strength)", moves[-1]))

    viewport, _ = timed(lambda: _viewport(photo, partner))
    rows.append((f"partner ({PARTNER}) on a {VIEWPORT[0]}x{VIEWPORT[1]} viewport", viewport))
    whole, fidelity = timed(lambda: kintsugi.upscale(photo, partner, consistency=True))
    rows.append((f"partner ({PARTNER}), whole photo", whole))

    first_alpha, _ = timed(lambda: kintsugi.blend(fidelity, result, 0.25))
    rows.append(("blend, first alpha (pair prepared)", first_alpha))
    alpha, _ = timed(lambda: kintsugi.blend(fidelity, result, 0.6), repeats=5)
    rows.append(("blend, further alpha change", alpha))
    yy, xx = np.mgrid[0 : result.height, 0 : result.width]
    brush = np.clip(1.5 - np.hypot(yy - result.height / 2, xx - result.width / 2) / 150, 0, 1)
    painted, _ = timed(lambda: kintsugi.blend(fidelity, result, 0.0, mask=brush.astype(np.float32)),
                       repeats=5)
    rows.append(("blend, painted mask", painted))
    ends = steps.with_result(fidelity).mixed_with(steps)
    window, _ = timed(lambda: ends.at(0.7, 0.4), repeats=5)
    rows.append(("window's mix: detail 0.7 and mix 0.4 in one step", window))

    spot = np.zeros((result.height, result.width), np.float32)
    cy, cx = result.height // 2, result.width // 2
    spot[cy - 100 : cy + 100, cx - 100 : cx + 100] = 1.0
    healing, _ = timed(lambda: kintsugi.heal(result, spot, model=default, factor=2))
    rows.append(("heal a 200x200 region (factor 2, default upscaler)", healing))

    big = np.clip(cv2.resize(result.pixels, (1414, 1414), interpolation=cv2.INTER_CUBIC), 0, 1)
    low = np.rint(consistency.pool(big, 2) * 255) / np.float32(255)
    locking, _ = timed(lambda: consistency.lock(big.copy(), low, 2, 8), repeats=3)
    rows.append(("consistency lock alone, 2 MP result (x2)", locking))
    rows.extend(_dafi_rows(photo))
    rows.extend(_stall_rows(args.size))

    print(f"\nAlternatives on CPU, {args.threads} threads; ratio = wall time / first result\n")
    print(f"{'step':72}{'wall s':>10}{'CPU s':>10}{'ratio':>9}")
    for name, (wall, cpu) in rows:
        print(f"{name:72}{wall:10.3f}{cpu:10.3f}{wall / first[0]:9.3f}")


def _dafi_rows(photo) -> list[tuple[str, tuple[float, float]]]:  # type: ignore[no-untyped-def]
    """A full restore with a tiny random Panini (the ratio's subject is the cache, not the
    network) against a further bias value from its RestoreSession (bench_restore_session)."""
    from bench_restore_session import row

    _name, full, further, ratio = row("panini", "bicubic", photo, rounds=3)
    return [("DAFI restore (tiny Panini, bicubic background), full", (full, float("nan"))),
            (f"DAFI further bias value (restore session; {ratio:.2f}x the full restore)",
             (further, float("nan")))]


def _stall_rows(size: int) -> list[tuple[str, tuple[float, float]]]:
    """bench_gui_stall.py on this photo size, in its own process (it replaces the networks by
    stand-ins and runs a window): the median over rounds of the longest event-loop stall."""
    script = Path(__file__).with_name("bench_gui_stall.py")
    out = subprocess.run([sys.executable, str(script), "--side", str(size), "--rounds", "3",
                          "--seconds", "2"], capture_output=True, text=True, check=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}).stdout
    stalls = {line[:20].strip(): float(line[20:].split()[0]) / 1000
              for line in out.splitlines() if line.startswith(("idle", "drag"))}
    return [(f"longest GUI stall: {name} (bench_gui_stall, median of 3 rounds)", (sec, float("nan")))
            for name, sec in stalls.items()]


def _viewport(photo, model):
    """The partner on the photo region under a VIEWPORT-sized window of the result."""
    import kintsugi

    w, h = VIEWPORT[0] // SCALE, VIEWPORT[1] // SCALE
    y, x = (photo.height - h) // 2, (photo.width - w) // 2
    crop = photo.replace(pixels=np.ascontiguousarray(photo.pixels[y : y + h, x : x + w]))
    return kintsugi.upscale(crop, model)


if __name__ == "__main__":
    main()
