"""What every kind of work shares: the worker-side finishing of a result, turning it into a
history entry, and ``RunFlow``, the deliberate run of one mode (Upscale, Restore, Heal).

A run computes on its flow's own worker thread and reports progress with elapsed time and
an ETA in its panel's controls. Deliberate runs go one at a time: a ``RunGate`` knows every
flow, and a second request while one runs is refused with a status line (never a restart
from 0%).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from kintsugi.gui.document import Document
from kintsugi.gui.history import ResultEntry
from kintsugi.gui.imaging import Pyramid, deviation_full_scale, display_array, heat_rgba
from kintsugi.gui.widgets import RunControls, clock
from kintsugi.gui.worker import Task, TaskRunner


@dataclass
class Made:
    """What a task body made: the result and how to describe it (plain values)."""

    image: Any
    model_id: str
    provenance: dict[str, str]
    label: str
    extra: Any = None  # the mode's options
    faces_found: int = 0  # a restore's faces


@dataclass
class Output:
    """A finished task's result, ready for the GUI thread: engine objects, plain arrays and
    QImages (built on the worker; QImage is not bound to the GUI thread), no pixmaps."""

    made: Made
    pyramid: Pyramid
    heat: Any  # QImage or None (not computed)
    full_scale: float
    scale: int
    seconds: float


def finish(source: Any, made: Made, seconds: float, heat: bool, job: Any) -> Output:
    """Worker side of every result: display pixels, their pyramid and the deviation map.

    heat=False skips the deviation map (a slider preview with the overlay hidden)."""
    import kintsugi

    out = made.image
    full, heat_image = 0.0, None
    if heat:
        deviation = kintsugi.deviation_map(source, out)
        full = deviation_full_scale(deviation)
        heat_image = Pyramid.from_array(heat_rgba(deviation, full))
        job.check()
    pyramid = Pyramid.from_array(display_array(out.pixels, out.alpha))
    return Output(made, pyramid, heat_image, full, max(1, out.width // source.width), seconds)


def timed(source: Any, body: Callable[[Any], Made]) -> Callable[[Any], Output]:
    """A worker task: run `body`, then finish its result (with the deviation map)."""

    def task(job: Any) -> Output:
        started = time.monotonic()
        made = body(job)
        job.check()
        return finish(source, made, time.monotonic() - started, heat=True, job=job)

    return task


def accept(document: Document, out: Output, kind: str, preview: bool = False,
           replace: bool = False, alt: Any = None, setting: Any = None) -> ResultEntry:
    """Put a finished result in the document (a new undo step, or in place of the one on show)."""
    made = out.made
    entry = ResultEntry(
        image=made.image, display=out.pyramid.image, heat=out.heat, kind=kind,
        model_id=made.model_id, scale=out.scale, options=made.extra, provenance=made.provenance,
        label=made.label, full_scale=out.full_scale, seconds=out.seconds, preview=preview,
        pyramid=out.pyramid, alt=alt, setting=setting,
    )
    document.add(entry, replace=replace)
    return entry


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


class RunGate:
    """The deliberate runs of every mode: one at a time."""

    def __init__(self) -> None:
        self.flows: list[RunFlow] = []

    def running(self) -> RunFlow | None:
        return next((flow for flow in self.flows if flow.runner.is_busy()), None)

    def clear_controls(self) -> None:
        for flow in self.flows:
            flow.controls.clear()


@dataclass
class _Ticker:
    """Elapsed time and ETA of the running job."""

    started: float = 0.0
    fraction: float = 0.0
    message: str = ""


class RunFlow(QObject):
    """One mode's deliberate run: submit, progress, accept into the document, report."""

    finished = Signal(str)  # "ok" | "failed" | "cancelled"
    failed = Signal(str, str)  # title, reason: the window shows it
    busy_changed = Signal(bool)
    status = Signal(str)  # a passing line for the status bar

    kind = ""  # the history entry's kind: "upscale" | "restore" | "heal"
    verb = ""  # shown while it runs: "Upscaling"
    failed_title = ""

    def __init__(self, document: Document, controls: RunControls, gate: RunGate,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.controls = controls
        self._gate = gate
        gate.flows.append(self)
        self._ticker = _Ticker()
        self.runner = TaskRunner(self.kind, self)
        self.runner.finished.connect(self._on_finished)
        self.runner.progress.connect(self._on_progress)
        self.runner.busy_changed.connect(self._on_busy)
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(1000)
        self._tick_timer.timeout.connect(self._show_progress)
        document.opened.connect(self._on_opened)

    def run(self, body: Callable[[Any], Made], note: str = "") -> bool:
        """Run `body(job)` as this mode's job; False (and a status line) when one is busy."""
        running = self._gate.running()
        if running is not None:
            self.status.emit(f"Still {running.verb.lower()}: cancel it first (Esc)")
            return False
        self._gate.clear_controls()
        # Set before submitting: the runner reports "busy" from inside submit().
        self._ticker = _Ticker(started=time.monotonic(), message=note or "Starting…")
        submitted = self.runner.submit(timed(self.document.source, body), self.kind)
        submitted.context.update(token=self.document.token)
        self._show_progress()
        self._tick_timer.start()
        return True

    def is_busy(self) -> bool:
        return self.runner.is_busy()

    @Slot()
    def cancel(self) -> None:
        if self.runner.is_busy():
            self.runner.cancel()
            self._ticker.message = "Cancelling…"
            self._show_progress()

    def runners(self) -> list[TaskRunner]:
        return [self.runner]

    def accepted(self, out: Output, entry: ResultEntry) -> None:
        """A result of this mode is on show (what follows it: alternatives, a strip...)."""

    def _on_opened(self) -> None:
        """Another photo: work on the old one is no longer wanted, nor its "Done in 26 s"."""
        self.runner.cancel()
        self.controls.clear()

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.controls.set_busy(busy)
        if not busy:
            self._tick_timer.stop()
        self.busy_changed.emit(busy)

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self._ticker.fraction = fraction
        self._ticker.message = message
        self._show_progress()

    @Slot()
    def _show_progress(self) -> None:
        """Progress, elapsed time and ETA, refreshed every second even between reports."""
        t = self._ticker
        if not self.runner.is_busy():
            return
        elapsed = time.monotonic() - t.started
        text = f"{round(t.fraction * 100)}% · {t.message or self.verb + '…'} · {clock(elapsed)}"
        task = self.runner.current_task()
        eta = task.job.eta_seconds() if task is not None and t.fraction > 0.02 else None
        text += f" elapsed · about {clock(eta)} left" if eta is not None else " elapsed"
        self.controls.set_progress(t.fraction, text)

    @Slot(object)
    def _on_finished(self, task: Task) -> None:
        status = task.status
        current = task.context.get("token") == self.document.token
        if not current:
            status = "cancelled"  # the photo changed meanwhile
            self.controls.clear()
        elif task.ok:
            entry = accept(self.document, task.result, self.kind)
            self.controls.set_progress(0.0, f"Done in {duration(task.seconds)}")
            self.controls.label.setToolTip(entry.label)
            self.accepted(task.result, entry)
        elif status == "failed":
            self.controls.set_progress(0.0, "Failed")
            self.failed.emit(self.failed_title, task.error)
        if status == "cancelled" and current:
            self.controls.set_progress(0.0, "Cancelled; nothing was changed")
            self.status.emit(f"{self.verb} cancelled")
        self.finished.emit(status)
