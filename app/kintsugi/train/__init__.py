"""Training and fine-tuning (Qt-free): `kintsugi train` and :func:`kintsugi.train.train`.

See docs/training.md. The CLI imports this package only when `train` runs.
"""

from __future__ import annotations

from kintsugi.train.config import TARGETS, TrainConfig
from kintsugi.train.loop import Progress, StopFlag, TrainResult, train

__all__ = ["TARGETS", "Progress", "StopFlag", "TrainConfig", "TrainResult", "train"]
