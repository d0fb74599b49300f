import threading

import pytest

from kintsugi.engine.errors import Cancelled
from kintsugi.engine.job import Job, NullJob


def test_sub_progress_maps_into_parent_range():
    seen = []
    job = Job(on_progress=lambda f, m: seen.append(round(f, 3)))
    sub = job.sub(0.5, 0.25)
    sub.set_progress(0.0)
    sub.set_progress(1.0)
    assert seen == [0.5, 0.75]


def test_cancel_raises_on_check_and_reaches_sub_jobs():
    job = Job()
    sub = job.sub(0, 1).sub(0, 1)
    sub.check()
    job.cancel()
    with pytest.raises(Cancelled):
        sub.check()


def test_pause_blocks_until_resume():
    job = Job()
    job.pause()
    passed = threading.Event()

    def worker():
        job.check()
        passed.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert not passed.wait(0.2)
    job.resume()
    assert passed.wait(2)
    thread.join()


def test_cancel_wakes_a_paused_job():
    job = Job()
    job.pause()
    job.cancel()
    with pytest.raises(Cancelled):
        job.check()


def test_eta_and_null_job():
    job = NullJob()
    assert job.eta_seconds() is None
    job.set_progress(0.5)
    assert job.eta_seconds() is not None and job.eta_seconds() >= 0
