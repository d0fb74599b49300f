"""kintsugi.resources finds models and resources in each layout Kintsugi ships in."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kintsugi import resources

ROOT = Path(__file__).resolve().parents[2]


def _make_layout(base: Path) -> Path:
    for name in ("models", "resources"):
        (base / name).mkdir(parents=True)
    return base


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("KINTSUGI_MODELS_DIR", raising=False)
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    return monkeypatch


def test_source_checkout_finds_the_repository_folders(clean_env):
    assert resources.models_dir() == ROOT / "models"
    assert resources.resources_dir() == ROOT / "resources"
    assert (resources.models_dir() / "manifest.toml").is_file()


def test_installed_wheel_finds_the_data_inside_the_package(clean_env, tmp_path):
    package = tmp_path / "site-packages" / "kintsugi"
    _make_layout(package / "_data")
    clean_env.setattr(resources, "_PACKAGE", package)
    assert resources.models_dir() == package / "_data" / "models"
    assert resources.resources_dir() == package / "_data" / "resources"


def test_pyinstaller_bundle_wins_over_the_other_layouts(clean_env, tmp_path):
    bundle = _make_layout(tmp_path / "_internal")
    package = tmp_path / "site-packages" / "kintsugi"
    _make_layout(package / "_data")
    clean_env.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    clean_env.setattr(resources, "_PACKAGE", package)
    assert resources.models_dir() == bundle / "models"


def test_models_dir_override(clean_env, tmp_path):
    clean_env.setenv("KINTSUGI_MODELS_DIR", str(tmp_path))
    assert resources.models_dir() == tmp_path


def test_missing_folder_says_where_it_looked(clean_env, tmp_path):
    clean_env.setattr(resources, "_PACKAGE", tmp_path / "a" / "b" / "kintsugi")
    with pytest.raises(FileNotFoundError, match="looked in .*_data"):
        resources.models_dir()
