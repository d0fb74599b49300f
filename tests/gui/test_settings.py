"""Settings: one JSON file in the per-user config folder, tolerant of damage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gui_helpers import FAST_MODEL

from kintsugi.gui.settings import (
    MAX_RECENT,
    Settings,
    add_recent,
    config_dir,
    load_settings,
    save_settings,
)

pytestmark = pytest.mark.gui


def test_config_dir_follows_the_environment(_config_dir: Path) -> None:
    assert config_dir() == _config_dir


def test_round_trip_and_defaults_for_missing_or_bad_values(_config_dir: Path) -> None:
    settings = Settings(model="realsr-df2k-x4", tile=256, quality=80, recent_files=["/a.png"],
                        batch_recursive=False)
    save_settings(settings)
    assert load_settings() == settings
    path = _config_dir / "settings.json"
    data = json.loads(path.read_text())
    data.update(tile="big", quality=True, unknown_key=1, batch_recursive=0, scale=3)
    path.write_text(json.dumps(data))
    loaded = load_settings()
    assert loaded.tile == 0 and loaded.quality == 95  # wrong types fall back to defaults
    assert loaded.batch_recursive and loaded.model == "realsr-df2k-x4"
    path.write_text("{ not json")
    assert load_settings() == Settings()


def test_recent_files_are_unique_newest_first_and_capped(tmp_path: Path) -> None:
    settings = Settings()
    for i in range(MAX_RECENT + 3):
        add_recent(settings, str(tmp_path / f"{i}.png"))
    add_recent(settings, str(tmp_path / "5.png"))
    assert len(settings.recent_files) == MAX_RECENT
    assert settings.recent_files[0].endswith("5.png")
    assert len(set(settings.recent_files)) == MAX_RECENT


def test_window_state_and_preferences_survive_a_restart_per_photo_choices_do_not(
    qtbot, make_window, photo_path: Path, _config_dir: Path
) -> None:
    from kintsugi.gui.canvas import ViewMode
    from kintsugi.gui.main_window import MainWindow

    window = make_window()
    with qtbot.waitSignal(window.opener.opened, timeout=30_000):
        window.opener.open_path(photo_path)
    panel = window.panel
    panel.select_model("waifu2x-photo-noise1-x2")
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData(4))
    panel.tile_combo.setCurrentIndex(panel.tile_combo.findData(256))
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.consistency_check.setChecked(True)
    panel.save_box.format_combo.setCurrentIndex(panel.save_box.format_combo.findData("WEBP"))
    panel.save_box.quality_spin.setValue(70)
    window.view.set_mode(ViewMode.SIDE_BY_SIDE)
    window.action("deviation").setChecked(True)
    window.resize(760, 560)  # within the offscreen screen (800x600)
    window.close()
    assert (_config_dir / "settings.json").is_file()

    again = MainWindow(models=None, dark=False)
    qtbot.addWidget(again)
    again.show()
    with qtbot.waitSignal(again.models.ready, timeout=120_000):
        again.models.start()
    opts = again.panel.options()
    assert opts.model_id == "waifu2x-photo-noise1-x2"
    assert (opts.tile, opts.device, again.panel.save_box.quality_spin.value()) == (256, "cpu", 70)
    # Chosen for one photo: its size, the lock, the format, the view and the map.
    assert (opts.scale, opts.consistency) == (None, False)
    assert again.panel.save_box.export_options().format == "PNG"
    assert again.canvas.mode() == ViewMode.SPLIT
    assert not again.action("deviation").isChecked()
    assert (again.width(), again.height()) == (760, 560)
    assert again.settings.recent_files == [str(photo_path.resolve())]
    assert again.settings.last_open_dir == str(photo_path.parent)
    assert FAST_MODEL != opts.model_id  # the saved choice won over the fixture's default
