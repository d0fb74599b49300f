"""A `kintsugi train dre` model file is a part for training Panini, not a model to run."""

from __future__ import annotations

import pytest
import torch

import kintsugi
from kintsugi.engine import importer
from kintsugi.engine.errors import ModelError
from kintsugi.train import checkpoint
from kintsugi.train.face_targets import MoCo, _dre_weights


@pytest.fixture
def dre_file(tmp_path):
    net = MoCo((8, 8, 8), dim=16, queue=32)
    path = tmp_path / "dre" / "dre.safetensors"
    checkpoint.save_model(path, net.state_dict(), "dre", {"widths": [8, 8, 8], "dim": 16, "queue": 32})
    return path


def test_load_model_refuses_a_degradation_encoder_with_a_one_line_reason(dre_file):
    with pytest.raises(ModelError) as caught:
        kintsugi.load_model(dre_file, device="cpu")
    message = str(caught.value)
    assert "\n" not in message and "degradation encoder" in message
    assert f"kintsugi train panini --dre {dre_file.name}" in message


def test_import_refuses_it_too(dre_file, user_dir):
    with pytest.raises(ModelError, match="degradation encoder"):
        importer.import_model(dre_file)
    assert importer.user_models() == []


def test_panini_training_reads_it(dre_file):
    weights = _dre_weights(dre_file)
    assert weights and all(isinstance(v, torch.Tensor) for v in weights.values())
