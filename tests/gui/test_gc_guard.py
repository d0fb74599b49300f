"""Garbage collection happens on the GUI thread while the window's workers run, and only then."""

import gc
import threading

import pytest

from kintsugi.gui import gc_guard
from kintsugi.gui.worker import TaskRunner

pytestmark = pytest.mark.gui


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_creating_a_runner_leaves_the_collector_alone(qapp):
    TaskRunner("probe")
    assert gc.isenabled() and not gc_guard.held()


def test_a_running_task_moves_collection_to_a_gui_thread_timer(qtbot, qapp):
    runner = TaskRunner("probe")
    seen: list[tuple[bool, bool]] = []
    release = threading.Event()

    def task(job):  # type: ignore[no-untyped-def]
        seen.append((gc.isenabled(), gc_guard.held()))
        release.wait(10)

    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.submit(task)
        qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
        timer = gc_guard._timer  # noqa: SLF001
        assert timer is not None and timer.isActive() and timer.thread() is qapp.thread()
        release.set()
    assert seen == [(False, True)]
    assert gc.isenabled() and not gc_guard.held()
    assert not timer.isActive()


def test_a_collector_the_program_turned_off_stays_off(qtbot):
    runner = TaskRunner("probe")
    gc.disable()
    try:
        with qtbot.waitSignal(runner.finished, timeout=10_000):
            runner.submit(lambda job: None)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collect_if_due_collects_only_when_the_collector_would_have():
    runs = []

    def on_collect(phase: str, info: dict) -> None:
        if phase == "stop":
            runs.append((info["generation"], threading.current_thread()))

    gc.collect()
    gc.disable()
    gc.callbacks.append(on_collect)
    try:
        gc_guard.collect_if_due()
        assert runs == []  # nothing allocated since the full collection
        garbage = [Cycle() for _ in range(gc.get_threshold()[0] + 10)]
        del garbage
        gc_guard.collect_if_due()
        assert runs == [(0, threading.current_thread())]
    finally:
        gc.callbacks.remove(on_collect)
        gc.enable()


def test_the_gui_thread_runs_only_the_youngest_generation():
    """A full collection takes ~0.3 s with torch loaded: it would stall a slider drag."""
    runs = []

    def on_collect(phase: str, info: dict) -> None:
        if phase == "stop":
            runs.append(info["generation"])

    gc.collect()
    gc.disable()
    old = gc.get_threshold()
    gc.set_threshold(old[0], old[1], 0)  # generation 2 always "due"
    gc.callbacks.append(on_collect)
    try:
        gc.collect(1)  # counts one generation-1 collection: generation 2 is due
        for _ in range(old[1] + 2):  # enough young collections to make generation 1 due
            gc.collect(0)
        garbage = [Cycle() for _ in range(old[0] + 10)]  # and generation 0
        del garbage
        runs.clear()
        gc_guard.collect_if_due()
        assert runs == [0]
    finally:
        gc.callbacks.remove(on_collect)
        gc.set_threshold(*old)
        gc.enable()
