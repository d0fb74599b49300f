"""TaskRunner: results and progress come back on the GUI thread; newer requests cancel
older ones; failures become one readable line; shutdown joins the thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QThread

from kintsugi.engine.errors import ImageReadError
from kintsugi.gui.worker import Task, TaskRunner, running_threads

pytestmark = pytest.mark.gui


def slow_until_cancelled(job: Any) -> str:
    for step in range(400):
        job.check()
        job.set_progress(step / 400, f"step {step}")
        time.sleep(0.01)
    return "finished"


def test_result_and_progress_arrive_on_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner("test")
    gui_thread = QCoreApplication.instance().thread()
    seen_threads: list[QThread] = []
    progress: list[float] = []
    worker_thread: list[QThread] = []

    def on_progress(fraction: float, _message: str) -> None:
        seen_threads.append(QThread.currentThread())
        progress.append(fraction)

    def fn(job: Any) -> int:
        worker_thread.append(QThread.currentThread())
        for i in range(5):
            job.set_progress(i / 4, "")
            time.sleep(0.04)
        return 42

    runner.progress.connect(on_progress)
    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        runner.submit(fn, "answer")
    task: Task = blocker.args[0]
    assert task.ok and task.result == 42
    assert worker_thread[0] is not gui_thread
    assert progress and all(t is gui_thread for t in seen_threads)
    assert progress[-1] == 1.0
    assert not running_threads()


def test_a_newer_request_cancels_the_running_one(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner("test")
    finished: list[Task] = []
    runner.finished.connect(finished.append)
    first = runner.submit(slow_until_cancelled, "first")
    qtbot.waitUntil(lambda: first.status == "running")
    second = runner.submit(lambda job: "second", "second")
    third = runner.submit(lambda job: "third", "third")  # replaces the pending second
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=10_000)
    assert first.status == "cancelled"
    assert second.status == "cancelled" and second.result is None
    assert third.ok and third.result == "third"
    assert [t.tag for t in finished] == ["second", "first", "third"]
    qtbot.waitUntil(lambda: not runner.is_busy())


def test_failures_are_one_readable_line(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner("test")

    def engine_error(job: Any) -> None:
        raise ImageReadError("holiday.jpg is not an image file")

    def bug(job: Any) -> None:
        raise ValueError("bad value\nsecond line")

    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        runner.submit(engine_error)
    assert blocker.args[0].status == "failed"
    assert blocker.args[0].error == "holiday.jpg is not an image file"
    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        runner.submit(bug)
    error = blocker.args[0].error
    assert error == "Unexpected error (ValueError): bad value"
    assert "Traceback" not in error


def test_shutdown_cancels_and_joins(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner("test")
    task = runner.submit(slow_until_cancelled)
    qtbot.waitUntil(lambda: task.status == "running")
    started = time.monotonic()
    runner.shutdown()
    assert time.monotonic() - started < 2.0
    assert task.status == "cancelled"
    assert not running_threads()
    late = runner.submit(lambda job: 1)
    assert late.status == "cancelled"  # a closed runner starts nothing


def test_pause_holds_the_job_until_resumed(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner("test")
    steps: list[int] = []

    def fn(job: Any) -> int:
        for i in range(30):
            job.check()
            steps.append(i)
            time.sleep(0.01)
        return len(steps)

    task = runner.submit(fn)
    qtbot.waitUntil(lambda: len(steps) >= 3)
    runner.pause()
    time.sleep(0.1)
    held = len(steps)
    time.sleep(0.3)
    assert len(steps) == held  # nothing ran while paused
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.resume()
    assert task.ok and task.result == 30


def test_previews_let_the_running_task_finish_and_drop_the_ones_between(qtbot) -> None:
    runner = TaskRunner("previews")
    release = threading.Event()
    ended: list[tuple[str, str]] = []
    runner.finished.connect(lambda task: ended.append((task.tag, task.status)))

    def slow(job):  # type: ignore[no-untyped-def]
        release.wait(10)
        return "slow"

    runner.submit(slow, "running")
    for tag in ("a", "b", "newest"):
        runner.submit(lambda job: None, tag, cancel_running=False)
    release.set()
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=10_000)
    assert ended == [("a", "cancelled"), ("b", "cancelled"), ("running", "ok"),
                     ("newest", "ok")]
