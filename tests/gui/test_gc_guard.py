"""Garbage collection happens on the GUI thread once the window's workers exist."""

import gc
import threading

import pytest

from kintsugi.gui import gc_guard
from kintsugi.gui.worker import TaskRunner

pytestmark = pytest.mark.gui


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_runner_moves_collection_to_a_gui_thread_timer(qapp):
    gc_guard.uninstall()
    try:
        TaskRunner("probe")
        assert not gc.isenabled()
        timer = gc_guard._timer  # noqa: SLF001
        assert timer is not None and timer.isActive() and timer.thread() is qapp.thread()
    finally:
        gc_guard.uninstall()
    assert gc.isenabled()


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
